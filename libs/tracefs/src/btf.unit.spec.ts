import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Btf, BtfError, BtfKind, SOCK_COMMON_FIELDS, sockCommonLayout } from './btf';

const FIXTURES = join(__dirname, '../../../test/fixtures/btf');

interface PaholeMember {
  name: string;
  offset: number;
  bit: number | null;
  bitSize: number | null;
  size: number;
}

/** Members of a `pahole -C` dump: `TYPE name[:bits]; /* off[: bit] size *\/`. */
function paholeMembers(text: string): PaholeMember[] {
  const out: PaholeMember[] = [];
  for (const line of text.split('\n')) {
    const m = /\s(\w+)(?:\[\d*\])?(?::(\d+))?;\s+\/\*\s+(\d+)(?::\s*(\d+))?\s+(\d+)\s+\*\//.exec(line);
    if (m && !/^\s*\};/.test(line)) {
      out.push({
        name: m[1] as string,
        bitSize: m[2] !== undefined ? Number(m[2]) : null,
        offset: Number(m[3]),
        bit: m[4] !== undefined ? Number(m[4]) : null,
        size: Number(m[5]),
      });
    }
  }
  return out;
}

describe('BTF reader on this machine (/sys/kernel/btf/vmlinux)', () => {
  const btf = Btf.fromFile('/sys/kernel/btf/vmlinux');

  it('matches pahole -C sock_common recorded from the same BTF', () => {
    const ref = paholeMembers(readFileSync(join(FIXTURES, 'pahole-sock_common-host-6.18.txt'), 'utf8'));
    expect(ref).toHaveLength(38); // every named member, anonymous unions/structs flattened
    const id = btf.findTypes('sock_common')[0] as number;
    const ours = new Map(btf.members(id).map((x) => [x.name, x]));
    for (const r of ref) {
      const o = ours.get(r.name);
      expect({ name: r.name, offset: o?.offset, size: o?.size }).toEqual({ name: r.name, offset: r.offset, size: r.size });
      if (r.bitSize !== null) expect([o?.bitOffset, o?.bitSize]).toEqual([r.offset * 8 + (r.bit ?? 0), r.bitSize]);
    }
    expect(btf.sizeOf(id)).toBe(136);
  });

  it('gives the tcp_set_state fields, the same offsets as 6.1 and 6.12 reported by pahole', () => {
    const layout = sockCommonLayout(btf);
    for (const f of ['pahole-sock_common-6.1.0-56-amd64.txt', 'pahole-sock_common-6.12.107-amd64.txt']) {
      const ref = new Map(paholeMembers(readFileSync(join(FIXTURES, f), 'utf8')).map((x) => [x.name, x]));
      for (const name of SOCK_COMMON_FIELDS) {
        expect([name, layout[name].offset, layout[name].size]).toEqual([name, ref.get(name)?.offset, ref.get(name)?.size]);
      }
    }
    expect(layout.skc_state).toMatchObject({ offset: 18, bitOffset: 144, bitSize: null, size: 1 });
  });

  it('indexes the blob quickly enough for agent start', () => {
    const t0 = process.hrtime.bigint();
    const b = Btf.fromFile('/sys/kernel/btf/vmlinux');
    sockCommonLayout(b);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    expect(b.typeCount).toBeGreaterThan(10000);
    expect(ms).toBeLessThan(500);
  });

  it('reports missing structs and members', () => {
    expect(() => btf.structMembers('no_such_struct_xyz', ['a'])).toThrow(BtfError);
    expect(() => btf.structMembers('sock_common', ['skc_nope'])).toThrow(/skc_nope/);
  });
});

/** A tiny BTF writer, enough to encode struct layouts for the reader. */
class BtfWriter {
  private strs = Buffer.from([0]);
  private types: Buffer[] = [];

  str(s: string): number {
    const off = this.strs.length;
    this.strs = Buffer.concat([this.strs, Buffer.from(`${s}\0`)]);
    return off;
  }

  type(name: string, kind: number, vlen: number, kindFlag: boolean, sizeOrType: number, extra: number[] = []): number {
    const b = Buffer.alloc(12 + extra.length * 4);
    b.writeUInt32LE(name ? this.str(name) : 0, 0);
    b.writeUInt32LE((((kindFlag ? 1 : 0) << 31) | (kind << 24) | vlen) >>> 0, 4);
    b.writeUInt32LE(sizeOrType, 8);
    extra.forEach((v, i) => b.writeUInt32LE(v >>> 0, 12 + i * 4));
    this.types.push(b);
    return this.types.length;
  }

  blob(): Buffer {
    const types = Buffer.concat(this.types);
    const h = Buffer.alloc(24);
    h.writeUInt16LE(0xeb9f, 0);
    h.writeUInt8(1, 2);
    h.writeUInt32LE(24, 4);
    h.writeUInt32LE(0, 8);
    h.writeUInt32LE(types.length, 12);
    h.writeUInt32LE(types.length, 16);
    h.writeUInt32LE(this.strs.length, 20);
    return Buffer.concat([h, types, this.strs]);
  }
}

describe('BTF reader on a hand-built blob', () => {
  // struct sock_common-like: anonymous union { u64 pair; struct { u32 daddr; u32 saddr; } } at 0,
  // a volatile typedef'd state at 18, a kind_flag struct with a 4-bit field at byte 19 bit 4,
  // and a 16-byte array at 56.
  function build(): Buffer {
    const w = new BtfWriter();
    const u8 = w.type('unsigned char', BtfKind.INT, 0, false, 1, [8]);
    const u32 = w.type('unsigned int', BtfKind.INT, 0, false, 4, [32]);
    const u64 = w.type('long long unsigned int', BtfKind.INT, 0, false, 8, [64]);
    const be32 = w.type('__be32', BtfKind.TYPEDEF, 0, false, u32);
    const vol = w.type('', BtfKind.VOLATILE, 0, false, u8);
    const arr = w.type('', BtfKind.ARRAY, 0, false, 0, [u8, u32, 16]);
    w.type('sock_common', BtfKind.FWD, 0, false, 0);
    const inner = w.type('', BtfKind.STRUCT, 2, false, 8, [w.str('skc_daddr'), be32, 0, w.str('skc_rcv_saddr'), be32, 32]);
    const union = w.type('', BtfKind.UNION, 2, false, 8, [w.str('skc_addrpair'), u64, 0, 0, inner, 0]);
    w.type('sock_common', BtfKind.STRUCT, 4, true, 72, [
      0, union, 0,
      w.str('skc_state'), vol, 18 * 8,
      w.str('skc_reuse'), u8, (4 << 24) | (19 * 8 + 4),
      w.str('skc_v6_daddr'), arr, 56 * 8,
    ]);
    return w.blob();
  }

  it('flattens anonymous members, resolves qualifiers, reports bitfields', () => {
    const btf = new Btf(build());
    expect(btf.typeCount).toBe(10);
    const ms = btf.structMembers('sock_common', ['skc_daddr', 'skc_rcv_saddr', 'skc_addrpair', 'skc_state', 'skc_reuse', 'skc_v6_daddr']);
    expect(ms['skc_rcv_saddr']).toMatchObject({ offset: 4, size: 4, bitSize: null });
    expect(ms['skc_addrpair']).toMatchObject({ offset: 0, size: 8 });
    expect(ms['skc_state']).toMatchObject({ offset: 18, size: 1 });
    expect(ms['skc_reuse']).toMatchObject({ offset: 19, bitOffset: 156, bitSize: 4, size: 1 });
    expect(ms['skc_v6_daddr']).toMatchObject({ offset: 56, size: 16 });
  });

  it('refuses blobs that are not BTF', () => {
    expect(() => new Btf(Buffer.alloc(8))).toThrow(BtfError);
    const bad = build();
    bad.writeUInt16LE(0x9feb, 0);
    expect(() => new Btf(bad)).toThrow(/magic/);
    const cut = build();
    cut.writeUInt32LE(cut.readUInt32LE(12) + 1000, 12);
    expect(() => new Btf(cut)).toThrow(BtfError);
  });
});
