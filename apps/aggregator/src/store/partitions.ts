// Time partitions: created ahead of time and on demand (before a batch's transaction, so that
// batches never take the parent's lock among themselves), and dropped whole by retention — never a
// row-by-row DELETE. Every drop is recorded in retention_drops.
import type { Pool } from 'pg';

/** The partitioned tables and how they are cut (tcp_connections by closing day). */
export const PARTITIONED = {
  tcp_transitions: 'day',
  events: 'day',
  tcp_connections: 'day',
  tcp_rollups: 'month',
  tcp_rollups_fleet: 'month',
} as const;
export type PartitionedTable = keyof typeof PARTITIONED;

/** Tables with a retention of their own; tcp_rollups_fleet lives as long as tcp_rollups (probefleet_partition creates its partitions with those). */
export type RetainedTable = Exclude<PartitionedTable, 'tcp_rollups_fleet'>;
const retainedAs = (table: PartitionedTable): RetainedTable => (table === 'tcp_rollups_fleet' ? 'tcp_rollups' : table);

export interface RetentionPolicy {
  /** Days of raw rows kept, per table (tcp_rollups: the rollups' own, fleet ones included). */
  days: Record<RetainedTable, number>;
}

const DAY_MS = 86_400_000;

/** The first instant of the partition holding `ms` (UTC day or month). */
export function partitionStart(table: PartitionedTable, ms: number): number {
  if (PARTITIONED[table] === 'day') return ms - (((ms % DAY_MS) + DAY_MS) % DAY_MS);
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** The oldest time a table still keeps at `nowMs`: the start of the oldest partition retention leaves. */
export function horizon(table: PartitionedTable, policy: RetentionPolicy, nowMs: number): number {
  return partitionStart('tcp_transitions', nowMs) - policy.days[retainedAs(table)] * DAY_MS;
}

export class Partitions {
  private readonly known = new Set<string>();

  constructor(private readonly pool: Pool) {}

  /** Makes sure each (table, time) has its partition; one statement per partition not seen before. */
  async ensure(wanted: Iterable<[PartitionedTable, number]>): Promise<void> {
    for (const [table, ms] of wanted) {
      const k = `${table}|${partitionStart(table, ms)}`;
      if (this.known.has(k)) continue;
      await this.create(table, partitionStart(table, ms));
      this.known.add(k);
    }
  }

  private async create(table: PartitionedTable, start: number): Promise<void> {
    try {
      await this.pool.query('SELECT probefleet_partition($1, $2::timestamptz)', [table, new Date(start).toISOString()]);
    } catch (err) {
      // Two aggregators creating the same partition: the loser sees a duplicate; the partition exists.
      if (!['23505', '42P07'].includes((err as { code?: string }).code ?? '')) throw err;
    }
  }

  /** Partitions for today and the next `days` days (and this month's and next month's rollups). */
  async ahead(nowMs: number, days: number): Promise<void> {
    const wanted: [PartitionedTable, number][] = [];
    for (let d = 0; d <= days; d++) for (const t of ['tcp_transitions', 'events', 'tcp_connections'] as const) wanted.push([t, nowMs + d * DAY_MS]);
    wanted.push(['tcp_rollups', nowMs], ['tcp_rollups', nowMs + 31 * DAY_MS]);
    await this.ensure(wanted);
  }

  /**
   * Drops every partition that ends at or before its table's horizon, recording each, and closes
   * the open gaps retention made moot (detected before the horizon of the raw rows). Returns the
   * partitions dropped.
   */
  async dropExpired(policy: RetentionPolicy, nowMs: number): Promise<string[]> {
    const dropped: string[] = [];
    for (const table of Object.keys(PARTITIONED) as PartitionedTable[]) {
      const limit = horizon(table, policy, nowMs);
      for (const { name, from, to } of await partitionsOf(this.pool, table)) {
        if (to > limit) continue; // still within retention
        const client = await this.pool.connect();
        try {
          await client.query('BEGIN');
          const { rows: [count] } = await client.query(`SELECT count(*)::bigint AS n FROM "${name}"`);
          await client.query(
            `INSERT INTO retention_drops (table_name, partition, range_from, range_to, rows, dropped_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (partition) DO NOTHING`, [table, name, new Date(from).toISOString(), new Date(to).toISOString(), count.n, new Date(nowMs).toISOString()]);
          await client.query(`DROP TABLE "${name}"`);
          await client.query('DELETE FROM partition_seals WHERE partition = $1', [name]);
          await client.query('COMMIT');
          this.known.delete(`${table}|${from}`);
          dropped.push(name);
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        } finally {
          client.release();
        }
      }
    }
    if (dropped.length > 0) {
      await this.pool.query(`DELETE FROM stream_gaps WHERE closed_at IS NULL AND detected_at < $1`, [new Date(horizon('tcp_transitions', policy, nowMs)).toISOString()]);
    }
    return dropped;
  }
}

/** The range partitions of a table (events: of events_timed), with their bounds in ms; the default partition left out. */
export async function partitionsOf(pool: Pool, table: PartitionedTable): Promise<{ name: string; from: number; to: number }[]> {
  const { rows } = await pool.query<{ name: string; bound: string }>(
    `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = $1::regclass`, [table === 'events' ? 'events_timed' : table]);
  return rows.flatMap(({ name, bound }) => {
    const m = /FROM \('([^']+)'\) TO \('([^']+)'\)/.exec(bound);
    return m ? [{ name, from: Date.parse(m[1]!), to: Date.parse(m[2]!) }] : [];
  });
}

/** Where the store starts now: the latest end of a dropped partition of raw rows, if any. */
export async function storeStart(pool: Pool): Promise<string | null> {
  const { rows } = await pool.query(
    `SELECT to_char(max(range_to) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"000Z"') AS start FROM retention_drops WHERE table_name IN ('tcp_transitions', 'events')`);
  return rows[0].start;
}
