/** A timestamptz column as RFC 3339 UTC text with 9 digits (µs + "000"): comparable as text with envelope times. */
export const rfc3339 = (column: string): string => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"000Z"')`;

/** An envelope time as PostgreSQL takes it, to the microsecond (it would round the nanoseconds, which travel apart). */
export const micros = (time: string): string => `${time.slice(0, 26)}Z`;
