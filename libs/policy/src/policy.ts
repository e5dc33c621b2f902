// A fleet-wide probe policy: what to register and filter (a probe set, the same grammar as the
// agent's config), and on which hosts (a selector). One validation, used by the aggregator's API
// (before anything is stored or published) and by every agent again (before anything is written).
import { MAX_POLICY_BYTES, POLICY_NAME_PATTERN } from '@probefleet/events';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { FilterConfigSchema } from './filter-config';
import { ProbeConfigSchema } from './probe-config';
import { checkProbeSet, TracepointConfigSchema } from './probe-set';
import { SelectorSchema } from './selector';

/** The compacted control topic: key = policy name, value = PolicyRecord, a tombstone on delete. */
export const POLICY_TOPIC = 'probefleet.policies.v1';

export const PolicyNameSchema = z.string().regex(POLICY_NAME_PATTERN, 'expected 1..63 of [a-z0-9._-], starting and ending with a letter or digit');

export const PolicySpecSchema = z
  .strictObject({
    description: z.string().max(512).regex(/^[^\x00-\x1f\x7f]*$/, 'no control characters').optional(),
    selector: SelectorSchema.default({}),
    probes: z.array(ProbeConfigSchema).max(32).default([]),
    tracepoints: z.array(TracepointConfigSchema).max(32).default([]),
    filter: FilterConfigSchema.optional(),
  })
  .superRefine((p, ctx) => {
    checkProbeSet(p, ctx);
    if (Buffer.byteLength(JSON.stringify(p)) > MAX_POLICY_BYTES) ctx.addIssue({ code: 'custom', path: [], message: `longer than ${MAX_POLICY_BYTES} bytes as JSON` });
    if (p.probes.length === 0 && p.tracepoints.length === 0 && p.filter === undefined) {
      ctx.addIssue({ code: 'custom', path: [], message: 'a policy needs probes, tracepoints or a filter' });
    }
  });
export type PolicySpec = z.output<typeof PolicySpecSchema>;

/** A policy at one version, as the store keeps it and the control topic carries it. */
export interface PolicyRecord {
  name: string;
  version: number;
  spec: PolicySpec;
}

export const PolicyRecordSchema = z.strictObject({
  name: PolicyNameSchema,
  version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  spec: PolicySpecSchema,
});

export interface PolicyIssue {
  /** The field, dotted (`probes[0].args[1].fetch`); '' for the policy as a whole. */
  field: string;
  message: string;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; issues: PolicyIssue[] };

export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${String(k)}` : String(k)), '');
}

function checked<T>(r: z.ZodSafeParseResult<T>, prefix: (string | number)[] = []): Checked<T> {
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, issues: r.error.issues.map((i) => ({ field: formatPath([...prefix, ...i.path]), message: i.message })) };
}

export const formatIssues = (issues: readonly PolicyIssue[]): string => issues.map((i) => `${i.field || '(policy)'}: ${i.message}`).join('; ');

export function checkPolicySpec(raw: unknown): Checked<PolicySpec> {
  return checked(PolicySpecSchema.safeParse(raw));
}

export function checkPolicyName(name: string): Checked<string> {
  return checked(PolicyNameSchema.safeParse(name), ['name']);
}

export function checkPolicyRecord(raw: unknown): Checked<PolicyRecord> {
  return checked(PolicyRecordSchema.safeParse(raw));
}

/**
 * A policy document (JSON or YAML: YAML is a superset): its spec, and the name when it carries one
 * (`name:` at the top, as `probefleet policy apply -f` files do).
 */
export function parsePolicyText(text: string): Checked<{ name?: string; spec: PolicySpec }> {
  let raw: unknown;
  try {
    raw = parseYaml(text, { maxAliasCount: 16 });
  } catch (e) {
    return { ok: false, issues: [{ field: '', message: `not JSON or YAML: ${(e as Error).message.split('\n')[0]}` }] };
  }
  return splitName(raw);
}

/** A policy object that may carry its name beside the spec. */
export function splitName(raw: unknown): Checked<{ name?: string; spec: PolicySpec }> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, issues: [{ field: '', message: 'expected a mapping' }] };
  const { name, ...rest } = raw as Record<string, unknown>;
  if (name !== undefined) {
    const n = typeof name === 'string' ? checkPolicyName(name) : { ok: false as const, issues: [{ field: 'name', message: 'expected a string' }] };
    if (!n.ok) return n;
  }
  const spec = checkPolicySpec(rest);
  if (!spec.ok) return spec;
  return { ok: true, value: { ...(name !== undefined ? { name: name as string } : {}), spec: spec.value } };
}

/** The control topic's value for a policy (UTF-8 JSON). */
export const encodePolicyRecord = (r: PolicyRecord): Buffer => Buffer.from(JSON.stringify(r));

/** A control topic message back to a record; null value = the policy was deleted. */
export function decodePolicyMessage(key: Buffer | null, value: Buffer | null): Checked<{ name: string; record: PolicyRecord | null }> {
  const name = key?.toString('utf8') ?? '';
  const n = checkPolicyName(name);
  if (!n.ok) return n;
  if (value === null || value.length === 0) return { ok: true, value: { name, record: null } };
  let raw: unknown;
  try {
    raw = JSON.parse(value.toString('utf8'));
  } catch {
    return { ok: false, issues: [{ field: '', message: 'value is not JSON' }] };
  }
  const r = checkPolicyRecord(raw);
  if (!r.ok) return r;
  if (r.value.name !== name) return { ok: false, issues: [{ field: 'name', message: `the value names ${r.value.name}, the key ${name}` }] };
  return { ok: true, value: { name, record: r.value } };
}
