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
