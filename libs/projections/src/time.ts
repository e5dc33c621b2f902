// Envelope times are read with @probefleet/events' codec (the one the agent writes them with).
import { rfc3339Nanos, timeToNs } from '@probefleet/events';

export { timeToNs };

/** Milliseconds between two envelope times, as a float with nanosecond resolution. */
export function msBetween(from: string, to: string): number {
  return Number(timeToNs(to) - timeToNs(from)) / 1e6;
}

/** Nanoseconds since the Unix epoch → envelope `time` (the agent's own codec). */
export const nsToTime: (ns: bigint) => string = rfc3339Nanos;
