import { z } from 'zod';
import {
  fitsKernelText,
  fitsUtf8,
  MAX_AGENT_VERSION_BYTES,
  MAX_CGROUP_BYTES,
  MAX_CONTAINER_ID_BYTES,
  MAX_POD_NAME_BYTES,
  MAX_POD_NAMESPACE_BYTES,
  MAX_ARCH_BYTES,
  MAX_ARG_NAME_LEN,
  MAX_CAPABILITIES,
  MAX_CAPABILITY_LEN,
  MAX_COMM_BYTES,
  MAX_COUNTER_NAME_LEN,
  MAX_COUNTERS,
  MAX_DEFINITION_LEN,
  MAX_HOST_BYTES,
  MAX_KERNEL_RELEASE_BYTES,
  MAX_PROBE_NAME_LEN,
  MAX_REASON_BYTES,
  MAX_STRING_ARG_BYTES,
  MAX_SYMBOL_LEN,
  MAX_TRACE_ARGS,
} from './limits';
import { HexAddressSchema } from './tcp';

/** The only envelope version this library reads and writes. */
export const EVENT_VERSION = 1;

// Patterns shared by the zod schemas and the probe.hit fast path (codec.ts), so both accept the same.
/** RFC 3339 UTC with exactly nine fractional digits: one spelling per instant, sortable as text. */
export const TIME_PATTERN = /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{9}Z$/;
/** Lowercase UUID (what the kernel's boot_id and crypto.randomUUID produce), so a stream has one key. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Unsigned decimal without leading zeros: nanoseconds exceed 2^53, so they travel as text. */
export const DECIMAL_PATTERN = /^(?:0|[1-9]\d*)$/;
/** The store keeps monoNs as a bigint: the trace clock's u64 is bounded by its signed maximum (292 years). */
export const MAX_MONO_NS = '9223372036854775807';

/** DECIMAL_PATTERN within MAX_MONO_NS (equal lengths compare as numbers do). */
export function isMonoNs(s: string): boolean {
  return DECIMAL_PATTERN.test(s) && (s.length < MAX_MONO_NS.length || (s.length === MAX_MONO_NS.length && s <= MAX_MONO_NS));
}

const Count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** The store keeps cpu as a smallint and pid as an integer (Linux: NR_CPUS ≤ 8192, pid_max ≤ 2^22). */
export const MAX_CPU = 32767;
export const MAX_PID = 2147483647;
const Cpu = z.number().int().min(0).max(MAX_CPU);
const Pid = z.number().int().min(0).max(MAX_PID);

/** Non-empty text of at most `max` bytes in UTF-8 (limits.ts says where each bound comes from). */
const text = (max: number) => z.string().min(1).refine((s) => fitsUtf8(s, max), `longer than ${max} bytes in UTF-8`);
/** Text the agent decoded from a kernel buffer of `max` bytes (each invalid byte became one U+FFFD). */
const kernelText = (max: number) => z.string().refine((s) => fitsKernelText(s, max), `longer than the kernel's ${max} bytes`);
const ProbeName = text(MAX_PROBE_NAME_LEN);

export const ProbeKindSchema = z.enum(['kprobe', 'kretprobe', 'tracepoint']);
export type ProbeKind = z.infer<typeof ProbeKindSchema>;

/**
 * Context flags of a trace line (ftrace's latency field, e.g. "d.s1."): irqs disabled, need-resched,
 * the interrupt context the probe fired in (a hardirq inside a softirq sets both), preempt depth.
 */
export const HitContextSchema = z.strictObject({
  irqsOff: z.boolean(),
  needResched: z.boolean(),
  hardirq: z.boolean(),
  softirq: z.boolean(),
  nmi: z.boolean(),
  preemptDepth: z.number().int().min(0).max(255),
});
export type HitContext = z.infer<typeof HitContextSchema>;

/** Fetched arguments of a hit by name; TCP hits hold exactly `TcpArgs` (see tcp.ts). */
export const HitArgValueSchema = z.union([kernelText(MAX_STRING_ARG_BYTES), z.number(), z.boolean(), z.null()]);
export type HitArgValue = z.infer<typeof HitArgValueSchema>;

export const AgentStartedDataSchema = z.strictObject({
  kernelRelease: text(MAX_KERNEL_RELEASE_BYTES),
  /** As the kernel spells it (`uname -m`): "x86_64", not Node's "x64". */
  arch: text(MAX_ARCH_BYTES),
  agentVersion: text(MAX_AGENT_VERSION_BYTES),
  mode: z.enum(['kprobe', 'tracepoint']),
  /** What discovery found, e.g. "kprobe_events", "btf", "tracepoint:sock:inet_sock_set_state". */
  capabilities: z.array(text(MAX_CAPABILITY_LEN)).max(MAX_CAPABILITIES),
});

export const AgentHeartbeatDataSchema = z.strictObject({
  /** Monotonic counters of the agent since its start, by name (e.g. "eventsRead", "spoolBytes"). */
  counters: z
    .record(text(MAX_COUNTER_NAME_LEN), Count)
    .refine((c) => Object.keys(c).length <= MAX_COUNTERS, `more than ${MAX_COUNTERS} counters`),
});

export const AgentStoppedDataSchema = z.strictObject({
  reason: text(MAX_REASON_BYTES),
});

export const AgentLossDataSchema = z.strictObject({
  /** Kernel ring-buffer overruns per cpu since the previous agent.loss of the stream (so they add up). */
  overruns: z.array(z.strictObject({ cpu: Cpu, count: Count })).min(1).max(MAX_CPU + 1),
});

export const ProbeRegisteredDataSchema = z
  .strictObject({
    probe: ProbeName,
    kind: ProbeKindSchema,
    /** Kernel function for kprobes; "group:event" for tracepoints. */
    symbol: text(MAX_SYMBOL_LEN),
    /** Offset into the function (the store keeps an integer). */
    offset: z.number().int().min(0).max(2147483647),
    /** Resolved address, absent when the agent cannot read kallsyms. */
    address: HexAddressSchema.optional(),
    /** Original instruction bytes at `address` (saved by the kernel before arming), lowercase hex. */
    insn: z
      .string()
      .regex(/^(?:[0-9a-f]{2}){1,15}$/, 'expected 1 to 15 instruction bytes as lowercase hex')
      .optional(),
    /** The exact line written to kprobe_events. */
    definition: text(MAX_DEFINITION_LEN).optional(),
    /**
     * The kprobe has a post_handler (a kernel module's kprobe; trace kprobes never have one): the
     * optimizer then leaves it an int3, as the post_handler needs the single-step.
     */
    postHandler: z.boolean().optional(),
  })
  .superRefine((data, ctx) => {
    if (data.kind === 'tracepoint') {
      for (const field of ['address', 'insn'] as const) {
        if (data[field] !== undefined) {
          ctx.addIssue({ code: 'custom', path: [field], message: 'a tracepoint has no kernel text address' });
        }
      }
    } else if (data.insn !== undefined && data.address === undefined) {
      ctx.addIssue({ code: 'custom', path: ['insn'], message: 'insn needs the address it was saved from' });
    }
  });

// The owner of a TCP hit's socket (libs/ownership says how the agent learns it).
/**
 * direct: the hit ran in the owning task's process context, in a syscall only that task makes on
 * the socket (connect, listen, close, shutdown). socket: the owner was learned earlier for this
 * socket, or for the listener it was accepted from. unknown: never learned (no owner is sent).
 */
export const ATTRIBUTIONS = ['direct', 'socket', 'unknown'] as const;
export type Attribution = (typeof ATTRIBUTIONS)[number];
export const AttributionSchema = z.enum(ATTRIBUTIONS);

/**
 * What started the container, from its cgroup path: `cri` is a kubepods path in cgroupfs layout,
 * which names the container but not its runtime; `systemd` a service (the id is its unit name).
 */
export const CONTAINER_RUNTIMES = ['docker', 'containerd', 'cri-o', 'podman', 'cri', 'systemd'] as const;
export type ContainerRuntime = (typeof CONTAINER_RUNTIMES)[number];

export const ContainerSchema = z.strictObject({ id: text(MAX_CONTAINER_ID_BYTES), runtime: z.enum(CONTAINER_RUNTIMES) });
export type Container = z.infer<typeof ContainerSchema>;

/** The uid is in the cgroup path; namespace and name only where the node shows them (omitted else). */
export const PodSchema = z.strictObject({
  namespace: text(MAX_POD_NAMESPACE_BYTES).optional(),
  name: text(MAX_POD_NAME_BYTES).optional(),
  uid: z.string().regex(UUID_PATTERN, 'expected a lowercase UUID'),
});
export type Pod = z.infer<typeof PodSchema>;

export const OwnerSchema = z.strictObject({
  /** The process (thread group id), not the thread the kernel reported. */
  pid: z.number().int().min(1).max(MAX_PID),
  /** The owning thread's comm, kernel bytes (TASK_COMM_LEN). */
  comm: kernelText(MAX_COMM_BYTES),
  /** The most specific cgroup path (libs/ownership); '' when the process had exited before it was read. */
  cgroup: kernelText(MAX_CGROUP_BYTES),
  container: ContainerSchema.optional(),
  pod: PodSchema.optional(),
});
export type Owner = z.infer<typeof OwnerSchema>;

/**
 * tcplife's counters of a socket at TCP_CLOSE (kprobe mode, from struct tcp_sock): bytes acked (TX),
 * bytes received (RX), total retransmits, smoothed RTT in µs (srtt_us >> 3).
 */
const counter = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const LifeSchema = z.strictObject({ txBytes: counter, rxBytes: counter, retrans: counter, srttUs: z.number().int().min(0).max(2 ** 31 - 1) });
export type Life = z.infer<typeof LifeSchema>;

const ProbeRefSchema = z.strictObject({ probe: ProbeName });

/**
 * How the kernel armed a kprobe, as /sys/kernel/debug/kprobes/list shows it: `[FTRACE]` (the
 * function's `call __fentry__` site patched to the ftrace trampoline), `[OPTIMIZED]` (a jmp to a
 * detour buffer) or neither (an int3).
 */
export const MechanismSchema = z.enum(['int3', 'ftrace', 'optimized']);
export type Mechanism = z.infer<typeof MechanismSchema>;

export const ProbeArmedDataSchema = z.strictObject({
  probe: ProbeName,
  /** From kprobes/list after arming; absent for tracepoints and where debugfs cannot be read. */
  mechanism: MechanismSchema.optional(),
  /** The address the kernel really probes (kprobes/list), after its IBT endbr64 adjustment. */
  address: HexAddressSchema.optional(),
});

/** A later change of a kprobe as kprobes/list shows it (the whole current view, not a delta). */
export const ProbeStateDataSchema = z.strictObject({
  probe: ProbeName,
  mechanism: MechanismSchema,
  /** `[DISABLED]`: the kprobe is registered but not armed. */
  disabled: z.boolean(),
  /** `[GONE]`: the probed text went away (its module unloaded). */
  gone: z.boolean(),
});

export const ProbeHitDataSchema = z.strictObject({
  probe: ProbeName,
  cpu: Cpu,
  pid: Pid,
  /** The kernel's task comm, or the agent's `<idle>` / `<...>` when the kernel has no name. */
  comm: kernelText(MAX_COMM_BYTES),
  ctx: HitContextSchema.optional(),
  args: z
    .record(text(MAX_ARG_NAME_LEN), HitArgValueSchema)
    .refine((a) => Object.keys(a).length <= MAX_TRACE_ARGS, `more than ${MAX_TRACE_ARGS} args`),
  /** TCP hits entering TCP_CLOSE in kprobe mode: tcplife's counters. */
  life: LifeSchema.optional(),
  /** TCP hits: the socket's owner, present exactly when `attribution` is not unknown. */
  owner: OwnerSchema.optional(),
  attribution: AttributionSchema.optional(),
}).superRefine((d, ctx) => {
  if (d.owner !== undefined && (d.attribution === undefined || d.attribution === 'unknown')) {
    ctx.addIssue({ code: 'custom', path: ['attribution'], message: 'an owner needs attribution direct or socket' });
  } else if (d.owner === undefined && d.attribution !== undefined && d.attribution !== 'unknown') {
    ctx.addIssue({ code: 'custom', path: ['owner'], message: `attribution ${d.attribution} needs an owner` });
  }
});

export const ProbeMissedDataSchema = z.strictObject({
  probe: ProbeName,
  /** Misses since the previous report (kprobe_profile's nmissed is cumulative; the agent sends deltas). */
  count: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
});

/** The data schema of every event type. */
export const DATA_SCHEMAS = {
  'agent.started': AgentStartedDataSchema,
  'agent.heartbeat': AgentHeartbeatDataSchema,
  'agent.stopped': AgentStoppedDataSchema,
  'agent.loss': AgentLossDataSchema,
  'probe.registered': ProbeRegisteredDataSchema,
  'probe.armed': ProbeArmedDataSchema,
  'probe.disarmed': ProbeRefSchema,
  'probe.unregistered': ProbeRefSchema,
  'probe.hit': ProbeHitDataSchema,
  'probe.missed': ProbeMissedDataSchema,
  'probe.state': ProbeStateDataSchema,
} as const;

export type EventType = keyof typeof DATA_SCHEMAS;
export const EVENT_TYPES = Object.keys(DATA_SCHEMAS) as EventType[];

export function isEventType(value: string): value is EventType {
  return Object.prototype.hasOwnProperty.call(DATA_SCHEMAS, value);
}

const envelopeShape = {
  v: z.literal(EVENT_VERSION),
  host: text(MAX_HOST_BYTES),
  bootId: z.string().regex(UUID_PATTERN, 'expected a lowercase UUID'),
  instance: z.string().regex(UUID_PATTERN, 'expected a lowercase UUID'),
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  time: z.string().regex(TIME_PATTERN, 'expected RFC 3339 UTC with nanoseconds, e.g. 2026-11-25T19:52:23.123456789Z'),
  /** Trace clock in nanoseconds as a decimal string (exceeds 2^53, so not a JSON number). */
  monoNs: z
    .string()
    .regex(DECIMAL_PATTERN, 'expected nanoseconds as a decimal string')
    .refine(isMonoNs, `above ${MAX_MONO_NS}, the store's bigint`)
    .optional(),
};

function envelopeOf<T extends EventType>(type: T) {
  return z.strictObject({ ...envelopeShape, type: z.literal(type), data: DATA_SCHEMAS[type] });
}

/** The full event schema of every type (envelope + data). */
export const EVENT_SCHEMAS = {
  'agent.started': envelopeOf('agent.started'),
  'agent.heartbeat': envelopeOf('agent.heartbeat'),
  'agent.stopped': envelopeOf('agent.stopped'),
  'agent.loss': envelopeOf('agent.loss'),
  'probe.registered': envelopeOf('probe.registered'),
  'probe.armed': envelopeOf('probe.armed'),
  'probe.disarmed': envelopeOf('probe.disarmed'),
  'probe.unregistered': envelopeOf('probe.unregistered'),
  'probe.hit': envelopeOf('probe.hit'),
  'probe.missed': envelopeOf('probe.missed'),
  'probe.state': envelopeOf('probe.state'),
} as const;

export const EventSchema = z.discriminatedUnion('type', Object.values(EVENT_SCHEMAS) as [
  (typeof EVENT_SCHEMAS)[EventType],
  ...(typeof EVENT_SCHEMAS)[EventType][],
]);

export type Event = z.infer<typeof EventSchema>;
export type EventOf<T extends EventType> = Extract<Event, { type: T }>;
export type EventData<T extends EventType> = EventOf<T>['data'];
/** The envelope fields shared by every event. */
export type Envelope = Omit<Event, 'type' | 'data'>;
