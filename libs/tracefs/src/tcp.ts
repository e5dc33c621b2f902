// TCP state transitions from either source, in one shape:
// - kprobe on tcp_set_state(struct sock *sk, int state), built by buildTcpSetStateProbe();
//   fires at entry, so skc_state is the OLD state and %si the new one;
// - tracepoint sock:inet_sock_set_state (also sees CLOSE->LISTEN and LISTEN->SYN_RECV on
//   listeners, which tcp_set_state does not; has no socket address in its text output).
import type { SockCommonLayout, BtfMember, TcpSockLayout } from './btf';
import { buildKprobeLine, TCP_PROBE_FIELDS, type FetchArg, type KprobeDefinition } from '@probefleet/policy';
import { parseArrayField, type TraceLine } from './parser';
import { ipv6Text, TCP_STATES, tcpStateName, type Life, type TcpStateName } from '@probefleet/events';

/** include/net/tcp_states.h (the table is @probefleet/events' TCP_STATES); throws on a number outside it. */
export function kernelTcpState(n: number): TcpStateName {
  const s = tcpStateName(n);
  if (s === undefined) throw new RangeError(`unknown TCP state ${n}`);
  return s;
}

export type AddressFamily = 'AF_INET' | 'AF_INET6';

export interface TcpStateChange {
  /** Kernel socket address (hex) when the source provides it; the tracepoint text does not. */
  skaddr: string | null;
  family: AddressFamily;
  saddr: string;
  daddr: string;
  /** Host byte order. */
  sport: number;
  dport: number;
  oldstate: TcpStateName;
  newstate: TcpStateName;
  /** tcplife's counters, on a TCP_CLOSE of the kprobe with tcp_sock fields (not part of the hit's args). */
  life?: Life;
}

export class TcpDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TcpDecodeError';
  }
}

export function familyName(n: number): AddressFamily {
  if (n === 2) return 'AF_INET';
  if (n === 10) return 'AF_INET6';
  throw new TcpDecodeError(`not an inet family: ${n}`);
}

/** `0x100007f` (an x32 read of a __be32 on little-endian) → `127.0.0.1`. */
export function ipv4FromLeU32(v: number): string {
  return `${v & 0xff}.${(v >>> 8) & 0xff}.${(v >>> 16) & 0xff}.${v >>> 24}`;
}

/** 16 bytes → text like the kernel's %pI6c / inet_ntop (RFC 5952, IPv4-mapped as ::ffff:a.b.c.d). */
export function ipv6FromBytes(b: ArrayLike<number>): string {
  if (b.length !== 16) throw new TcpDecodeError(`IPv6 address needs 16 bytes, got ${b.length}`);
  return ipv6Text(b);
}

function num(hit: TraceLine, key: string): number {
  const v = hit.fields[key];
  if (v === undefined) throw new TcpDecodeError(`${hit.event}: missing field ${key}`);
  const n = Number(v);
  if (!Number.isFinite(n)) throw new TcpDecodeError(`${hit.event}: field ${key} is not a number: ${v}`);
  return n;
}

function field(hit: TraceLine, key: string): string {
  const v = hit.fields[key];
  if (v === undefined) throw new TcpDecodeError(`${hit.event}: missing field ${key}`);
  return v;
}

function stateField(hit: TraceLine, key: string): TcpStateName {
  const v = field(hit, key);
  if (!Object.prototype.hasOwnProperty.call(TCP_STATES, v)) throw new TcpDecodeError(`${hit.event}: unknown state ${v}`);
  return v as TcpStateName;
}

/** Decodes a `sock:inet_sock_set_state` hit (TCP only; other protocols return null). */
export function decodeInetSockSetState(hit: TraceLine): TcpStateChange | null {
  if (hit.fields['protocol'] !== 'IPPROTO_TCP') return null;
  const fam = field(hit, 'family');
  if (fam !== 'AF_INET' && fam !== 'AF_INET6') throw new TcpDecodeError(`${hit.event}: unknown family ${fam}`);
  const v6 = fam === 'AF_INET6';
  return {
    skaddr: null,
    family: fam,
    // On AF_INET6 sockets the v4 fields are not meaningful (the kernel prints junk like 127.0.0.6).
    saddr: field(hit, v6 ? 'saddrv6' : 'saddr'),
    daddr: field(hit, v6 ? 'daddrv6' : 'daddr'),
    sport: num(hit, 'sport'),
    dport: num(hit, 'dport'),
    oldstate: stateField(hit, 'oldstate'),
    newstate: stateField(hit, 'newstate'),
  };
}

// Field names of the tcp_set_state probe: in libs/policy, whose filters name them.
export { TCP_PROBE_FIELDS };

function intType(field: string, m: BtfMember, hex: boolean): string {
  const bits = m.size * 8;
  if (bits !== 8 && bits !== 16 && bits !== 32 && bits !== 64) {
    throw new TcpDecodeError(`sock_common.${field} has unsupported size ${m.size}`);
  }
  return `${hex ? 'x' : 'u'}${bits}`;
}

function deref(m: BtfMember): string {
  return `+${m.offset}(%di)`;
}

function scalarArg(name: string, field: string, m: BtfMember | undefined, hex = false): FetchArg {
  if (m === undefined) throw new TcpDecodeError(`no BTF member for ${field}`);
  if (m.bitSize !== null) {
    // Read the containing byte(s) and let the kernel extract the bits.
    const byte = Math.floor(m.bitOffset / 8);
    const shift = m.bitOffset % 8;
    const container = shift + m.bitSize <= 8 ? 8 : shift + m.bitSize <= 16 ? 16 : 32;
    return { name, fetch: `+${byte}(%di)`, type: `b${m.bitSize}@${shift}/${container}` };
  }
  return { name, fetch: deref(m), type: intType(field, m, hex) };
}

/**
 * The tcp_set_state kprobe: sk in %di, the new state in %si, everything else read through
 * sock_common offsets taken from BTF (never hard-coded). With `life` (tcp_sock offsets) it also
 * reads tcplife's counters: a kprobe cannot fetch conditionally, so every transition carries them
 * (24 bytes) and the decoder keeps them for TCP_CLOSE only, when the lifetime ends.
 */
export function tcpSetStateProbe(group: string, event: string, layout: SockCommonLayout, life?: TcpSockLayout): KprobeDefinition {
  const f = TCP_PROBE_FIELDS;
  for (const k of ['skc_v6_daddr', 'skc_v6_rcv_saddr'] as const) {
    if (layout[k].size !== 16) throw new TcpDecodeError(`sock_common.${k} is ${layout[k].size} bytes, expected 16`);
  }
  return {
    kind: 'p',
    group,
    event,
    target: 'tcp_set_state',
    args: [
      { name: f.sk, fetch: '%di', type: 'x64' },
      { name: f.newstate, fetch: '%si', type: 's32' },
      scalarArg(f.oldstate, 'skc_state', layout.skc_state),
      scalarArg(f.family, 'skc_family', layout.skc_family),
      scalarArg(f.sport, 'skc_num', layout.skc_num),
      scalarArg(f.dportBe, 'skc_dport', layout.skc_dport),
      scalarArg(f.saddr, 'skc_rcv_saddr', layout.skc_rcv_saddr, true),
      scalarArg(f.daddr, 'skc_daddr', layout.skc_daddr, true),
      { name: f.saddr6, fetch: deref(layout.skc_v6_rcv_saddr), type: 'x8[16]' },
      { name: f.daddr6, fetch: deref(layout.skc_v6_daddr), type: 'x8[16]' },
      ...(life === undefined
        ? []
        : [
            scalarArg(f.txBytes, 'tcp_sock.bytes_acked', life.bytes_acked),
            scalarArg(f.rxBytes, 'tcp_sock.bytes_received', life.bytes_received),
            scalarArg(f.retrans, 'tcp_sock.total_retrans', life.total_retrans),
            scalarArg(f.srtt8, 'tcp_sock.srtt_us', life.srtt_us),
          ]),
    ],
  };
}

/** The kprobe_events line for tcpSetStateProbe(). */
export function buildTcpSetStateLine(group: string, event: string, layout: SockCommonLayout, life?: TcpSockLayout): string {
  return buildKprobeLine(tcpSetStateProbe(group, event, layout, life));
}

/** skc_dport is network byte order; the probe reads it as a little-endian u16. */
export function portFromBe16(be: number): number {
  return ((be & 0xff) << 8) | (be >>> 8);
}

/** Decodes a hit of the tcpSetStateProbe() kprobe. `sk` is optional (older captures lack it). */
export function decodeTcpSetStateHit(hit: TraceLine): TcpStateChange {
  const f = TCP_PROBE_FIELDS;
  const family = familyName(num(hit, f.family));
  const be = num(hit, f.dportBe);
  const sk = hit.fields[f.sk];
  let saddr: string;
  let daddr: string;
  if (family === 'AF_INET') {
    saddr = ipv4FromLeU32(num(hit, f.saddr));
    daddr = ipv4FromLeU32(num(hit, f.daddr));
  } else {
    saddr = ipv6FromBytes(parseArrayField(field(hit, f.saddr6)));
    daddr = ipv6FromBytes(parseArrayField(field(hit, f.daddr6)));
  }
  return {
    skaddr: sk ?? null,
    family,
    saddr,
    daddr,
    sport: num(hit, f.sport),
    dport: portFromBe16(be),
    oldstate: kernelTcpState(num(hit, f.oldstate)),
    newstate: kernelTcpState(num(hit, f.newstate)),
  };
}
