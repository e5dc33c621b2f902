// Agent configuration: YAML file < PROBEFLEET_* environment < command-line flags, validated by one
// zod schema (exported so deploy files can be checked against it). User probes are also run through
// the kprobe grammar here, so a bad probe is refused before anything touches tracefs.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { buildKprobeLine, KprobeDefinitionError } from '@probefleet/tracefs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { TCP_PROBE_EVENT, userProbeDefinition } from './probes';

const Name = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must match [A-Za-z_][A-Za-z0-9_]* (no spaces or control characters)').max(63);

export const ModeSchema = z.enum(['auto', 'kprobe', 'tracepoint']);
export type Mode = z.infer<typeof ModeSchema>;
export const FormatSchema = z.enum(['json', 'text']);
export type Format = z.infer<typeof FormatSchema>;

export const ProbeArgSchema = z.strictObject({
  name: Name,
  fetch: z.string().min(1),
  type: z.string().min(1),
});

export const ProbeConfigSchema = z.strictObject({
  name: Name,
  symbol: z.string().min(1),
  offset: z.number().int().min(0).optional(),
  args: z.array(ProbeArgSchema).default([]),
});
export type ProbeConfig = z.infer<typeof ProbeConfigSchema>;

export const AgentConfigSchema = z
  .strictObject({
    host: z.string().min(1).default(() => hostname()),
    mode: ModeSchema.default('auto'),
    /** tracefs directory override (default: discovered, mounted when absent). */
    tracefs: z.string().min(1).optional(),
    probes: z.array(ProbeConfigSchema).default([]),
    sink: z.enum(['stdout', 'kafka']).default('stdout'),
    format: FormatSchema.default('json'),
    /** Seconds between kprobe_profile / per-cpu stats polls (probe.missed, agent.loss). */
    statsIntervalS: z.number().positive().max(3600).default(1),
    // Later issues (Kafka sink, disk spool): accepted and validated now so deploy files can carry them.
    kafka: z
      .strictObject({
        brokers: z.array(z.string().min(1)).min(1),
        topic: z.string().min(1).default('probefleet.events.v1'),
        clientId: z.string().min(1).default('probefleet-agent'),
        sasl: z
          .strictObject({ mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']), username: z.string(), password: z.string() })
          .optional(),
        ssl: z.boolean().default(false),
      })
      .optional(),
    spool: z.strictObject({ dir: z.string().min(1), maxBytes: z.number().int().positive() }).optional(),
  })
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    cfg.probes.forEach((p, i) => {
      if (p.name === TCP_PROBE_EVENT) ctx.addIssue({ code: 'custom', path: ['probes', i, 'name'], message: `${p.name} is reserved for the agent's own probe` });
      if (seen.has(p.name)) ctx.addIssue({ code: 'custom', path: ['probes', i, 'name'], message: `duplicate probe name ${p.name}` });
      seen.add(p.name);
      try {
        buildKprobeLine(userProbeDefinition(p));
      } catch (e) {
        if (!(e instanceof KprobeDefinitionError)) throw e;
        ctx.addIssue({ code: 'custom', path: ['probes', i, ...grammarPath(e.field)], message: e.message });
      }
    });
  });
export type AgentConfig = z.infer<typeof AgentConfigSchema>;

/** Maps a grammar field (`target`, `args[1].fetch`, `event`) to the config path under probes[i]. */
function grammarPath(field: string): (string | number)[] {
  if (field === 'target') return ['symbol'];
  if (field === 'event') return ['name'];
  const m = /^args\[(\d+)\]\.(\w+)$/.exec(field);
  return m ? ['args', Number(m[1]), m[2] as string] : [field];
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${String(k)}` : String(k)), '');
}

/** Validates a raw config object; throws ConfigError with one `field: message` line per issue. */
export function parseConfig(raw: unknown, source = 'config'): AgentConfig {
  const r = AgentConfigSchema.safeParse(raw ?? {});
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `${formatPath(i.path) || '(root)'}: ${i.message}`);
  throw new ConfigError(`invalid ${source}:\n  ${lines.join('\n  ')}`);
}

/** PROBEFLEET_HOST, PROBEFLEET_MODE, PROBEFLEET_TRACEFS, PROBEFLEET_SINK, PROBEFLEET_FORMAT. */
export function configFromEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of ['host', 'mode', 'tracefs', 'sink', 'format'] as const) {
    const v = env[`PROBEFLEET_${key.toUpperCase()}`];
    if (v !== undefined && v !== '') out[key] = v;
  }
  return out;
}

export interface ConfigSources {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Flags given on the command line (undefined values are ignored). */
  flags?: Record<string, string | undefined>;
}

export function loadConfig(src: ConfigSources): AgentConfig {
  let fromFile: unknown = {};
  if (src.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(src.file, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read config ${src.file}: ${(e as Error).message}`);
    }
    try {
      fromFile = parseYaml(text) ?? {};
    } catch (e) {
      throw new ConfigError(`config ${src.file} is not valid YAML: ${(e as Error).message}`);
    }
    if (typeof fromFile !== 'object' || Array.isArray(fromFile)) throw new ConfigError(`config ${src.file}: expected a mapping at the top level`);
  }
  const flags = Object.fromEntries(Object.entries(src.flags ?? {}).filter(([, v]) => v !== undefined));
  return parseConfig({ ...(fromFile as object), ...configFromEnv(src.env ?? {}), ...flags }, src.file ?? 'config');
}
