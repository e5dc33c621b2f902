// Sealing: once a time partition's range has ended (and a grace for late events has passed), its
// indexes are rebuilt once with REINDEX CONCURRENTLY (reads and writes go on meanwhile). Why: while
// a day is written, its btrees take rows at many points at once (the primary key at every host's
// newest entry, the address and port indexes everywhere); a page that fills there splits in the
// middle and keeps ~50-70 % of its room for entries that never come. Rebuilt from sorted entries,
// the pages are packed. A sealed day takes almost no new rows (only late ones within retention),
// so its btrees are rebuilt at fillfactor 100 rather than btree's default 90, which keeps room on
// every leaf page for inserts that do not come. Every seal is recorded in partition_seals.
import type { Pool } from 'pg';
import { PARTITIONED, partitionsOf, type PartitionedTable } from './partitions';

export interface Seal {
  partition: string;
  table: PartitionedTable;
  indexBytesBefore: number;
  indexBytesAfter: number;
}

/**
 * Seals every partition whose range ended at least `graceMs` before `nowMs` and that is not sealed
 * yet, oldest first; returns what it sealed. One partition at a time (a rebuild takes one core).
 */
export async function sealEnded(pool: Pool, nowMs: number, graceMs: number): Promise<Seal[]> {
  const { rows } = await pool.query<{ partition: string }>('SELECT partition FROM partition_seals');
  const sealed = new Set(rows.map((r) => r.partition));
  const due = (await Promise.all((Object.keys(PARTITIONED) as PartitionedTable[]).map(async (table) =>
    (await partitionsOf(pool, table)).map((p) => ({ ...p, table })))))
    .flat()
    .filter((p) => p.to + graceMs <= nowMs && !sealed.has(p.name))
    .sort((a, b) => a.to - b.to || a.name.localeCompare(b.name));
  const done: Seal[] = [];
  for (const p of due) done.push(await seal(pool, p.name, p.table, p.to, nowMs));
  return done;
}

async function seal(pool: Pool, partition: string, table: PartitionedTable, rangeTo: number, nowMs: number): Promise<Seal> {
  const size = async () => Number((await pool.query<{ b: string }>('SELECT pg_indexes_size($1::regclass) AS b', [`"${partition}"`])).rows[0]!.b);
  // An earlier rebuild that was interrupted (a stop, a lost connection) leaves its new copies behind,
  // invalid and unattached: drop them first, as PostgreSQL's REINDEX documentation advises.
  const { rows: leftovers } = await pool.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = $1::regclass AND NOT i.indisvalid`, [`"${partition}"`]);
  for (const { name } of leftovers) await pool.query(`DROP INDEX CONCURRENTLY IF EXISTS "${name}"`);
  const before = await size();
  // fillfactor is read when an index is built; SHARE UPDATE EXCLUSIVE, so reads and writes go on.
  const { rows: btrees } = await pool.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
      WHERE i.indrelid = $1::regclass AND a.amname = 'btree'`, [`"${partition}"`]);
  for (const { name } of btrees) await pool.query(`ALTER INDEX "${name}" SET (fillfactor = 100)`);
  await pool.query(`REINDEX TABLE CONCURRENTLY "${partition}"`);
  const after = await size();
  await pool.query(
    `INSERT INTO partition_seals (partition, table_name, range_to, index_bytes_before, index_bytes_after, sealed_at)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (partition) DO NOTHING`,
    [partition, table, new Date(rangeTo).toISOString(), before, after, new Date(nowMs).toISOString()]);
  return { partition, table, indexBytesBefore: before, indexBytesAfter: after };
}
