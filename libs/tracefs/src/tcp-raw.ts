// TCP state changes from raw (trace_pipe_raw) records: the same TcpStateChange as the text decoders
// in tcp.ts, with skaddr from the binary payload.
import { ipv6Text, tcpStateName, type Life } from '@probefleet/events';
import type { EventFormat } from './format';
import { fieldsDecoder, hexPointer, type RawFields, type RawRecord, type RecordDecoder } from './raw';
import { ipv4FromLeU32, ipv6FromBytes, kernelTcpState, familyName, portFromBe16, TCP_PROBE_FIELDS, TcpDecodeError, type TcpStateChange } from './tcp';

function rawNum(r: RawRecord, key: string): number {
  const v = r.fields[key];
  if (typeof v !== 'number') throw new TcpDecodeError(`${r.event}: field ${key} is not a number`);
  return v;
}

function rawBytes(r: RawRecord, key: string, n: number): Uint8Array {
  const v = r.fields[key];
  if (!(v instanceof Uint8Array) || v.length !== n) throw new TcpDecodeError(`${r.event}: field ${key} is not ${n} bytes`);
  return v;
}

/** Pointers decode as hex strings; kprobe `x64` fetches as u64 bigints. */
function rawHex(r: RawRecord, key: string): string {
  const v = r.fields[key];
  if (typeof v === 'string' && v.startsWith('0x')) return v;
  if (typeof v === 'bigint') return `0x${v.toString(16)}`;
  throw new TcpDecodeError(`${r.event}: field ${key} is not an address`);
}

/** `__u8 saddr[4]` (network order) → dotted quad. */
function ipv4FromBytes(b: Uint8Array): string {
  return ipv4FromLeU32(((b[3] as number) << 24) | ((b[2] as number) << 16) | ((b[1] as number) << 8) | (b[0] as number));
}

const IPPROTO_TCP = 6;

/** Decodes a raw `sock:inet_sock_set_state` record (TCP only; other protocols return null). */
export function decodeInetSockSetStateRaw(r: RawRecord): TcpStateChange | null {
  if (rawNum(r, 'protocol') !== IPPROTO_TCP) return null;
  const family = familyName(rawNum(r, 'family'));
  const v6 = family === 'AF_INET6';
  return {
    skaddr: rawHex(r, 'skaddr'),
    family,
    saddr: v6 ? ipv6FromBytes(rawBytes(r, 'saddr_v6', 16)) : ipv4FromBytes(rawBytes(r, 'saddr', 4)),
    daddr: v6 ? ipv6FromBytes(rawBytes(r, 'daddr_v6', 16)) : ipv4FromBytes(rawBytes(r, 'daddr', 4)),
    sport: rawNum(r, 'sport'),
    dport: rawNum(r, 'dport'),
    oldstate: kernelTcpState(rawNum(r, 'oldstate')),
    newstate: kernelTcpState(rawNum(r, 'newstate')),
  };
}

/** A u32/u64 counter as a safe integer; undefined when absent or beyond 2^53 - 1 (never a rounded count). */
function rawCount(r: RawRecord, key: string): number | undefined {
  const v = r.fields[key];
  if (typeof v === 'number') return v >= 0 && Number.isSafeInteger(v) ? v : undefined;
  if (typeof v === 'bigint') return v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
  return undefined;
}

/** tcplife's counters of a record that has the tcp_sock fields (srtt_us is kept << 3 by the kernel). */
function lifeOf(r: RawRecord): Life | undefined {
  const f = TCP_PROBE_FIELDS;
  const [txBytes, rxBytes, retrans, srtt8] = [rawCount(r, f.txBytes), rawCount(r, f.rxBytes), rawCount(r, f.retrans), rawCount(r, f.srtt8)];
  if (txBytes === undefined || rxBytes === undefined || retrans === undefined || srtt8 === undefined) return undefined;
  return { txBytes, rxBytes, retrans, srttUs: Math.floor(srtt8 / 8) };
}

/** Decodes a raw record of the tcpSetStateProbe() kprobe (same result as decodeTcpSetStateHit); `life` on TCP_CLOSE. */
export function decodeTcpSetStateRaw(r: RawRecord): TcpStateChange {
  const f = TCP_PROBE_FIELDS;
  const family = familyName(rawNum(r, f.family));
  const v6 = family === 'AF_INET6';
  const newstate = kernelTcpState(rawNum(r, f.newstate));
  const life = newstate === 'TCP_CLOSE' ? lifeOf(r) : undefined;
  return {
    skaddr: rawHex(r, f.sk),
    family,
    saddr: v6 ? ipv6FromBytes(rawBytes(r, f.saddr6, 16)) : ipv4FromLeU32(rawNum(r, f.saddr)),
    daddr: v6 ? ipv6FromBytes(rawBytes(r, f.daddr6, 16)) : ipv4FromLeU32(rawNum(r, f.daddr)),
    sport: rawNum(r, f.sport),
    dport: portFromBe16(rawNum(r, f.dportBe)),
    oldstate: kernelTcpState(rawNum(r, f.oldstate)),
    newstate,
    ...(life === undefined ? {} : { life }),
  };
}

// Direct decoders (RecordDecoder): the same changes read straight from the page by the format's
// offsets, without the generic field map and its byte-array copies. A record that is not a TCP
// transition we can report (another protocol or family, a state outside the table) is skipped.

function offsetOf(format: EventFormat, name: string, size: number): number {
  const f = format.fields.find((x) => x.name === name);
  if (f?.size !== size) throw new RangeError(`${format.name}: field ${name} is not ${size} bytes in its format`);
  return f.offset;
}

const dotted = (b: Buffer, at: number): string => `${b[at] as number}.${b[at + 1] as number}.${b[at + 2] as number}.${b[at + 3] as number}`;

/** RecordDecoder of `sock:inet_sock_set_state`: a TcpStateChange (skaddr set), or null. */
export function inetSockSetStateDecoder(format: EventFormat): RecordDecoder {
  const at = (name: string, size: number) => offsetOf(format, name, size);
  const [protocol, family, sport, dport, oldstate, newstate, sk] = [at('protocol', 2), at('family', 2), at('sport', 2), at('dport', 2), at('oldstate', 4), at('newstate', 4), at('skaddr', 8)];
  const [saddr, daddr, saddr6, daddr6] = [at('saddr', 4), at('daddr', 4), at('saddr_v6', 16), at('daddr_v6', 16)];
  return (v, b, p): TcpStateChange | null => {
    if (v.getUint16(p + protocol, true) !== IPPROTO_TCP) return null;
    const fam = v.getUint16(p + family, true);
    const old = tcpStateName(v.getInt32(p + oldstate, true));
    const now = tcpStateName(v.getInt32(p + newstate, true));
    if ((fam !== 2 && fam !== 10) || old === undefined || now === undefined) return null;
    const v6 = fam === 10;
    return {
      skaddr: hexPointer(v.getUint32(p + sk + 4, true), v.getUint32(p + sk, true)),
      family: v6 ? 'AF_INET6' : 'AF_INET',
      saddr: v6 ? ipv6Text(b.subarray(p + saddr6, p + saddr6 + 16)) : dotted(b, p + saddr),
      daddr: v6 ? ipv6Text(b.subarray(p + daddr6, p + daddr6 + 16)) : dotted(b, p + daddr),
      sport: v.getUint16(p + sport, true),
      dport: v.getUint16(p + dport, true),
      oldstate: old,
      newstate: now,
    };
  };
}

/** RecordDecoder of the tcpSetStateProbe() kprobe (its args have fetch-defined types): decodeTcpSetStateRaw on its fields. */
export function tcpSetStateDecoder(format: EventFormat): RecordDecoder {
  const fields = fieldsDecoder(format);
  return (v, b, p) => decodeTcpSetStateFields(format.name, fields(v, b, p));
}

function decodeTcpSetStateFields(event: string, fields: RawFields): TcpStateChange | null {
  try {
    return decodeTcpSetStateRaw({ event, fields } as RawRecord);
  } catch (e) {
    // e.g. a non-inet socket passing through tcp_set_state: not a TCP transition we can report.
    if (e instanceof TcpDecodeError || e instanceof RangeError) return null;
    throw e;
  }
}
