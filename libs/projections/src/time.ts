/** Nanoseconds since the Unix epoch of an envelope `time` ("2026-11-25T19:52:23.123456789Z"). */
export function timeToNs(time: string): bigint {
  const seconds = Date.parse(`${time.slice(0, 19)}Z`);
  if (Number.isNaN(seconds)) throw new RangeError(`not an RFC 3339 UTC time: ${time}`);
  const fraction = time.slice(20, -1).padEnd(9, '0');
  return BigInt(seconds) * 1_000_000n + BigInt(fraction);
}

/** Milliseconds between two envelope times, as a float with nanosecond resolution. */
export function msBetween(from: string, to: string): number {
  return Number(timeToNs(to) - timeToNs(from)) / 1e6;
}

/** Nanoseconds since the Unix epoch → envelope `time` (RFC 3339 UTC, nine fractional digits). */
export function nsToTime(ns: bigint): string {
  const seconds = ns / 1_000_000_000n;
  const fraction = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${fraction}Z`;
}
