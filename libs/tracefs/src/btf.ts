// Raw BTF reader (Documentation/bpf/btf.rst): header, type section, string section.
// One pass indexes where each type id starts; names are only decoded for what is asked,
// so opening the ~5.5 MB vmlinux blob costs a few milliseconds.
import { readFileSync } from 'node:fs';

export const BTF_MAGIC = 0xeb9f;

export const BtfKind = {
  INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9,
  CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16,
  DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19,
} as const;

export class BtfError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BtfError';
  }
}

export interface BtfMember {
  name: string;
  /** Byte offset from the start of the outer struct (anonymous members flattened). */
  offset: number;
  /** Bit offset from the start of the outer struct. */
  bitOffset: number;
  /** Bitfield width in bits; null for ordinary members. */
  bitSize: number | null;
  /** Size in bytes of the member's type (after typedef/qualifiers). */
  size: number;
  typeId: number;
}

const HEADER_MIN = 24;
const TYPE_HEADER = 12;

export class Btf {
  private readonly view: DataView;
  private readonly typeStart: number;
  private readonly strStart: number;
  private readonly strLen: number;
  /** offsets[id] = byte offset of type `id` (ids start at 1; 0 is void). */
  private readonly offsets: Uint32Array;
  readonly typeCount: number;

  constructor(private readonly buf: Buffer) {
    if (buf.length < HEADER_MIN) throw new BtfError('BTF blob too short');
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const magic = this.view.getUint16(0, true);
    if (magic !== BTF_MAGIC) {
      throw new BtfError(`bad BTF magic 0x${magic.toString(16)} (big-endian BTF is not supported)`);
    }
    const hdrLen = this.view.getUint32(4, true);
    const typeOff = this.view.getUint32(8, true);
    const typeLen = this.view.getUint32(12, true);
    const strOff = this.view.getUint32(16, true);
    this.strLen = this.view.getUint32(20, true);
    this.typeStart = hdrLen + typeOff;
    this.strStart = hdrLen + strOff;
    const typeEnd = this.typeStart + typeLen;
    if (typeEnd > buf.length || this.strStart + this.strLen > buf.length) throw new BtfError('BTF sections exceed the blob');

    const offs: number[] = [0];
    let p = this.typeStart;
    while (p < typeEnd) {
      offs.push(p);
      p += TYPE_HEADER + this.extraSize(p);
    }
    if (p !== typeEnd) throw new BtfError('type section does not end on a type boundary');
    this.offsets = Uint32Array.from(offs);
    this.typeCount = offs.length - 1;
  }

  static fromFile(path = '/sys/kernel/btf/vmlinux'): Btf {
    return new Btf(readFileSync(path));
  }

  private info(p: number): number {
    return this.view.getUint32(p + 4, true);
  }

  private extraSize(p: number): number {
    const info = this.info(p);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    switch (kind) {
      case BtfKind.INT: case BtfKind.VAR: case BtfKind.DECL_TAG: return 4;
      case BtfKind.ARRAY: return 12;
      case BtfKind.STRUCT: case BtfKind.UNION: case BtfKind.DATASEC: case BtfKind.ENUM64: return vlen * 12;
      case BtfKind.ENUM: case BtfKind.FUNC_PROTO: return vlen * 8;
      case BtfKind.PTR: case BtfKind.FWD: case BtfKind.TYPEDEF: case BtfKind.VOLATILE: case BtfKind.CONST:
      case BtfKind.RESTRICT: case BtfKind.FUNC: case BtfKind.FLOAT: case BtfKind.TYPE_TAG: return 0;
      default: throw new BtfError(`unknown BTF kind ${kind} at byte ${p}`);
    }
  }

  private at(id: number): number {
    const p = this.offsets[id];
    if (id <= 0 || p === undefined) throw new BtfError(`no BTF type id ${id}`);
    return p;
  }

  kind(id: number): number {
    return (this.info(this.at(id)) >>> 24) & 0x1f;
  }

  name(id: number): string {
    return this.str(this.view.getUint32(this.at(id), true));
  }

  private str(off: number): string {
    const start = this.strStart + off;
    const end = this.buf.indexOf(0, start);
    return this.buf.toString('latin1', start, end === -1 ? this.strStart + this.strLen : end);
  }

  /** Ids of STRUCT (or UNION) types with this name; the string is located once, no decoding. */
  findTypes(name: string, kinds: readonly number[] = [BtfKind.STRUCT]): number[] {
    const needle = Buffer.from(`\0${name}\0`, 'latin1');
    const strEnd = this.strStart + this.strLen;
    const nameOffs = new Set<number>();
    for (let i = this.buf.indexOf(needle, this.strStart - 1); i !== -1 && i < strEnd; i = this.buf.indexOf(needle, i + 1)) {
      nameOffs.add(i + 1 - this.strStart);
    }
    const ids: number[] = [];
    if (nameOffs.size === 0) return ids;
    for (let id = 1; id <= this.typeCount; id++) {
      const p = this.offsets[id] as number;
      if (nameOffs.has(this.view.getUint32(p, true)) && kinds.includes((this.info(p) >>> 24) & 0x1f)) ids.push(id);
    }
    return ids;
  }

  /** Follows typedef/volatile/const/restrict/type_tag to the underlying type. */
  resolve(id: number): number {
    for (let guard = 0; guard < 64; guard++) {
      const k = this.kind(id);
      if (k !== BtfKind.TYPEDEF && k !== BtfKind.VOLATILE && k !== BtfKind.CONST && k !== BtfKind.RESTRICT && k !== BtfKind.TYPE_TAG) {
        return id;
      }
      id = this.view.getUint32(this.at(id) + 8, true);
    }
    throw new BtfError(`type chain too long at id ${id}`);
  }

  /** Size in bytes of a type (0 for void/func). */
  sizeOf(id: number): number {
    if (id === 0) return 0;
    const r = this.resolve(id);
    const p = this.at(r);
    switch (this.kind(r)) {
      case BtfKind.INT: case BtfKind.STRUCT: case BtfKind.UNION: case BtfKind.ENUM: case BtfKind.ENUM64:
      case BtfKind.FLOAT: case BtfKind.DATASEC:
        return this.view.getUint32(p + 8, true);
      case BtfKind.PTR:
        return 8;
      case BtfKind.ARRAY:
        return this.sizeOf(this.view.getUint32(p + TYPE_HEADER, true)) * this.view.getUint32(p + TYPE_HEADER + 8, true);
      default:
        return 0;
    }
  }

  /** All named members of a struct/union, anonymous struct/union members flattened in. */
  members(id: number, baseBits = 0): BtfMember[] {
    const p = this.at(id);
    const info = this.info(p);
    const kind = (info >>> 24) & 0x1f;
    if (kind !== BtfKind.STRUCT && kind !== BtfKind.UNION) throw new BtfError(`type ${id} is not a struct or union`);
    const kindFlag = info >>> 31 === 1;
    const out: BtfMember[] = [];
    for (let i = 0; i < (info & 0xffff); i++) {
      const m = p + TYPE_HEADER + i * 12;
      const nameOff = this.view.getUint32(m, true);
      const typeId = this.view.getUint32(m + 4, true);
      const raw = this.view.getUint32(m + 8, true);
      // With kind_flag, offset packs bitfield size (high 8 bits) and bit offset (low 24).
      const bitOffset = baseBits + (kindFlag ? raw & 0xffffff : raw);
      const bitSize = kindFlag && raw >>> 24 !== 0 ? raw >>> 24 : null;
      if (nameOff === 0) {
        const r = this.resolve(typeId);
        const k = this.kind(r);
        if (k === BtfKind.STRUCT || k === BtfKind.UNION) out.push(...this.members(r, bitOffset));
        continue;
      }
      out.push({
        name: this.str(nameOff),
        offset: Math.floor(bitOffset / 8),
        bitOffset,
        bitSize,
        size: this.sizeOf(typeId),
        typeId,
      });
    }
    return out;
  }

  /** Members of the named struct, by name. Throws if the struct or a member is missing. */
  structMembers(structName: string, names: readonly string[]): Record<string, BtfMember> {
    const ids = this.findTypes(structName);
    // Forward declarations are FWD, so a STRUCT with members is the definition; several
    // identical copies may exist (dedup leftovers), all with the same layout.
    const id = ids.find((x) => (this.info(this.at(x)) & 0xffff) > 0);
    if (id === undefined) throw new BtfError(`struct ${structName} not found in BTF`);
    const all = this.members(id);
    const out: Record<string, BtfMember> = {};
    for (const n of names) {
      const m = all.find((x) => x.name === n);
      if (!m) throw new BtfError(`struct ${structName} has no member ${n}`);
      out[n] = m;
    }
    return out;
  }
}

export const SOCK_COMMON_FIELDS = [
  'skc_daddr', 'skc_rcv_saddr', 'skc_dport', 'skc_num', 'skc_family', 'skc_state', 'skc_v6_daddr', 'skc_v6_rcv_saddr',
] as const;

export type SockCommonField = (typeof SOCK_COMMON_FIELDS)[number];
export type SockCommonLayout = Record<SockCommonField, BtfMember>;

/** The `struct sock_common` members tcp_set_state probes read, from BTF. */
export function sockCommonLayout(btf: Btf): SockCommonLayout {
  return btf.structMembers('sock_common', SOCK_COMMON_FIELDS) as SockCommonLayout;
}

/**
 * The `struct tcp_sock` counters tcplife reports, read at TCP_CLOSE: bytes acked by the peer (TX),
 * bytes received (RX), retransmitted segments, smoothed RTT (µs << 3). Offsets are from the start
 * of tcp_sock, which is where `sk` points (sock_common first).
 */
export const TCP_SOCK_FIELDS = ['bytes_acked', 'bytes_received', 'total_retrans', 'srtt_us'] as const;

export type TcpSockField = (typeof TCP_SOCK_FIELDS)[number];
export type TcpSockLayout = Record<TcpSockField, BtfMember>;

export function tcpSockLayout(btf: Btf): TcpSockLayout {
  return btf.structMembers('tcp_sock', TCP_SOCK_FIELDS) as TcpSockLayout;
}
