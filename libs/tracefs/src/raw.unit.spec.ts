import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseEventFormat, parseHeaderPage, type EventFormat } from './format';
import { decodeFlags, parseTraceText, timestampNs } from './parser';
import { hexPointer, RawPageDecoder, RawPageError, rawFlags, type RawItem, type RawRecord } from './raw';
import { RawTraceReader } from './raw-reader';
import { decodeInetSockSetState, decodeTcpSetStateHit } from './tcp';
import { decodeInetSockSetStateRaw, decodeTcpSetStateRaw, inetSockSetStateDecoder, tcpSetStateDecoder } from './tcp-raw';

const RAW = join(__dirname, '../../../test/fixtures/tracefs-raw');
const KERNELS = join(__dirname, '../../../test/fixtures/kernels');
const HEADER = parseHeaderPage(readFileSync(join(RAW, 'header_page'), 'utf8'));
const INET = parseEventFormat(readFileSync(join(RAW, 'inet_sock_set_state.format'), 'utf8'));
const EXEC = parseEventFormat(readFileSync(join(RAW, 'sched_process_exec.format'), 'utf8'));
const PAGE = 4096;

// ---- Test-side encoder: writes pages the way kernel/trace/ring_buffer.c lays them out. ----

type Ev =
  | { kind: 'data'; delta: number; payload: Buffer }
  | { kind: 'extend'; delta: bigint }
  | { kind: 'abs'; ts: bigint }
  | { kind: 'pad'; delta: number; bytes: number };

function header(typeLen: number, delta: number): number {
  return ((delta << 5) | typeLen) >>> 0;
}

function evSize(e: Ev): number {
  if (e.kind === 'data') return e.payload.length <= 112 ? 4 + e.payload.length : 8 + e.payload.length;
  if (e.kind === 'pad') return 4 + e.bytes;
  return 8;
}

function encodePage(ts: bigint, evs: Ev[], opts: { missed?: number | 'unstored'; junk?: boolean } = {}): Buffer {
  const b = Buffer.alloc(PAGE, opts.junk ? 0xa5 : 0);
  b.writeBigUInt64LE(ts, 0);
  let p = 16;
  for (const e of evs) {
    if (e.kind === 'data') {
      if (e.payload.length % 4 !== 0) throw new Error('payload not 4-aligned');
      if (e.payload.length <= 112) {
        b.writeUInt32LE(header(e.payload.length / 4, e.delta), p);
        e.payload.copy(b, p + 4);
      } else {
        b.writeUInt32LE(header(0, e.delta), p);
        b.writeUInt32LE(e.payload.length + 4, p + 4);
        e.payload.copy(b, p + 8);
      }
    } else if (e.kind === 'extend') {
      b.writeUInt32LE(header(30, Number(e.delta & 0x7ffffffn)), p);
      b.writeUInt32LE(Number(e.delta >> 27n), p + 4);
    } else if (e.kind === 'abs') {
      b.writeUInt32LE(header(31, Number(e.ts & 0x7ffffffn)), p);
      b.writeUInt32LE(Number((e.ts >> 27n) & 0xffffffffn), p + 4);
    } else {
      b.writeUInt32LE(header(29, e.delta), p);
      b.writeUInt32LE(e.bytes, p + 4);
    }
    p += evSize(e);
  }
  let commit = p - 16;
  if (opts.missed !== undefined) {
    if (opts.missed !== 'unstored') {
      b.writeBigUInt64LE(BigInt(opts.missed), p);
      commit |= 0x40000000;
    }
    commit = (commit | 0x80000000) >>> 0;
  }
  b.writeBigUInt64LE(BigInt(commit), 8);
  return b;
}

interface InetValues {
  skaddr: bigint;
  oldstate: number;
  newstate: number;
  sport: number;
  dport: number;
  family: number;
  protocol: number;
  saddr: Uint8Array;
  daddr: Uint8Array;
  saddr_v6: Uint8Array;
  daddr_v6: Uint8Array;
}

function commonHeader(b: Buffer, id: number, pid: number, flags = 0, preempt = 0): void {
  b.writeUInt16LE(id, 0);
  b.writeUInt8(flags, 2);
  b.writeUInt8(preempt, 3);
  b.writeInt32LE(pid, 4);
}

function inetPayload(v: InetValues, pid: number, flags = 0, preempt = 0): Buffer {
  const b = Buffer.alloc(72);
  commonHeader(b, INET.id, pid, flags, preempt);
  b.writeBigUInt64LE(v.skaddr, 8);
  b.writeInt32LE(v.oldstate, 16);
  b.writeInt32LE(v.newstate, 20);
  b.writeUInt16LE(v.sport, 24);
  b.writeUInt16LE(v.dport, 26);
  b.writeUInt16LE(v.family, 28);
  b.writeUInt16LE(v.protocol, 30);
  b.set(v.saddr, 32);
  b.set(v.daddr, 36);
  b.set(v.saddr_v6, 40);
  b.set(v.daddr_v6, 56);
  return b;
}

/** sched_process_exec: the filename lives after the fixed part, located by a __data_loc word. */
function execPayload(filename: string, pid: number): Buffer {
  const name = Buffer.from(`${filename}\0`);
  const b = Buffer.alloc(20 + Math.ceil(name.length / 4) * 4);
  commonHeader(b, EXEC.id, pid);
  b.writeUInt32LE(20 | (name.length << 16), 8);
  b.writeInt32LE(pid, 12);
  b.writeInt32LE(pid - 1, 16);
  name.copy(b, 20);
  return b;
}

const V4 = Uint8Array.from([127, 0, 0, 1]);
const V6_LOOP = Uint8Array.from([...new Array<number>(15).fill(0), 1]);
const SAMPLE: InetValues = {
  skaddr: 0xffff888104f8ae40n, oldstate: 2, newstate: 1, sport: 51234, dport: 8080, family: 2, protocol: 6,
  saddr: V4, daddr: V4, saddr_v6: new Uint8Array(16), daddr_v6: new Uint8Array(16),
};

function decode(pages: Buffer[], formats: EventFormat[] = [INET, EXEC], cpu = 0, d = new RawPageDecoder(HEADER, formats)): RawItem[] {
  const out: RawItem[] = [];
  for (const p of pages) d.decodePage(p, cpu, out);
  return out;
}

function events(items: RawItem[]): RawRecord[] {
  return items.filter((i): i is RawRecord => i.kind === 'event');
}

describe('RawPageDecoder on hand-built pages', () => {
  it('decodes a record: common header, pointer as hex, byte arrays, host-order ports', () => {
    const [r, ...rest] = decode([encodePage(1000n, [{ kind: 'data', delta: 5, payload: inetPayload(SAMPLE, 4242, 0x11, 0x12) }])]);
    expect(rest).toEqual([]);
    expect(r).toEqual({
      kind: 'event', cpu: 0, timestampNs: 1005n, eventId: INET.id, event: 'inet_sock_set_state', pid: 4242,
      flags: decodeFlags('d.s21'),
      fields: {
        skaddr: '0xffff888104f8ae40', oldstate: 2, newstate: 1, sport: 51234, dport: 8080, family: 2, protocol: 6,
        saddr: V4, daddr: V4, saddr_v6: new Uint8Array(16), daddr_v6: new Uint8Array(16),
      },
    });
  });

  it('applies deltas, time extends, absolute stamps and discarded-event padding to the running time', () => {
    const p = inetPayload(SAMPLE, 1);
    const ts = (items: RawItem[]) => events(items).map((r) => r.timestampNs);
    const page = encodePage(10_000n, [
      { kind: 'data', delta: 0, payload: p }, // 10_000
      { kind: 'data', delta: 7, payload: p }, // 10_007
      { kind: 'pad', delta: 3, bytes: 72 }, // a discarded event: later deltas count from it
      { kind: 'data', delta: 2, payload: p }, // 10_012
      { kind: 'extend', delta: (5n << 27n) | 11n },
      { kind: 'data', delta: 0, payload: p }, // 10_012 + 5·2^27 + 11
      { kind: 'abs', ts: 123_456_789_012n },
      { kind: 'data', delta: 1, payload: p }, // 123_456_789_013
    ]);
    expect(ts(decode([page]))).toEqual([10_000n, 10_007n, 10_012n, 10_023n + (5n << 27n), 123_456_789_013n]);
  });

  it('restores the top 5 bits of an absolute stamp from the running time (rb_fix_abs_ts)', () => {
    const top = 1n << 60n;
    const p = inetPayload(SAMPLE, 1);
    const page = encodePage(top + 500n, [{ kind: 'data', delta: 0, payload: p }, { kind: 'abs', ts: 900n }, { kind: 'data', delta: 0, payload: p }]);
    expect(events(decode([page])).map((r) => r.timestampNs)).toEqual([top + 500n, top + 900n]);
    // Stored bits below the running time: the 59-bit counter wrapped.
    const wrapped = encodePage(top + 500n, [{ kind: 'abs', ts: 100n }, { kind: 'data', delta: 0, payload: p }]);
    expect(events(decode([wrapped])).map((r) => r.timestampNs)).toEqual([top + (1n << 59n) + 100n]);
  });

  it('decodes __data_loc strings and long records (type_len 0)', () => {
    const long = `/usr/lib/${'x'.repeat(150)}/bin/node`;
    const items = events(decode([encodePage(0n, [{ kind: 'data', delta: 1, payload: execPayload('/bin/true', 77) }, { kind: 'data', delta: 1, payload: execPayload(long, 78) }])]));
    expect(items.map((r) => r.fields)).toEqual([
      { filename: '/bin/true', pid: 77, old_pid: 76 },
      { filename: long, pid: 78, old_pid: 77 },
    ]);
  });

  it('reports missed events before the records of the page, with the stored count or null', () => {
    const p = inetPayload(SAMPLE, 1);
    const stored = decode([encodePage(50n, [{ kind: 'data', delta: 1, payload: p }], { missed: 1234 })]);
    expect(stored.map((i) => i.kind)).toEqual(['lost', 'event']);
    expect(stored[0]).toEqual({ kind: 'lost', cpu: 0, timestampNs: 50n, count: 1234 });
    const unstored = decode([encodePage(50n, [{ kind: 'data', delta: 1, payload: p }], { missed: 'unstored' })]);
    expect(unstored[0]).toEqual({ kind: 'lost', cpu: 0, timestampNs: 50n, count: null });
    expect(unstored).toHaveLength(2);
  });

  it('stops at the commit of a partial page and at end-of-page padding', () => {
    const p = inetPayload(SAMPLE, 1);
    // Bytes after the commit are junk (0xa5): only the committed record may be decoded.
    expect(events(decode([encodePage(0n, [{ kind: 'data', delta: 1, payload: p }], { junk: true })]))).toHaveLength(1);
    const nullPad = encodePage(0n, [{ kind: 'data', delta: 1, payload: p }, { kind: 'pad', delta: 0, bytes: 0 }, { kind: 'data', delta: 1, payload: p }]);
    expect(events(decode([nullPad]))).toHaveLength(1);
    expect(decode([Buffer.alloc(PAGE)])).toEqual([]);
  });

  it('counts records of unknown events and rejects corrupt pages', () => {
    const d = new RawPageDecoder(HEADER, [EXEC]);
    const out: RawItem[] = [];
    d.decodePage(encodePage(0n, [{ kind: 'data', delta: 1, payload: inetPayload(SAMPLE, 1) }]), 0, out);
    expect(out).toEqual([]);
    expect(d.unknownRecords).toBe(1);
    const bad = encodePage(0n, []);
    bad.writeUInt32LE(PAGE, 8);
    expect(() => d.decodePage(bad, 1, out)).toThrow(RawPageError);
    const overrun = encodePage(0n, [{ kind: 'data', delta: 1, payload: inetPayload(SAMPLE, 1) }]);
    overrun.writeUInt32LE(40, 8);
    expect(() => d.decodePage(overrun, 1, out)).toThrow(/overruns commit 40/);
  });
});

describe('hexPointer', () => {
  it('is the pointer in hex, whatever its recent ones were (its cache is by slot)', () => {
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    fc.assert(fc.property(fc.array(fc.tuple(fc.constantFrom(0, 0xffff8881, 0xffff8880), u32), { minLength: 1, maxLength: 3000 }), (ptrs) => {
      for (const [hi, lo] of [...ptrs, ...ptrs]) expect(hexPointer(hi, lo)).toBe(`0x${((BigInt(hi) << 32n) | BigInt(lo)).toString(16)}`);
    }), { numRuns: 50 });
  });
});

describe('rawFlags', () => {
  it('renders common_flags/preempt_count like trace_print_lat_fmt and decodes them like text', () => {
    expect(rawFlags(0, 0).raw).toBe('.....');
    expect(rawFlags(0x01 | 0x04 | 0x20 | 0x10, 0x02).raw).toBe('dNs2.');
    expect(rawFlags(0x80 | 0x01 | 0x08 | 0x10, 0x21).raw).toBe('D.H12');
    expect(rawFlags(0x80 | 0x40 | 0x08, 0).raw).toBe('b.Z..');
    expect(rawFlags(0x02, 0).raw).toBe('.l...');
    expect(rawFlags(0x04, 0xf).raw).toBe('.n.f.');
    expect(rawFlags(0x10, 1)).toEqual(decodeFlags('..s1.'));
    expect(rawFlags(0x10, 1)).toBe(rawFlags(0x10, 1));
    expect(Object.isFrozen(rawFlags(0x10, 1))).toBe(true);
  });
});

describe('round trip (fast-check)', () => {
  const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
  const rec = fc.record({
    delta: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.bigInt({ min: 0n, max: 1n << 40n })),
    pid: fc.integer({ min: -1, max: 0x7fffffff }),
    flags: fc.integer({ min: 0, max: 255 }),
    preempt: fc.integer({ min: 0, max: 255 }),
    pad: fc.boolean(),
    abs: fc.boolean(),
    values: fc.record({
      skaddr: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      oldstate: fc.integer({ min: -5, max: 20 }), newstate: fc.integer({ min: -5, max: 20 }),
      sport: fc.integer({ min: 0, max: 65535 }), dport: fc.integer({ min: 0, max: 65535 }),
      family: fc.constantFrom(2, 10), protocol: fc.constantFrom(6, 132),
      saddr: bytes(4), daddr: bytes(4), saddr_v6: bytes(16), daddr_v6: bytes(16),
    }),
  });

  it('random record sequences encoded into pages decode back equal', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 1n << 50n }), fc.array(rec, { maxLength: 120 }), (start, recs) => {
        // Fill pages like the writer: deltas over 27 bits take a time-extend, a page starts with delta 0.
        const pages: Buffer[] = [];
        const expected: { ts: bigint; pid: number; values: InetValues; flags: number; preempt: number }[] = [];
        let ts = start;
        let pageTs = start;
        let evs: Ev[] = [];
        let used = 0;
        const flush = () => {
          pages.push(encodePage(pageTs, evs));
          evs = [];
          used = 0;
        };
        for (const r of recs) {
          const d = BigInt(r.delta);
          ts += d;
          const data: Ev = { kind: 'data', delta: 0, payload: inetPayload(r.values, r.pid, r.flags, r.preempt) };
          // A discarded event 1 ns before the record (its delta counts); big gaps take an extend or an absolute stamp.
          const pad = r.pad && d >= 1n;
          const need = evSize(data) + 8 + (pad ? 76 : 0);
          if (used + need > PAGE - 16) flush();
          const rel = pad ? d - 1n : d;
          const pre: Ev[] = pad ? [{ kind: 'pad', delta: 1, bytes: 72 }] : [];
          if (evs.length === 0) {
            pageTs = pad ? ts - 1n : ts;
            evs.push(...pre, data);
          } else if (rel < 1n << 27n) {
            evs.push(...pre, { ...data, delta: Number(rel) });
          } else {
            evs.push(...pre, r.abs ? { kind: 'abs', ts } : { kind: 'extend', delta: rel }, data);
          }
          used += need;
          expected.push({ ts, pid: r.pid, values: r.values, flags: r.flags, preempt: r.preempt });
        }
        if (evs.length > 0) flush();
        const got = events(decode(pages));
        expect(got.map((g) => g.timestampNs)).toEqual(expected.map((e) => e.ts));
        expect(got.map((g) => g.pid)).toEqual(expected.map((e) => e.pid));
        expect(got.map((g) => g.flags)).toEqual(expected.map((e) => rawFlags(e.flags, e.preempt)));
        expect(got.map((g) => g.fields)).toEqual(expected.map((e) => ({ ...e.values, skaddr: `0x${e.values.skaddr.toString(16)}` })));
      }),
      { numRuns: 200 },
    );
  });
});

describe('real pages recorded on the 6.18 host', () => {
  const pages = (cpu: number) => {
    const all = readFileSync(join(RAW, `cpu${cpu}.pages`));
    return Array.from({ length: all.length / PAGE }, (_, i) => all.subarray(i * PAGE, (i + 1) * PAGE));
  };
  const text = parseTraceText(readFileSync(join(RAW, 'inet_sock_set_state.trace'), 'utf8'));

  it('decode to the same events as the text of a second instance, per CPU in order', () => {
    for (const cpu of [0, 1]) {
      const raw = events(decode(pages(cpu), [INET], cpu));
      const lines = text.filter((l) => l.cpu === cpu);
      expect(raw.length).toBeGreaterThan(100);
      expect(raw.length).toBe(lines.length);
      const fromRaw = raw.map((r) => ({ ...decodeInetSockSetStateRaw(r), skaddr: null }));
      expect(fromRaw).toEqual(lines.map(decodeInetSockSetState));
      expect(raw.map((r) => r.pid)).toEqual(lines.map((l) => l.pid));
      expect(raw.map((r) => r.flags.raw)).toEqual(lines.map((l) => l.flags));
      raw.forEach((r, i) => {
        // The same event recorded into two buffers µs apart (the text prints µs).
        const diff = r.timestampNs - timestampNs((lines[i] as { timestamp: string }).timestamp);
        expect(diff > -1_000_000n && diff < 1_000_000n).toBe(true);
        if (i > 0) expect(r.timestampNs >= (raw[i - 1] as RawRecord).timestampNs).toBe(true);
      });
    }
  });

  it('RawTraceReader.drain() merges the CPUs in time order (fake instance dir of regular files)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'probefleet-raw-'));
    try {
      mkdirSync(join(dir, 'events', 'sock', 'inet_sock_set_state'), { recursive: true });
      writeFileSync(join(dir, 'events', 'header_page'), readFileSync(join(RAW, 'header_page')));
      writeFileSync(join(dir, 'events', 'sock', 'inet_sock_set_state', 'format'), readFileSync(join(RAW, 'inet_sock_set_state.format')));
      writeFileSync(join(dir, 'set_event'), 'sock:inet_sock_set_state\n');
      writeFileSync(join(dir, 'buffer_subbuf_size_kb'), '4\n');
      for (const cpu of [0, 1]) {
        mkdirSync(join(dir, 'per_cpu', `cpu${cpu}`), { recursive: true });
        writeFileSync(join(dir, 'per_cpu', `cpu${cpu}`, 'trace_pipe_raw'), readFileSync(join(RAW, `cpu${cpu}.pages`)));
      }
      const reader = await RawTraceReader.open(dir);
      expect(reader.cpus).toEqual([0, 1]);
      expect(reader.pageSize).toBe(PAGE);
      const merged = events(await reader.drain());
      expect(merged).toHaveLength(text.length);
      const sorted = [...merged].sort((a, b) => (a.timestampNs < b.timestampNs ? -1 : a.timestampNs > b.timestampNs ? 1 : 0));
      expect(merged.map((r) => r.timestampNs)).toEqual(sorted.map((r) => r.timestampNs));
      expect(new Set(merged.map((r) => r.cpu))).toEqual(new Set([0, 1]));
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('tcp_set_state kprobe records (format of Debian 6.12)', () => {
  // The kernel-lab probe names the big-endian port `dport`; tcpSetStateProbe() names it `dport_be`
  // (same fetch, same u16 type), so the real format is used with that one name changed.
  const dir = join(KERNELS, '6.12.117+deb12-amd64');
  const format = parseEventFormat(readFileSync(join(dir, 'formats', 'tcp_set_state'), 'utf8').replace(' dport;', ' dport_be;'));
  const hits = parseTraceText(readFileSync(join(dir, 'trace'), 'utf8'))
    .filter((l) => l.event === 'tcp_set_state')
    .map((l) => {
      const { dport, ...rest } = l.fields;
      return { ...l, fields: { ...rest, dport_be: dport as string } };
    });
  const off = new Map(format.fields.map((f) => [f.name, f.offset]));
  const at = (name: string) => off.get(name) as number;

  /** The record the kernel wrote for a text hit: the values the text printed, at the format's offsets. */
  function payload(f: Record<string, string>, pid: number): Buffer {
    const b = Buffer.alloc(76);
    commonHeader(b, format.id, pid);
    b.writeBigUInt64LE(0xffffffff81234564n, at('__probe_ip'));
    b.writeBigUInt64LE(BigInt(f['sk'] as string), at('sk'));
    b.writeInt32LE(Number(f['newstate']), at('newstate'));
    b.writeUInt16LE(Number(f['family']), at('family'));
    b.writeUInt8(Number(f['oldstate']), at('oldstate'));
    b.writeUInt16LE(Number(f['sport']), at('sport'));
    b.writeUInt16LE(Number(f['dport_be']), at('dport_be'));
    b.writeUInt32LE(Number(f['saddr']), at('saddr'));
    b.writeUInt32LE(Number(f['daddr']), at('daddr'));
    const arr = (s: string) => s.slice(1, -1).split(',').map(Number);
    b.set(arr(f['saddr6'] as string), at('saddr6'));
    b.set(arr(f['daddr6'] as string), at('daddr6'));
    return b;
  }

  it('decodeTcpSetStateRaw agrees with decodeTcpSetStateHit on every hit of the capture', () => {
    expect(hits.length).toBeGreaterThan(10);
    const page = encodePage(0n, hits.map((h) => ({ kind: 'data' as const, delta: 1, payload: payload(h.fields, h.pid) })));
    const raw = events(decode([page], [format]));
    expect(raw).toHaveLength(hits.length);
    expect(raw[0]?.fields['__probe_ip']).toBe(0xffffffff81234564n);
    expect(raw.map(decodeTcpSetStateRaw)).toEqual(hits.map(decodeTcpSetStateHit));
    expect(new Set(raw.map((r) => decodeTcpSetStateRaw(r).family))).toEqual(new Set(['AF_INET', 'AF_INET6']));
    // The probe's direct decoder: the same changes, in RawRecord.decoded, no field map.
    const direct = events(decode([page], [format], 0, new RawPageDecoder(HEADER, [format], new Map([[format.name, tcpSetStateDecoder]]))));
    expect(direct.map((r) => r.decoded)).toEqual(hits.map(decodeTcpSetStateHit));
    expect(direct.every((r) => Object.keys(r.fields).length === 0)).toBe(true);
  });

  it('inetSockSetStateDecoder gives what decodeInetSockSetStateRaw gives, on every recorded record, and skips what it cannot report', () => {
    const pages = [0, 1].flatMap((cpu) => {
      const all = readFileSync(join(RAW, `cpu${cpu}.pages`));
      return Array.from({ length: all.length / PAGE }, (_, i) => all.subarray(i * PAGE, (i + 1) * PAGE));
    });
    const generic = events(decode(pages, [INET]));
    const d = new RawPageDecoder(HEADER, [INET], new Map([[INET.name, inetSockSetStateDecoder]]));
    const direct = events(decode(pages, [INET], 0, d));
    expect(generic.length).toBeGreaterThan(400);
    expect(direct.map((r) => r.decoded)).toEqual(generic.map(decodeInetSockSetStateRaw));
    const one = (payload: Buffer) => events(decode([encodePage(0n, [{ kind: 'data', delta: 0, payload }])], [INET], 0, d));
    expect(one(inetPayload({ ...SAMPLE, family: 10, saddr_v6: V6_LOOP, daddr_v6: V6_LOOP }, 1))[0]?.decoded).toMatchObject({ family: 'AF_INET6', saddr: '::1', daddr: '::1' });
    const skipped = d.skippedRecords;
    expect([...one(inetPayload({ ...SAMPLE, protocol: 132 }, 1)), ...one(inetPayload({ ...SAMPLE, newstate: 13 }, 1)), ...one(inetPayload({ ...SAMPLE, family: 1 }, 1))]).toEqual([]);
    expect(d.skippedRecords - skipped).toBe(3);
  });

  it('decodeInetSockSetStateRaw: IPv6 addresses, non-TCP is null, bad values throw', () => {
    const v6 = { ...SAMPLE, family: 10, saddr_v6: V6_LOOP, daddr_v6: V6_LOOP };
    const [r] = events(decode([encodePage(0n, [{ kind: 'data', delta: 0, payload: inetPayload(v6, 1) }])]));
    expect(decodeInetSockSetStateRaw(r as RawRecord)).toEqual({
      skaddr: '0xffff888104f8ae40', family: 'AF_INET6', saddr: '::1', daddr: '::1', sport: 51234, dport: 8080,
      oldstate: 'TCP_SYN_SENT', newstate: 'TCP_ESTABLISHED',
    });
    const [sctp] = events(decode([encodePage(0n, [{ kind: 'data', delta: 0, payload: inetPayload({ ...SAMPLE, protocol: 132 }, 1) }])]));
    expect(decodeInetSockSetStateRaw(sctp as RawRecord)).toBeNull();
    const [bad] = events(decode([encodePage(0n, [{ kind: 'data', delta: 0, payload: inetPayload({ ...SAMPLE, newstate: 13 }, 1) }])]));
    expect(() => decodeInetSockSetStateRaw(bad as RawRecord)).toThrow(RangeError);
  });
});
