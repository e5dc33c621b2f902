// COPY … FROM STDIN in PostgreSQL's text format: the cheapest way to append many rows, inside the
// caller's transaction. Values are spelled here once (NULL, escapes, arrays).
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

export type CopyValue = string | number | bigint | boolean | null;

/** NULL in COPY's text format. */
export const COPY_NULL = '\\N';

const SPECIAL = /[\\\t\n\r]/;

/** A text value as COPY's text format reads it: backslash, tab, newline and carriage return escaped. */
export function copyText(s: string): string {
  if (!SPECIAL.test(s)) return s;
  return s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

export function copyValue(v: CopyValue): string {
  if (v === null) return COPY_NULL;
  if (typeof v === 'string') return copyText(v);
  if (typeof v === 'boolean') return v ? 't' : 'f';
  return String(v);
}

/** A PostgreSQL array literal of numbers, enum labels or NULLs (no element needs quoting). */
export function arrayLiteral(values: readonly (string | number | bigint | null)[]): string {
  return `{${values.map((v) => (v === null ? 'NULL' : String(v))).join(',')}}`;
}

const ARRAY_SPECIAL = /[\\"]/;

/**
 * A PostgreSQL array literal of text values, each quoted (NULL for null): for array parameters the
 * server casts (text[], uuid[], inet[]...). Cheaper than the driver's conversion, which escapes every
 * element with two regular expressions; numbers and enum labels take arrayLiteral.
 */
export function quotedArrayLiteral(values: readonly (string | null)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (i > 0) out += ',';
    out += v === null ? 'NULL' : `"${ARRAY_SPECIAL.test(v) ? v.replace(/[\\"]/g, '\\$&') : v}"`;
  }
  return `${out}}`;
}

/** Streams `lines` (each a row, tab-separated, newline-terminated) into `table (columns)`. */
export async function copyLines(client: PoolClient, table: string, columns: readonly string[], lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  const stream = client.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN`));
  // Chunks of ~256 KiB: one write per row costs more than the encoding.
  async function* chunks() {
    let chunk = '';
    for (const line of lines) {
      chunk += line;
      if (chunk.length >= 1 << 18) {
        yield chunk;
        chunk = '';
      }
    }
    if (chunk) yield chunk;
  }
  await pipeline(Readable.from(chunks()), stream);
}

export function copyLine(values: readonly CopyValue[]): string {
  let line = copyValue(values[0]!);
  for (let i = 1; i < values.length; i++) line += `\t${copyValue(values[i]!)}`;
  return `${line}\n`;
}
