// Agent configuration: YAML file < PROBEFLEET_* environment < command-line flags, validated by one
// zod schema (exported so deploy files can be checked against it). User probes and filters are the
// policies' grammar (libs/policy): checked here, so a bad probe is refused before anything touches tracefs.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { AGENT_BATCH_BYTES, AGENT_LINGER_MS, LabelsSchema } from '@probefleet/events';
import { checkProbeSet, FilterConfigSchema, formatPath, POLICY_TOPIC, ProbeConfigSchema } from '@probefleet/policy';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

export const ModeSchema = z.enum(['auto', 'kprobe', 'tracepoint']);
export type Mode = z.infer<typeof ModeSchema>;
export const FormatSchema = z.enum(['json', 'text']);
export type Format = z.infer<typeof FormatSchema>;

const KafkaSchema = z.strictObject({
  brokers: z.array(z.string().min(1)).min(1),
  topic: z.string().min(1).default('probefleet.events.v1'),
  clientId: z.string().min(1).default('probefleet-agent'),
  sasl: z
    .strictObject({ mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']), username: z.string(), password: z.string() })
    .optional(),
  /** true: TLS with the system CAs; or PEM files for a private CA / client certificates. */
  ssl: z
    .union([
      z.boolean(),
      z.strictObject({ caFile: z.string().min(1).optional(), certFile: z.string().min(1).optional(), keyFile: z.string().min(1).optional(), rejectUnauthorized: z.boolean().default(true) }),
    ])
    .default(false),
  /** A Kafka message carries at most about this many bytes of events (the broker's default limit is 1 MiB). */
  batchBytes: z.number().int().min(1024).max(900 * 1024).default(AGENT_BATCH_BYTES),
  /** How long a batch may wait to fill up before it is sent. */
  lingerMs: z.number().int().min(0).max(10_000).default(AGENT_LINGER_MS),
  /** On a clean exit, how long to wait for the broker to ack what is spooled (the rest stays spooled). */
  flushTimeoutS: z.number().positive().max(600).default(10),
  /** Backoff between send attempts while the broker is unreachable. */
  retry: z
    .strictObject({ initialMs: z.number().int().min(10).default(300), maxMs: z.number().int().min(10).default(10_000) })
    .default({ initialMs: 300, maxMs: 10_000 }),
});
export type KafkaConfig = z.infer<typeof KafkaSchema>;

const SpoolSchema = z.strictObject({
  dir: z.string().min(1).default('/var/lib/probefleet/spool'),
  /** Unacked bytes at which the agent stops reading the trace pipe. */
  maxBytes: z.number().int().min(4096).default(256 << 20),
  segmentBytes: z.number().int().min(4096).default(16 << 20),
  fsync: z.enum(['always', 'batch', 'never']).default('batch'),
});
export type SpoolConfig = z.infer<typeof SpoolSchema>;

/** Where the agent's signing key lives (config identity.keyFile, else in the spool directory). */
export const identityKeyFile = (cfg: { identity: { keyFile?: string | undefined }; spool: { dir: string } }): string =>
  cfg.identity.keyFile ?? join(cfg.spool.dir, 'identity.key');

export const AgentConfigSchema = z
  .strictObject({
    host: z.string().min(1).default(() => hostname()),
    mode: ModeSchema.default('auto'),
    /** tracefs directory override (default: discovered, mounted when absent). */
    tracefs: z.string().min(1).optional(),
    probes: z.array(ProbeConfigSchema).default([]),
    /** In-kernel filters (libs/policy filter-config.ts): transitions outside them never reach user space. */
    filter: FilterConfigSchema.optional(),
    /** What this host declares about itself, for the selectors of fleet policies (libs/policy). */
    labels: LabelsSchema.default({}),
    /**
     * Fleet policies (opt-in: they register kprobes on this host): the control topic followed with the
     * kafka sink, and the set last cached in the spool directory. Only records signed by the
     * aggregator's key are applied: publicKeyFile holds its public key (SPKI PEM, `probefleet policy
     * keygen`'s FILE.pub; several PEM blocks during a key rotation), required when enabled.
     */
    policies: z
      .strictObject({ enabled: z.boolean().default(false), topic: z.string().min(1).default(POLICY_TOPIC), publicKeyFile: z.string().min(1).optional() })
      .default({ enabled: false, topic: POLICY_TOPIC }),
    sink: z.enum(['stdout', 'kafka']).default('kafka'),
    format: FormatSchema.default('json'),
    /** Seconds between kprobe_profile / per-cpu stats polls (probe.missed, agent.loss). */
    statsIntervalS: z.number().positive().max(3600).default(1),
    /** Seconds between agent.heartbeat events. */
    heartbeatIntervalS: z.number().positive().max(3600).default(30),
    /** Per-cpu ring buffer size of the agent's tracing instances (kernel default when absent). */
    bufferSizeKb: z.number().int().min(1).optional(),
    /** Required by `run` with the kafka sink (checked there, so doctor/cleanup work without it). */
    kafka: KafkaSchema.optional(),
    spool: SpoolSchema.default(() => SpoolSchema.parse({})),
    /** The owner of each socket (libs/ownership): where pod names are read, how many sockets are remembered. */
    ownership: z
      .strictObject({
        /** false: TCP hits carry no owner or attribution (as before attribution existed). */
        enabled: z.boolean().default(true),
        podsDir: z.string().min(1).default('/var/log/pods'),
        maxSockets: z.number().int().min(16).default(65536),
      })
      .default({ enabled: true, podsDir: '/var/log/pods', maxSockets: 65536 }),
    /**
     * The agent's Ed25519 key (PKCS#8 PEM, 0600), made on first start; every Kafka message is signed
     * with it. Default: identity.key in the spool directory (the agent's state, kept across restarts).
     * sign: false sends unsigned messages, for aggregators that run AGENT_IDENTITY=off (those with
     * tofu or strict dead-letter them as bad-signature).
     */
    identity: z.strictObject({ keyFile: z.string().min(1).optional(), sign: z.boolean().default(true) }).default({ sign: true }),
    /** Prometheus /metrics and /healthz; port 0 disables. */
    metrics: z
      .strictObject({ host: z.string().min(1).default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(9464) })
      .default({ host: '127.0.0.1', port: 9464 }),
  })
  .superRefine((cfg, ctx) => {
    checkProbeSet(cfg, ctx);
    if (cfg.policies.enabled && cfg.policies.publicKeyFile === undefined) {
      ctx.addIssue({ code: 'custom', path: ['policies', 'publicKeyFile'], message: "required when policies.enabled is true: the aggregator's policy signing public key (probefleet policy keygen FILE writes FILE.pub); unsigned policies are never applied" });
    }
  });
export type AgentConfig = z.infer<typeof AgentConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates a raw config object; throws ConfigError with one `field: message` line per issue. */
export function parseConfig(raw: unknown, source = 'config'): AgentConfig {
  const r = AgentConfigSchema.safeParse(raw ?? {});
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `${formatPath(i.path) || '(root)'}: ${i.message}`);
  throw new ConfigError(`invalid ${source}:\n  ${lines.join('\n  ')}`);
}

const ENV_TOP = ['host', 'mode', 'tracefs', 'sink', 'format'] as const;
// Nested keys: [section, key, variable suffix, how the text becomes the value].
const ENV_NESTED: [string, string, string, (v: string) => unknown][] = [
  ['kafka', 'brokers', 'KAFKA_BROKERS', (v) => v.split(',').map((b) => b.trim()).filter((b) => b !== '')],
  ['kafka', 'topic', 'KAFKA_TOPIC', String],
  ['kafka', 'clientId', 'KAFKA_CLIENT_ID', String],
  ['kafka', 'ssl', 'KAFKA_SSL', (v) => (v === 'true' ? true : v === 'false' ? false : v)],
  ['spool', 'dir', 'SPOOL_DIR', String],
  ['spool', 'maxBytes', 'SPOOL_MAX_BYTES', Number],
  ['spool', 'fsync', 'SPOOL_FSYNC', String],
  ['metrics', 'port', 'METRICS_PORT', Number],
  ['policies', 'enabled', 'POLICIES_ENABLED', (v) => (v === 'true' ? true : v === 'false' ? false : v)],
  ['policies', 'topic', 'POLICIES_TOPIC', String],
  ['policies', 'publicKeyFile', 'POLICIES_PUBLIC_KEY_FILE', String],
];

/**
 * PROBEFLEET_HOST|MODE|TRACEFS|SINK|FORMAT, PROBEFLEET_KAFKA_BROKERS (comma-separated)|TOPIC|CLIENT_ID|SSL,
 * PROBEFLEET_KAFKA_SASL_MECHANISM|USERNAME|PASSWORD, PROBEFLEET_SPOOL_DIR|MAX_BYTES|FSYNC, PROBEFLEET_METRICS_PORT,
 * PROBEFLEET_POLICIES_ENABLED (true|false)|TOPIC|PUBLIC_KEY_FILE.
 */
export function configFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const get = (name: string) => (env[`PROBEFLEET_${name}`] === '' ? undefined : env[`PROBEFLEET_${name}`]);
  for (const key of ENV_TOP) {
    const v = get(key.toUpperCase());
    if (v !== undefined) out[key] = v;
  }
  const section = (name: string) => (out[name] ??= {}) as Record<string, unknown>;
  for (const [sec, key, name, convert] of ENV_NESTED) {
    const v = get(name);
    if (v !== undefined) section(sec)[key] = convert(v);
  }
  const mechanism = get('KAFKA_SASL_MECHANISM');
  if (mechanism !== undefined) {
    section('kafka')['sasl'] = { mechanism, username: get('KAFKA_SASL_USERNAME') ?? '', password: get('KAFKA_SASL_PASSWORD') ?? '' };
  }
  return out;
}

/** Later sources win; the sections (kafka, spool, metrics) are merged key by key. */
function mergeSources(...sources: Record<string, unknown>[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const src of sources) {
    for (const [k, v] of Object.entries(src)) {
      const prev = out[k];
      const mergeable = (x: unknown) => typeof x === 'object' && x !== null && !Array.isArray(x);
      out[k] = mergeable(prev) && mergeable(v) ? { ...(prev as object), ...(v as object) } : v;
    }
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
  return parseConfig(mergeSources(fromFile as Record<string, unknown>, configFromEnv(src.env ?? {}), flags), src.file ?? 'config');
}
