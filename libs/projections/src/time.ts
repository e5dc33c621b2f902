// Envelope times are read with @probefleet/events' codec (the one the agent writes them with).
import { rfc3339Nanos, timeToMs, timeToNs } from '@probefleet/events';

export { timeToNs };

/** Below this many ms apart (~104 days) the difference in ns is exact as a double. */
const EXACT_MS = 9e9;

/** The ns within the ms of a 9-digit envelope time ("….123456789Z" → 456789), read from its digits. */
function subMsNs(t: string): number {
  let n = 0;
  for (let i = 23; i < 29; i++) n = n * 10 + (t.charCodeAt(i) - 48);
  return n;
}

/** Milliseconds between two envelope times, as a float with nanosecond resolution. */
export function msBetween(from: string, to: string): number {
  // Per hit in the store: read from the digits (no Date.parse, no BigInt) when both have nine
  // fractional digits and the result is exact, which gives the same double as the BigInt path.
  if (from.length === 30 && to.length === 30) {
    const ms = timeToMs(to) - timeToMs(from);
    if (ms < EXACT_MS && ms > -EXACT_MS) return (ms * 1e6 + (subMsNs(to) - subMsNs(from))) / 1e6;
  }
  return Number(timeToNs(to) - timeToNs(from)) / 1e6;
}

/** Nanoseconds since the Unix epoch → envelope `time` (the agent's own codec). */
export const nsToTime: (ns: bigint) => string = rfc3339Nanos;
