// Envelope times are read with @probefleet/events' codec (the one the agent writes them with).
import { timeToNs } from '@probefleet/events';

export { timeToNs };

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
