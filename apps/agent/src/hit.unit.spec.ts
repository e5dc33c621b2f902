import { rawFlags, type RawRecord } from '@probefleet/tracefs';
import { argConverter, hitData } from './hit';
import { CommResolver } from './comm';

describe('user probe args from raw fields', () => {
  it('types values as the text output printed them', () => {
    expect(argConverter('s32')(-5)).toBe(-5);
    expect(argConverter('u64')(42n)).toBe(42);
    expect(argConverter('u64')(18446744073709551615n)).toBe('18446744073709551615');
    expect(argConverter('s64')(-9007199254740993n)).toBe('-9007199254740993');
    expect(argConverter('x64')(0xff27638dc2219300n)).toBe('0xff27638dc2219300');
    expect(argConverter('x32')(0x100007f)).toBe('0x100007f');
    expect(argConverter('x8[4]')(new Uint8Array([0, 1, 0xff, 16]))).toBe('{0x0,0x1,0xff,0x10}');
    expect(argConverter('u16[2]')([1, 2])).toBe('{1,2}');
    expect(argConverter('string')('bash')).toBe('bash');
    expect(argConverter('char')(65)).toBe("'A'");
    expect(argConverter('b4@2/8')(5)).toBe('5');
  });
});

describe('hitData', () => {
  it('maps record flags to the hit context and keeps the probe.hit shape', () => {
    const r: RawRecord = { kind: 'event', cpu: 1, timestampNs: 5n, eventId: 9, event: 'x', pid: 7, flags: rawFlags(0x10 | 0x08, 2), fields: {}, decoded: undefined };
    expect(hitData('x', r, 'curl', { a: 1 })).toEqual({
      probe: 'x', cpu: 1, pid: 7, comm: 'curl', args: { a: 1 },
      ctx: { irqsOff: false, needResched: false, hardirq: true, softirq: true, nmi: false, preemptDepth: 2 },
    });
  });
});

describe('CommResolver', () => {
  const ev = (pid: number): RawRecord => ({ kind: 'event', cpu: 0, timestampNs: 0n, eventId: 1, event: 'e', pid, flags: rawFlags(0, 0), fields: {}, decoded: undefined });

  it('reloads saved_cmdlines on a missing pid (throttled) and when old; names pid 0 and unknown pids like the kernel', async () => {
    let t = 0;
    const loads: number[] = [];
    const maps = [new Map([[10, 'a']]), new Map([[10, 'a'], [11, 'b']]), new Map([[10, 'renamed'], [11, 'b']])];
    const c = new CommResolver(async () => maps[loads.push(t) - 1] ?? new Map(), 1000, 50, () => t);
    await c.prepare([ev(10)]);
    expect(c.comm(10)).toBe('a');
    expect(c.comm(0)).toBe('<idle>');
    t = 10;
    await c.prepare([ev(11)]); // missing, but refreshed 10 ms ago
    expect(c.comm(11)).toBe('<...>');
    t = 60;
    await c.prepare([ev(11)]);
    expect(c.comm(11)).toBe('b');
    t = 500;
    await c.prepare([ev(10), ev(11), ev(0)]); // all known: no reload
    t = 1100;
    await c.prepare([ev(10)]); // old: reload
    expect(c.comm(10)).toBe('renamed');
    expect(loads).toEqual([0, 60, 1100]);
  });
});
