// The one codec of the envelope's `time`: RFC 3339 UTC with nine fractional digits
// ("2026-11-25T19:52:23.123456789Z"), written by the agent and the simulator, read by projections.

let cachedSecond = -1n;
let cachedPrefix = '';

/**
 * Nanoseconds since the epoch → `2026-11-25T19:52:23.123456789Z`. The `YYYY-MM-DDTHH:MM:SS.` part
 * is cached for the last second seen: consecutive events nearly always share it, and
 * `Date#toISOString` was most of the cost.
 */
export function rfc3339Nanos(epochNs: bigint): string {
  const second = epochNs / 1_000_000_000n;
  if (second !== cachedSecond) {
    cachedPrefix = `${new Date(Number(second) * 1000).toISOString().slice(0, 19)}.`;
    cachedSecond = second;
  }
  const frac = Number(epochNs - second * 1_000_000_000n);
  return `${cachedPrefix}${frac < 100_000_000 ? String(frac + 1_000_000_000).slice(1) : frac}Z`;
}

/** Nanoseconds since the Unix epoch of an envelope `time` ("2026-11-25T19:52:23.123456789Z"). */
export function timeToNs(time: string): bigint {
  const seconds = Date.parse(`${time.slice(0, 19)}Z`);
  if (Number.isNaN(seconds)) throw new RangeError(`not an RFC 3339 UTC time: ${time}`);
  const fraction = time.slice(20, -1).padEnd(9, '0');
  return BigInt(seconds) * 1_000_000n + BigInt(fraction);
}

/**
 * timeToNs as decimal text: for a nine-digit time after the epoch, the ms from its digits followed by
 * the six digits below the ms, with neither Date.parse nor BigInt (the store writes one per state).
 */
export function timeToNsText(time: string): string {
  if (time.length === 30 && time.charCodeAt(19) === 46) {
    const ms = timeToMs(time);
    if (ms > 0) return `${ms}${time.slice(23, 29)}`;
  }
  return timeToNs(time).toString();
}

/** An ISO 8601 / RFC 3339 instant (any offset, any precision) → nanoseconds since the epoch. */
export function parseInstant(text: string): bigint {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new RangeError(`not a date-time: ${text}`);
  const frac = /\.(\d+)(?:Z|[+-]\d\d:?\d\d)$/i.exec(text)?.[1] ?? '';
  const subMs = BigInt(frac.slice(3, 9).padEnd(6, '0'));
  return BigInt(ms) * 1_000_000n + subMs;
}

const digit = (s: string, i: number) => s.charCodeAt(i) - 48;
const two = (s: string, i: number) => digit(s, i) * 10 + digit(s, i + 1);

/**
 * Milliseconds since the epoch of an envelope `time`, read from its digits: the store reads one
 * per event several times over, and Date.parse of a sliced copy allocates and parses text.
 * Days from the civil date as in Howard Hinnant's `days_from_civil`.
 */
export function timeToMs(time: string): number {
  let y = two(time, 0) * 100 + two(time, 2);
  const m = two(time, 5);
  if (m <= 2) y--;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + two(time, 8) - 1;
  const days = era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
  const ms = digit(time, 20) * 100 + two(time, 21);
  return ((days * 24 + two(time, 11)) * 60 + two(time, 14)) * 60000 + two(time, 17) * 1000 + ms;
}
