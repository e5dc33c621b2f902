// tcp_rollups: per-minute and per-hour transition counts by (host, old state, new state, service
// port), kept longer than raw rows; they answer /api/v1/stats/transitions and Grafana's rate panels.
// tcp_rollups_fleet: the same counts summed over the fleet, by (old state, new state) only, so that
// stats without a host read a few rows per bucket instead of one per host and port.
import type { TcpHitEvent } from '@probefleet/events';
import type { PoolClient } from 'pg';

const RESOLUTIONS = [60, 3600] as const;

/** Per-minute and per-hour transition counts of a batch, per host and for the fleet, written as increments. */
export class Rollups {
  private readonly counts = new Map<string, number>();
  private readonly fleet = new Map<string, number>();

  count(h: TcpHitEvent, port: number): void {
    const ms = Date.parse(h.time.slice(0, 19) + 'Z');
    for (const resolution of RESOLUTIONS) {
      const bucket = new Date(ms - (ms % (resolution * 1000))).toISOString();
      const states = `${h.data.args.oldstate}|${h.data.args.newstate}`;
      add(this.counts, `${resolution}|${bucket}|${h.host}|${states}|${port}`);
      add(this.fleet, `${resolution}|${bucket}|${states}`);
    }
  }

  /**
   * The host rows, then the fleet rows. Fleet rows are shared by every aggregator: each batch locks
   * them in one (sorted) order, so concurrent batches wait for each other there but never deadlock;
   * the caller writes them last, so they are held only until its commit.
   */
  async write(client: PoolClient): Promise<void> {
    if (this.counts.size === 0) return;
    await client.query(
      `INSERT INTO tcp_rollups AS t (resolution, bucket, host, old_state, new_state, service_port, count)
       SELECT (r->>0)::int, (r->>1)::timestamptz, r->>2, (r->>3)::tcp_state, (r->>4)::tcp_state, (r->>5)::int, (r->>6)::bigint
         FROM jsonb_array_elements($1::jsonb) AS r
       ON CONFLICT (host, resolution, bucket, old_state, new_state, service_port) DO UPDATE SET count = t.count + excluded.count`,
      [rowsOf(this.counts)]);
    await client.query(
      `INSERT INTO tcp_rollups_fleet AS t (resolution, bucket, old_state, new_state, count)
       SELECT (r->>0)::int, (r->>1)::timestamptz, (r->>2)::tcp_state, (r->>3)::tcp_state, (r->>4)::bigint
         FROM jsonb_array_elements($1::jsonb) AS r
       ON CONFLICT (resolution, bucket, old_state, new_state) DO UPDATE SET count = t.count + excluded.count`,
      [rowsOf(this.fleet)]);
  }
}

function add(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/** The counts as a JSON array of rows, sorted by key: concurrent batches lock shared rows in one order. */
function rowsOf(counts: ReadonlyMap<string, number>): string {
  const rows = [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, n]) => [...k.split('|'), n]);
  return JSON.stringify(rows);
}
