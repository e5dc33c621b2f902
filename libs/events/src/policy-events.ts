// Fleet policies as events. The aggregator writes policy.put / policy.deleted (each change, with the
// policy's version) in its control stream, never an agent: the store refuses them from Kafka. Each
// agent reports policy.applied / policy.rejected / policy.removed in its own stream. A policy's
// content is validated by libs/policy (which depends on this contract, not the other way round).
import { z } from 'zod';
import { fitsUtf8, MAX_DEFINITION_LEN, MAX_PROBE_NAME_LEN, MAX_REASON_BYTES } from './limits';

/** 1..63 of [a-z0-9._-], a letter or digit at both ends: a Kafka key and a URL segment as it is. */
export const POLICY_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?$/;
/** The labels an agent declares (its config's `labels:`, sent in agent.started), for policy selectors. */
export const LABEL_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,62}$/;
export const LABEL_VALUE_PATTERN = /^[A-Za-z0-9_.-]{0,63}$/;
export const MAX_LABELS = 64;
// zod drops an own `__proto__` key from a record without a word (against prototype pollution), so a
// label under that key would vanish silently: it is refused by name instead.
const NO_PROTO_KEY = z.custom<unknown>((v) => typeof v !== 'object' || v === null || !Object.hasOwn(v, '__proto__'), '__proto__ is not a label key');
export const LabelsSchema = NO_PROTO_KEY.pipe(
  z.record(z.string().regex(LABEL_KEY_PATTERN, 'must match [A-Za-z_][A-Za-z0-9_.-]{0,62}'), z.string().regex(LABEL_VALUE_PATTERN, 'must match [A-Za-z0-9_.-]{0,63}')),
).refine((l) => Object.keys(l).length <= MAX_LABELS, `more than ${MAX_LABELS} labels`);
export type Labels = z.infer<typeof LabelsSchema>;

/** A policy's JSON is bounded well below a Kafka message (the control topic carries it whole). */
export const MAX_POLICY_BYTES = 64 * 1024;
/** Probes, tracepoints and filtered events of one policy. */
export const MAX_POLICY_DEFINITIONS = 64;

/** The aggregator's control stream: `host` has a slash, which no agent's host name has. */
export const CONTROL_STREAM = { host: 'probefleet/policies', bootId: '00000000-0000-4000-8000-000000000000', instance: '00000000-0000-4000-8000-000000000001' } as const;
export const CONTROL_EVENT_TYPES: readonly string[] = ['policy.put', 'policy.deleted'];

const text = (max: number) => z.string().min(1).refine((s) => fitsUtf8(s, max), `longer than ${max} bytes in UTF-8`);
const ref = { policy: z.string().regex(POLICY_NAME_PATTERN, 'expected a policy name'), version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER) };

export const PolicyPutDataSchema = z.strictObject({
  ...ref,
  /** The policy as libs/policy validated it (PolicySpec). */
  spec: z.record(z.string(), z.unknown()).refine((s) => fitsUtf8(JSON.stringify(s), MAX_POLICY_BYTES), `longer than ${MAX_POLICY_BYTES} bytes as JSON`),
});

export const PolicyRefDataSchema = z.strictObject(ref);

export const PolicyAppliedDataSchema = z.strictObject({
  ...ref,
  /** The lines written to kprobe_events. */
  definitions: z.array(text(MAX_DEFINITION_LEN)).max(MAX_POLICY_DEFINITIONS),
  /** The filter now in each event's filter file (the policies' and the config's, joined). */
  filters: z.array(z.strictObject({ event: text(MAX_PROBE_NAME_LEN), filter: text(MAX_DEFINITION_LEN) })).max(MAX_POLICY_DEFINITIONS),
});

/** Why an agent refused a control topic record before reading it (libs/signature POLICY_REFUSALS). */
export const POLICY_REFUSALS = ['unsigned', 'foreign-key', 'bad-signature', 'malformed', 'replayed'] as const;

export const PolicyRejectedDataSchema = z.strictObject({
  policy: ref.policy,
  /**
   * The version refused; absent when the record was refused unverified (`refused`): its claimed
   * version is not the aggregator's, so it never stands for the host's status of the policy.
   */
  version: ref.version.optional(),
  /** Set when the record was refused for its signature or version (not applied, not read). */
  refused: z.enum(POLICY_REFUSALS).optional(),
  reason: text(MAX_REASON_BYTES),
  /** What the agent wrote when the kernel refused it, and the kernel's error_log message. */
  line: text(MAX_DEFINITION_LEN).optional(),
  kernel: text(MAX_REASON_BYTES).optional(),
});

export const POLICY_DATA_SCHEMAS = {
  'policy.put': PolicyPutDataSchema,
  'policy.deleted': PolicyRefDataSchema,
  'policy.applied': PolicyAppliedDataSchema,
  'policy.rejected': PolicyRejectedDataSchema,
  'policy.removed': PolicyRefDataSchema,
} as const;
