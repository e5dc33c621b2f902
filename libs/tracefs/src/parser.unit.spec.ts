import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  decodeFlags,
  parseArrayField,
  parseProbeLocation,
  parseTraceLine,
  parseTraceText,
  timestampNs,
  TraceLineError,
} from './parser';

const FIXTURES = join(__dirname, '../../../test/fixtures/traces');
const fixture = (f: string) => readFileSync(join(FIXTURES, f), 'utf8');

describe('parseTraceLine on real captures', () => {
  it('parses every record of the 6.1, 6.12 and host traces (counts from the headers)', () => {
    // `entries-in-buffer/entries-written: N/N` in each header.
    expect(parseTraceText(fixture('kprobe-6.1.0-56-amd64.txt'))).toHaveLength(114);
    expect(parseTraceText(fixture('kprobe-6.12.107-amd64.txt'))).toHaveLength(158);
    expect(parseTraceText(fixture('kprobe-extra-6.12.107-amd64.txt'))).toHaveLength(180);
    expect(parseTraceText(fixture('host-6.18-tgid.txt'))).toHaveLength(12);
  });

  it('splits a kprobe hit: header, location, fields, arrays', () => {
    const line =
      '              nc-136     [000] ..s2.     4.555132: tss_offs: (tcp_set_state+0x0/0x1f0) family=10 oldstate=3 newstate=1 sport=5555 dport_be=22169 saddr=0x100007f daddr=0x100007f saddr6={0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0xff,0xff,0x7f,0x0,0x0,0x1} daddr6={0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0xff,0xff,0x7f,0x0,0x0,0x1}';
    const hit = parseTraceLine(line);
    expect(hit).toMatchObject({
      task: 'nc', pid: 136, tgid: null, cpu: 0, flags: '..s2.', timestamp: '4.555132', event: 'tss_offs',
      location: 'tcp_set_state+0x0/0x1f0',
    });
    expect(hit?.fields).toEqual({
      family: '10', oldstate: '3', newstate: '1', sport: '5555', dport_be: '22169', saddr: '0x100007f', daddr: '0x100007f',
      saddr6: '{0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0xff,0xff,0x7f,0x0,0x0,0x1}',
      daddr6: '{0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0xff,0xff,0x7f,0x0,0x0,0x1}',
    });
    expect(parseArrayField(hit?.fields['saddr6'] ?? '')).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 127, 0, 0, 1]);
    expect(parseProbeLocation(hit?.location ?? '')).toEqual({ symbol: 'tcp_set_state', offset: 0, size: 0x1f0, returnTo: null });
  });

  it('handles a ksoftirqd task, return-probe locations and $comm strings', () => {
    const lines = parseTraceText(fixture('kprobe-6.1.0-56-amd64.txt'));
    const ks = lines.find((l) => l.task === 'ksoftirqd/0');
    expect(ks).toMatchObject({ pid: 14, flags: '..s1.' });
    const ret = lines.find((l) => l.event === 'tss_ret');
    expect(ret?.location).toBe('tcp_v4_connect+0x266/0x4f0 <- tcp_set_state');
    expect(parseProbeLocation(ret?.location ?? '')).toEqual({
      symbol: 'tcp_set_state', offset: 0, size: null, returnTo: 'tcp_v4_connect+0x266/0x4f0',
    });
    expect(ret?.fields).toEqual({ ret: '0x0' });

    const extra = parseTraceText(fixture('kprobe-extra-6.12.107-amd64.txt'));
    expect(extra.find((l) => l.event === 'x_comm')?.fields).toEqual({ comm: 'nc' });
    expect(extra.find((l) => l.event === 'x_retnoargs')?.fields).toEqual({});
    expect(parseProbeLocation(extra.find((l) => l.event === 'x_v6')?.location ?? '').offset).toBe(4);
  });

  it('reads the TGID column and comms with spaces and dashes (host 6.18)', () => {
    const lines = parseTraceText(fixture('host-6.18-tgid.txt'));
    expect(lines[0]).toMatchObject({ task: 'my worker-1', pid: 9880, tgid: 9880, cpu: 1, timestamp: '397.272103' });
    expect(lines[1]).toMatchObject({ task: 'kworker/0:1-ev', pid: 9943, tgid: 9880, cpu: 0 });
    expect(lines[1]?.fields['saddrv6']).toBe('::ffff:127.0.0.1');
  });

  it('handles the synthetic edge cases', () => {
    const [idle, kworker, unknownTgid, bigPid] = parseTraceText(fixture('synthetic-edge-cases.txt'));
    expect(idle).toMatchObject({ task: '<idle>', pid: 0, cpu: 1, flags: 'd.h1.' });
    // Longer than the 16-column comm field: found via the [cpu] column instead.
    expect(kworker).toMatchObject({ task: 'kworker/0:1-events', pid: 77, event: 'x_comm' });
    expect(kworker?.fields['comm']).toBe('a b \\"c');
    expect(unknownTgid).toMatchObject({ task: 'my worker-1', pid: 9880, tgid: null, flags: 'bn.2f' });
    expect(bigPid).toMatchObject({ task: 'java', pid: 123456789, cpu: 3, timestamp: '1234567.123456789' });
    expect(timestampNs(bigPid?.timestamp ?? '')).toBe(1234567123456789n);
  });

  it('skips comments and blank lines, refuses garbage', () => {
    expect(parseTraceLine('# tracer: nop')).toBeNull();
    expect(parseTraceLine('#              | |         |   |||||     |         |')).toBeNull();
    expect(parseTraceLine('')).toBeNull();
    expect(parseTraceLine('   ')).toBeNull();
    expect(() => parseTraceLine('hello world')).toThrow(TraceLineError);
    expect(() => parseTraceLine('              nc-136     [000] ..s2.')).toThrow(TraceLineError);
  });

  it('keeps words of a value with spaces in the same field', () => {
    const hit = parseTraceLine(
      '          <idle>-0       [001] d..2.   100.000001: sched_switch: prev_comm=my worker-1 prev_pid=12 prev_prio=120',
    );
    expect(hit?.fields).toEqual({ prev_comm: 'my worker-1', prev_pid: '12', prev_prio: '120' });
  });
});

describe('typed helpers', () => {
  it('decodes latency flags', () => {
    expect(decodeFlags('..s2.')).toEqual({
      raw: '..s2.', irqsOff: false, bhDisabled: false, needResched: false, context: 'softirq', nested: false,
      preemptDepth: 2, migrateDisable: 0,
    });
    expect(decodeFlags('dNh1.')).toMatchObject({ irqsOff: true, needResched: true, context: 'hardirq', preemptDepth: 1 });
    expect(decodeFlags('D.Z..')).toMatchObject({ irqsOff: true, bhDisabled: true, context: 'nmi', nested: true });
    expect(decodeFlags('b.Hf3')).toMatchObject({ irqsOff: false, bhDisabled: true, context: 'hardirq', nested: true, preemptDepth: 15, migrateDisable: 3 });
    expect(decodeFlags('d..1')).toMatchObject({ migrateDisable: null, preemptDepth: 1 });
  });

  it('converts timestamps to exact ns', () => {
    expect(timestampNs('4.173408')).toBe(4173408000n);
    expect(timestampNs('0.000001')).toBe(1000n);
    expect(timestampNs('9007199.254740993')).toBe(9007199254740993n);
    expect(timestampNs('123456789')).toBe(123456789n);
    expect(() => timestampNs('1.0000000001')).toThrow(RangeError);
  });

  it('timestamps round-trip for any seconds and microseconds', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.integer({ min: 0, max: 999_999 }), (s, us) => {
        expect(timestampNs(`${s}.${String(us).padStart(6, '0')}`)).toBe(s * 1_000_000_000n + BigInt(us) * 1000n);
      }),
    );
  });

  it('parses any well-formed header the kernel can print', () => {
    const commArb = fc.stringMatching(/^[A-Za-z0-9/:<>_. -]{1,15}$/).filter((c) => c.trim() === c && c.length > 0);
    fc.assert(
      fc.property(commArb, fc.integer({ min: 0, max: 4194304 }), fc.integer({ min: 0, max: 511 }), (comm, pid, cpu) => {
        const line = `${comm.padStart(16)}-${String(pid).padEnd(7)} [${String(cpu).padStart(3, '0')}] ..s2.   12.345678: ev: a=1 b="x y"`;
        expect(parseTraceLine(line)).toMatchObject({ task: comm, pid, cpu, event: 'ev', fields: { a: '1', b: 'x y' } });
      }),
    );
  });
});
