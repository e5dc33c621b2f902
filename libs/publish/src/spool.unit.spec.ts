import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as fc from 'fast-check';
import { encodeFrames, encodeLineFrames, HEADER_BYTES, scanFrame, V2_HEADER_BYTES } from './frame';
import { Spool, type SpoolOptions } from './spool';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'spool-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const opts = (dir: string, over: Partial<SpoolOptions> = {}): SpoolOptions => ({ dir, maxBytes: 1 << 20, segmentBytes: 1 << 16, fsync: 'never', ...over });
const rec = (s: string) => Buffer.from(s);
const readAll = (s: Spool) => s.read(Number.MAX_SAFE_INTEGER).map((r) => r.payload.toString());
const segmentFiles = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('seg-')).sort();

describe('frame', () => {
  it('round-trips records and rejects torn, oversized and garbled frames', () => {
    const buf = encodeFrames([rec('a'), rec('hello')]);
    const a = scanFrame(buf, 0, true);
    expect(a).toMatchObject({ ok: true, next: HEADER_BYTES + 1 });
    if (!a.ok) throw new Error('unreachable');
    expect(a.payload.toString()).toBe('a');
    expect(scanFrame(buf, a.next, true)).toMatchObject({ ok: true, next: buf.length });
    expect(scanFrame(buf.subarray(0, buf.length - 1), a.next, true)).toMatchObject({ ok: false, reason: 'incomplete' });
    const flipped = Buffer.from(buf);
    flipped.writeUInt8(flipped.readUInt8(flipped.length - 1) ^ 0xff, flipped.length - 1);
    expect(scanFrame(flipped, a.next, true)).toMatchObject({ ok: false, reason: 'bad crc' });
    expect(scanFrame(Buffer.alloc(16), 0, true)).toMatchObject({ ok: false, reason: 'bad length' });
    expect(() => encodeFrames([Buffer.alloc(0)])).toThrow(RangeError);
  });
});

describe('v2 frame (line + stream position)', () => {
  it('carries the tag and seq, checks them under the CRC, and reads back after v1 frames of an older agent', () => {
    const buf = encodeLineFrames([{ line: 'wörk', tag: 0xdeadbeef, seq: 2 ** 40 }, { line: 'b', tag: 1, seq: 2 }]);
    const a = scanFrame(buf, 0, true);
    expect(a).toMatchObject({ ok: true, next: V2_HEADER_BYTES + 5, tag: 0xdeadbeef, seq: 2 ** 40 });
    if (!a.ok) throw new Error('unreachable');
    expect(a.payload.toString()).toBe('wörk');
    const flipped = Buffer.from(buf);
    flipped.writeUInt32LE(7, 12); // the seq, not the payload
    expect(scanFrame(flipped, 0, true)).toMatchObject({ ok: false, reason: 'bad crc' });

    const dir = tempDir();
    const s = Spool.open(opts(dir));
    s.append([rec('old-1')]);
    s.appendLines([{ line: 'new-1', tag: 5, seq: 9 }]);
    s.close();
    const r = Spool.open(opts(dir));
    expect(r.repaired.corruptTails).toEqual([]);
    expect(r.read(1 << 20).map((x) => [x.payload.toString(), x.tag, x.seq])).toEqual([['old-1', undefined, undefined], ['new-1', 5, 9]]);
    r.close();
  });
});

describe('Spool', () => {
  it.each(['always', 'batch', 'never'] as const)('reads back appended records in order (fsync %s)', (fsync) => {
    const s = Spool.open(opts(tempDir(), { fsync }));
    s.append([rec('one'), rec('two')]);
    s.append([rec('three')]);
    expect(readAll(s)).toEqual(['one', 'two', 'three']);
    expect(s.read(100)).toEqual([]);
    s.close();
  });

  it('read() respects the byte budget but always returns at least one record', () => {
    const s = Spool.open(opts(tempDir()));
    s.append([rec('x'.repeat(100)), rec('y'.repeat(100)), rec('z')]);
    expect(s.read(10).map((r) => r.payload.length)).toEqual([100]);
    expect(s.read(2 * (HEADER_BYTES + 100)).map((r) => r.payload.length)).toEqual([100, 1]);
    s.close();
  });

  it('persists the ack cursor: a reopen re-reads only the unacked records, and acked segments are deleted', () => {
    const dir = tempDir();
    const s = Spool.open(opts(dir, { segmentBytes: 32 }));
    for (let i = 0; i < 10; i++) s.append([rec(`record-${i}`)]);
    expect(segmentFiles(dir).length).toBeGreaterThan(3);
    const read = s.read(Number.MAX_SAFE_INTEGER);
    s.ack((read[5] as { end: { segment: number; offset: number } }).end);
    expect(segmentFiles(dir).length).toBeLessThan(10);
    s.close();
    const again = Spool.open(opts(dir, { segmentBytes: 32 }));
    expect(again.repaired).toEqual({ corruptTails: [], ackCursorLost: false });
    expect(readAll(again)).toEqual(['record-6', 'record-7', 'record-8', 'record-9']);
    again.close();
  });

  it('keeps the cursor as one 64-byte block rewritten in place, and still reads the earlier unpadded file', () => {
    const dir = tempDir();
    const s = Spool.open(opts(dir));
    for (let i = 0; i < 4; i++) s.append([rec(`record-${i}`)]);
    const read = s.read(Number.MAX_SAFE_INTEGER);
    const cursor = join(dir, 'ack.json');
    const inode = statSync(cursor).ino;
    s.ack((read[0] as { end: { segment: number; offset: number } }).end);
    s.ack((read[1] as { end: { segment: number; offset: number } }).end);
    expect(statSync(cursor)).toMatchObject({ ino: inode, size: 64 });
    expect(JSON.parse(readFileSync(cursor, 'utf8'))).toEqual((read[1] as { end: object }).end);
    s.close();
    writeFileSync(cursor, JSON.stringify((read[2] as { end: object }).end));
    const again = Spool.open(opts(dir));
    expect(again.repaired.ackCursorLost).toBe(false);
    expect(readAll(again)).toEqual(['record-3']);
    again.close();
  });

  it('full turns on at maxBytes of unacked records and off once they are acked', () => {
    const s = Spool.open(opts(tempDir(), { maxBytes: 3 * (HEADER_BYTES + 10) }));
    s.append([rec('0123456789'), rec('0123456789')]);
    expect(s.full).toBe(false);
    s.append([rec('0123456789')]);
    expect(s.full).toBe(true);
    expect(s.unackedBytes).toBe(3 * (HEADER_BYTES + 10));
    const [first] = s.read(1);
    s.ack((first as { end: { segment: number; offset: number } }).end);
    expect(s.full).toBe(false);
    s.close();
  });

  it.each([
    ['a torn last record', (f: string) => appendFileSync(f, encodeFrames([rec('torn-record')]).subarray(0, 12)), 'incomplete'],
    ['a bad CRC', (f: string) => {
      const buf = readFileSync(f);
      buf.writeUInt8(buf.readUInt8(buf.length - 1) ^ 0x01, buf.length - 1);
      writeFileSync(f, buf);
    }, 'bad crc'],
    ['zeroes after a crash', (f: string) => appendFileSync(f, Buffer.alloc(64)), 'bad length'],
  ])('cuts off %s on open, reports it, and keeps working', (_what, damage, reason) => {
    const dir = tempDir();
    const s = Spool.open(opts(dir));
    s.append([rec('good-1'), rec('good-2')]);
    s.close();
    const file = join(dir, segmentFiles(dir)[0] as string);
    const goodSize = statSync(file).size;
    damage(file);
    const damaged = statSync(file).size;
    const again = Spool.open(opts(dir));
    const [tail] = again.repaired.corruptTails;
    expect(tail).toMatchObject({ file, reason });
    expect(readAll(again)).toEqual(reason === 'bad crc' ? ['good-1'] : ['good-1', 'good-2']);
    expect((tail as { offset: number }).offset + (tail as { droppedBytes: number }).droppedBytes).toBe(damaged);
    expect(statSync(file).size).toBeLessThanOrEqual(goodSize);
    again.append([rec('after')]);
    expect(readAll(again)).toEqual(['after']);
    again.close();
    expect(Spool.open(opts(dir)).repaired.corruptTails).toEqual([]);
  });

  it('an unreadable ack cursor means re-sending everything left (duplicates, not loss)', () => {
    const dir = tempDir();
    const s = Spool.open(opts(dir));
    s.append([rec('a'), rec('b')]);
    s.ack((s.read(1)[0] as { end: { segment: number; offset: number } }).end);
    s.close();
    writeFileSync(join(dir, 'ack.json'), '{garbage');
    const again = Spool.open(opts(dir));
    expect(again.repaired.ackCursorLost).toBe(true);
    expect(readAll(again)).toEqual(['a', 'b']);
    again.close();
  });

  it('reads what this process appended from memory as from disk: by budget, across segments, beyond what it keeps', () => {
    const dir = tempDir();
    const o = opts(dir, { maxBytes: 1 << 30, segmentBytes: 1 << 20 });
    const s = Spool.open(o);
    // ~6 MiB unread: more than the spool keeps in memory, so the first reads come from disk.
    const lines = Array.from({ length: 3000 }, (_, i) => ({ line: `${i}:${'x'.repeat(1000 + (i % 1500))}`, tag: i % 3, seq: i }));
    for (let i = 0; i < lines.length; i += 1 + (i % 97)) s.appendLines(lines.slice(i, i + 1 + (i % 97)));
    const drain = (sp: Spool, budget: number) => {
      const got: string[] = [];
      for (let batch = sp.read(budget); batch.length > 0; batch = sp.read(budget)) got.push(...batch.map((r) => `${r.tag}/${r.seq}/${r.payload.toString()}`));
      return got;
    };
    const expected = lines.map((l) => `${l.tag}/${l.seq}/${l.line}`);
    expect(drain(s, 100_000)).toEqual(expected);
    s.appendLines(lines.slice(0, 10));
    expect(drain(s, 5000)).toEqual(expected.slice(0, 10));
    s.close();
    const reopened = Spool.open(o);
    expect(drain(reopened, 100_000)).toEqual([...expected, ...expected.slice(0, 10)]);
    reopened.close();
  });

  it('property: no sequence of append / read+ack / reopen loses or reorders an unacked record', () => {
    type Op = { kind: 'append'; n: number } | { kind: 'ack'; take: number } | { kind: 'reopen' };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('append' as const), n: fc.integer({ min: 1, max: 5 }) }),
      fc.record({ kind: fc.constant('ack' as const), take: fc.integer({ min: 0, max: 8 }) }),
      fc.constant({ kind: 'reopen' as const }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.constantFrom('always', 'batch', 'never' as const), (ops, fsync) => {
        const dir = tempDir();
        const o = opts(dir, { segmentBytes: 40, fsync });
        let spool = Spool.open(o);
        let next = 0;
        let model: string[] = []; // unacked, in order
        let pendingRead: { payload: string; end: { segment: number; offset: number } }[] = [];
        for (const step of ops) {
          if (step.kind === 'append') {
            const batch = Array.from({ length: step.n }, () => `r${next++}`);
            spool.append(batch.map(rec));
            model.push(...batch);
          } else if (step.kind === 'ack') {
            pendingRead.push(...spool.read(Number.MAX_SAFE_INTEGER).map((r) => ({ payload: r.payload.toString(), end: r.end })));
            // What was read comes in order right after what was acked before.
            expect(pendingRead.map((r) => r.payload)).toEqual(model.slice(0, pendingRead.length));
            const acked = pendingRead.slice(0, Math.min(step.take, pendingRead.length));
            const last = acked[acked.length - 1];
            if (last) spool.ack(last.end);
            model = model.slice(acked.length);
            pendingRead = pendingRead.slice(acked.length);
          } else {
            spool.close();
            spool = Spool.open(o);
            pendingRead = [];
          }
        }
        spool.close();
        const final = Spool.open(o);
        expect(final.repaired.corruptTails).toEqual([]);
        expect(readAll(final)).toEqual(model);
        final.close();
        rmSync(dir, { recursive: true, force: true });
      }),
      { numRuns: 150 },
    );
  });
});
