import fc from 'fast-check';
import { rfc3339Nanos } from '@probefleet/events';
import { msBetween, timeToNs } from './time';

describe('time', () => {
  it('keeps nanoseconds', () => {
    expect(timeToNs('1970-01-01T00:00:01.000000007Z')).toBe(1_000_000_007n);
    expect(msBetween('2026-11-25T10:00:00.999999999Z', '2026-11-25T10:00:01.000000499Z')).toBeCloseTo(0.0005, 9);
  });
  it('refuses what is not a time', () => {
    expect(() => timeToNs('yesterday')).toThrow(/not an RFC 3339 UTC time/);
  });
  it('msBetween read from the digits is the very double of the nanosecond difference', () => {
    const ns = fc.bigInt({ min: 0n, max: 4_102_444_800n * 1_000_000_000n }); // 1970 .. 2100
    fc.assert(fc.property(ns, ns, fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }), (a, b, near) => {
      for (const to of [b, a + near < 0n ? a : a + near]) {
        expect(msBetween(rfc3339Nanos(a), rfc3339Nanos(to))).toBe(Number(to - a) / 1e6);
      }
    }), { numRuns: 2000 });
  });
});
