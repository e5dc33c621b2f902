import { Prisma } from '../generated/prisma/client';
// Keyset cursors: the sort key of a page's last row, opaque to clients (base64url of a JSON array
// of strings). A cursor names a position, not an offset, so rows arriving meanwhile never shift pages.

export function encodeCursor(parts: readonly string[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

/** The parts of a cursor, or undefined when it is not one of ours. */
export function decodeCursor(cursor: string): string[] | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  try {
    const parts: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    return Array.isArray(parts) && parts.every((p) => typeof p === 'string') ? parts : undefined;
  } catch {
    return undefined;
  }
}

export interface Page<T> { items: T[]; nextCursor: string | null }

/**
 * A page from `limit + 1` fetched rows: the extra row only says there is more; the cursor is the
 * last returned row's key.
 */
export function toPage<R, T>(rows: readonly R[], limit: number, key: (row: R) => string[], item: (row: R) => T): Page<T> {
  const returned = rows.slice(0, limit);
  const last = returned[returned.length - 1];
  return { items: returned.map(item), nextCursor: rows.length > limit && last !== undefined ? encodeCursor(key(last)) : null };
}

export type Order = 'asc' | 'desc';

/**
 * Rows after a (time, id) cursor in page order, for a timestamptz column named by the caller (a
 * constant, never user input). The plain time bound beside the row comparison lets the
 * (x, time) indexes seek to the cursor.
 */
export function afterTimeCursor(column: 'time' | 'opened_at', c: { time: string; id: bigint }, order: Order): Prisma.Sql {
  const col = Prisma.raw(column);
  return order === 'desc'
    ? Prisma.sql`${col} <= ${c.time}::timestamptz AND (${col}, id) < (${c.time}::timestamptz, ${c.id}::bigint)`
    : Prisma.sql`${col} >= ${c.time}::timestamptz AND (${col}, id) > (${c.time}::timestamptz, ${c.id}::bigint)`;
}

/** ORDER BY (time column, id) in page order. */
export function timeOrder(column: 'time' | 'opened_at', order: Order): Prisma.Sql {
  return Prisma.raw(order === 'desc' ? `${column} DESC, id DESC` : `${column} ASC, id ASC`);
}

/** A timestamptz as RFC 3339 UTC with microseconds (PostgreSQL's resolution), in SQL. */
export function utcText(column: 'time' | 'opened_at' | 'closed_at'): Prisma.Sql {
  return Prisma.raw(`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`);
}
