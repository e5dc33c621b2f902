import { msBetween, timeToNs } from './time';

describe('time', () => {
  it('keeps nanoseconds', () => {
    expect(timeToNs('1970-01-01T00:00:01.000000007Z')).toBe(1_000_000_007n);
    expect(msBetween('2026-11-25T10:00:00.999999999Z', '2026-11-25T10:00:01.000000499Z')).toBeCloseTo(0.0005, 9);
  });
  it('refuses what is not a time', () => {
    expect(() => timeToNs('yesterday')).toThrow(/not an RFC 3339 UTC time/);
  });
});
