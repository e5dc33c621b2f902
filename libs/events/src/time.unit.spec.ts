import fc from 'fast-check';
import { rfc3339Nanos, timeToMs, timeToNs, timeToNsText } from './index';

describe('timeToMs', () => {
  it('agrees with Date.parse on every envelope time (1970-9999, leap days; nanoseconds dropped)', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: 253402300799999n * 1_000_000n + 999_999n }), (ns) => {
      const time = rfc3339Nanos(ns);
      expect(timeToMs(time)).toBe(Date.parse(`${time.slice(0, 23)}Z`));
    }), { numRuns: 5000 });
  });

  it('reads known instants', () => {
    expect(timeToMs('1970-01-01T00:00:00.000000000Z')).toBe(0);
    expect(timeToMs('2024-02-29T23:59:59.999999999Z')).toBe(Date.UTC(2024, 1, 29, 23, 59, 59, 999));
    expect(timeToMs('2026-11-25T19:52:23.123456789Z')).toBe(Number(timeToNs('2026-11-25T19:52:23.123456789Z') / 1_000_000n));
  });
});

describe('timeToNsText', () => {
  it('is timeToNs in decimal on every envelope time, and on shorter fractions', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: 253402300799999n * 1_000_000n + 999_999n }), (ns) => {
      expect(timeToNsText(rfc3339Nanos(ns))).toBe(ns.toString());
    }), { numRuns: 5000 });
    expect(timeToNsText('2026-11-25T19:52:23.5Z')).toBe(timeToNs('2026-11-25T19:52:23.5Z').toString());
  });
});
