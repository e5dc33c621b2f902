/** Nanoseconds since the epoch → RFC 3339 UTC with nine fractional digits, as the agent writes `time`. */
export function rfc3339Nanos(epochNs: bigint): string {
  const iso = new Date(Number(epochNs / 1_000_000n)).toISOString();
  return `${iso.slice(0, 19)}.${(epochNs % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}

/** An ISO 8601 / RFC 3339 instant → nanoseconds since the epoch (fraction digits beyond ms kept). */
export function parseInstant(text: string): bigint {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new RangeError(`not a date-time: ${text}`);
  const frac = /\.(\d+)(?:Z|[+-]\d\d:?\d\d)$/i.exec(text)?.[1] ?? '';
  const subMs = BigInt(frac.slice(3, 9).padEnd(6, '0'));
  return BigInt(ms) * 1_000_000n + subMs;
}
