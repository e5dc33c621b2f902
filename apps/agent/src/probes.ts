// The probes of a run, as values: each has its definition, how it registers and unregisters, its
// in-kernel filter, and the decoder of its raw records (straight to the hit's args). Mode decides
// which probes exist here, once: the tcp_set_state kprobe (offsets from BTF), the inet_csk_accept
// kretprobe when ownership is on, plus the user's kprobes, all in one group so cleanup can find
// them; or the sock:inet_sock_set_state tracepoint. Planning is pure (it validates and renders, and
// writes nothing).
import type { EventData, HitArgValue, HitEncoder, TcpArgs } from '@probefleet/events';
import { ACCEPT_PROBE_EVENT, PROBE_GROUP, TCP_PROBE_EVENT, TCP_TRACEPOINT } from '@probefleet/events';
import {
  buildKprobeLine,
  portFromBe16,
  fieldsDecoder,
  inetSockSetStateDecoder,
  sockCommonLayout,
  tcpSetStateDecoder,
  tcpSetStateProbe,
  tcpSockLayout,
  type Btf,
  type SockCommonLayout,
  type DecoderFactory,
  type KprobeDefinition,
  type RawValue,
  type Tracefs,
} from '@probefleet/tracefs';
import { eventFilters, filterLine, tcpFilter, userProbeDefinition, type FilterConfig, type ProbeConfig } from '@probefleet/policy';
import { argConverter } from './hit';

export { ACCEPT_PROBE_EVENT, PROBE_GROUP, TCP_PROBE_EVENT, TCP_TRACEPOINT } from '@probefleet/events';

export type RunMode = 'kprobe' | 'tracepoint';

export interface Probe {
  /** The probe's name in events (probe.registered ... probe.hit). */
  readonly name: string;
  readonly kind: 'kprobe' | 'kretprobe' | 'tracepoint';
  /** Where it lives in tracefs (events/<group>/<event>). */
  readonly group: string;
  readonly event: string;
  /** The exact kprobe_events line (validated by the grammar); null for the tracepoint. */
  readonly definition: string | null;
  /** The line for its `filter` file; '' when nothing is filtered. */
  readonly filter: string;
  /** Compiles, from the event's format, the decoder of a raw record to this probe's args. */
  readonly decoder: DecoderFactory;
  /** The args' JSON (what the decoder returned). */
  argsJson(args: unknown, enc: HitEncoder): string;
  /** Makes the event exist (kprobe_events); returns probe.registered data. `base`: the symbol's address, if known. */
  register(tracefs: Tracefs, base: bigint | undefined): Promise<EventData<'probe.registered'>>;
  unregister(tracefs: Tracefs): Promise<void>;
  /** The kernel symbol a kprobe sits on (for its address); null for the tracepoint. */
  readonly symbol: string | null;
  /** A TCP state change (its args are TcpArgs): its hits carry the socket's owner. */
  readonly tcp: boolean;
  /**
   * The inet_csk_accept kretprobe (args AcceptArgs): its hits run in the accepting task, which the
   * owner tracker takes as the new socket's owner; each hit carries it (attribution direct).
   */
  readonly accept: boolean;
  /** The kprobe's offset into `symbol` (0 for the tracepoint). */
  readonly offset: number;
}

export class ProbePlanError extends Error {
  override name = 'ProbePlanError';
}

const tcpJson = (args: unknown, enc: HitEncoder) => enc.tcpArgs(args as TcpArgs);

function kprobe(def: KprobeDefinition, symbol: string, offset: number, filter: string, decoder: DecoderFactory, argsJson: Probe['argsJson'], tcp: boolean, accept = false): Probe {
  const definition = buildKprobeLine(def);
  const kind = def.kind === 'r' ? 'kretprobe' : 'kprobe';
  return {
    name: def.event,
    kind,
    group: def.group,
    event: def.event,
    definition,
    filter,
    decoder,
    argsJson,
    symbol,
    tcp,
    accept,
    offset,
    register: async (tracefs, base) => {
      const line = await tracefs.addKprobe(def);
      const address = base !== undefined ? { address: `0x${(base + BigInt(offset)).toString(16)}` } : {};
      return { probe: def.event, kind, symbol, offset, ...address, definition: line };
    },
    unregister: (tracefs) => tracefs.removeKprobe(def.group, def.event),
  };
}

/** User probe args converted by their fetch types (the kernel's default type is x64). */
function userDecoder(p: ProbeConfig): DecoderFactory {
  const convert = p.args.map((a) => [a.name, argConverter(a.type ?? 'x64')] as const);
  return (format) => {
    const fields = fieldsDecoder(format);
    return (v, b, at) => {
      const f = fields(v, b, at);
      const args: Record<string, HitArgValue> = {};
      for (const [name, c] of convert) args[name] = c(f[name] as RawValue);
      return args;
    };
  };
}

const tracepoint = (filter: string): Probe => ({
  name: TCP_TRACEPOINT.event,
  kind: 'tracepoint',
  group: TCP_TRACEPOINT.group,
  event: TCP_TRACEPOINT.event,
  definition: null,
  filter,
  decoder: inetSockSetStateDecoder,
  argsJson: tcpJson,
  symbol: null,
  tcp: true,
  accept: false,
  offset: 0,
  register: async () => ({ probe: TCP_TRACEPOINT.event, kind: 'tracepoint', symbol: TCP_TRACEPOINT.name, offset: 0 }),
  unregister: async () => {},
});

/** The socket inet_csk_accept returned (skaddr 0x0: the accept failed) and its ports, as recorded. */
export interface AcceptArgs {
  skaddr: string;
  family: string | number;
  sport: number;
  dport: number;
}

/**
 * Returns the new socket; fires in the task that accepted it, as accept() returns. Reads the
 * socket's family and ports (sock_common offsets from BTF) so that the `filter:` ports and families
 * keep its hits to the connections the run records (states do not apply: it is no transition).
 */
function acceptProbe(layout: SockCommonLayout, filter: FilterConfig | undefined): Probe {
  const at = (m: { offset: number }) => `+${m.offset}($retval)`;
  const def: KprobeDefinition = {
    kind: 'r',
    group: PROBE_GROUP,
    event: ACCEPT_PROBE_EVENT,
    target: 'inet_csk_accept',
    args: [
      { name: 'sk', fetch: '$retval', type: 'x64' },
      { name: 'family', fetch: at(layout.skc_family), type: 'u16' },
      { name: 'sport', fetch: at(layout.skc_num), type: 'u16' },
      { name: 'dport_be', fetch: at(layout.skc_dport), type: 'u16' },
    ],
  };
  const filterText = filterLine(tcpFilter('kprobe', filter === undefined ? undefined : { ...filter, states: undefined }), 'filter');
  const decoder: DecoderFactory = (format) => {
    const fields = fieldsDecoder(format);
    return (v, b, p): AcceptArgs => {
      const f = fields(v, b, p);
      const family = Number(f['family']);
      return {
        skaddr: `0x${BigInt(f['sk'] as bigint).toString(16)}`,
        family: family === 2 ? 'AF_INET' : family === 10 ? 'AF_INET6' : family,
        sport: Number(f['sport']),
        dport: portFromBe16(Number(f['dport_be'])),
      };
    };
  };
  return kprobe(def, 'inet_csk_accept', 0, filterText, decoder, (args) => JSON.stringify(args), false, true);
}

/**
 * The probes of a run in `mode`, in registration order; throws (ProbePlanError, or the grammars'
 * own errors) on anything the kernel would refuse. `btf` is needed in kprobe mode only.
 */
export function planProbes(
  mode: RunMode,
  btf: Btf | null,
  config: { probes: readonly ProbeConfig[]; filter?: FilterConfig | undefined; ownership?: { enabled: boolean } | undefined },
): Probe[] {
  const tcpEvent = mode === 'kprobe' ? TCP_PROBE_EVENT : TCP_TRACEPOINT.event;
  const filters = eventFilters(mode, config.filter, tcpEvent, mode === 'kprobe' ? config.probes.map((p) => p.name) : []);
  if (mode === 'tracepoint') {
    if (config.probes.length > 0) throw new ProbePlanError('probes: user kprobes need kprobe mode, but this run uses tracepoint mode');
    return [tracepoint(filters.get(tcpEvent) ?? '')];
  }
  if (btf === null) throw new ProbePlanError('kprobe mode needs BTF (sock_common offsets)');
  const tcp = tcpSetStateProbe(PROBE_GROUP, TCP_PROBE_EVENT, sockCommonLayout(btf), tcpSockLayout(btf));
  return [
    kprobe(tcp, 'tcp_set_state', 0, filters.get(TCP_PROBE_EVENT) ?? '', tcpSetStateDecoder, tcpJson, true),
    ...(config.ownership?.enabled === true ? [acceptProbe(sockCommonLayout(btf), config.filter)] : []),
    ...config.probes.map((p) => userProbe(p, filters.get(p.name) ?? '')),
  ];
}

/** A user kprobe (the config's or a policy's) with its filter line. */
export function userProbe(p: ProbeConfig, filter: string): Probe {
  return kprobe(userProbeDefinition(p), p.symbol, p.offset ?? 0, filter, userDecoder(p), userArgsJson, false);
}

const userArgsJson = (args: unknown, enc: HitEncoder) => enc.userArgs(args as Record<string, HitArgValue>);

/** A raw field as a hit arg: integers as numbers (beyond 2^53 as decimal text), the rest as text. */
function fieldArg(v: RawValue): HitArgValue {
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  return `{${Array.from(v as ArrayLike<number | bigint>, String).join(',')}}`;
}

/** A tracepoint a policy enables (`group:event`), its hits named `name`, args its format's fields. */
export function policyTracepoint(name: string, tracepoint: string, filter: string): Probe {
  const [group, event] = tracepoint.split(':') as [string, string];
  const decoder: DecoderFactory = (format) => {
    const fields = fieldsDecoder(format);
    return (v, b, at) => {
      const args: Record<string, HitArgValue> = {};
      for (const [k, x] of Object.entries(fields(v, b, at))) if (!k.startsWith('common_')) args[k] = fieldArg(x);
      return args;
    };
  };
  return {
    name, kind: 'tracepoint', group, event, definition: null, filter, decoder, argsJson: userArgsJson, symbol: null, tcp: false, accept: false, offset: 0,
    register: async () => ({ probe: name, kind: 'tracepoint', symbol: tracepoint, offset: 0 }),
    unregister: async () => {},
  };
}
