// tcp_rollups: per-minute and per-hour transition counts by (host, old state, new state, service
// port), kept longer than raw rows; they answer /api/v1/stats/transitions and Grafana's rate panels.
// tcp_rollups_fleet: the same counts summed over the fleet, by (old state, new state) only, so that
// stats without a host read a few rows per bucket instead of one per host and port.
import type { TcpHitEvent } from '@probefleet/events';
import type { PoolClient } from 'pg';

// Each resolution's bucket is a prefix of the envelope time's text (minute, hour) and the suffix
// that makes it an instant again: no date arithmetic per hit.
const RESOLUTIONS = [
  { seconds: 60, prefix: 16, suffix: ':00Z' },
  { seconds: 3600, prefix: 13, suffix: ':00:00Z' },
] as const;

/** Per-minute and per-hour transition counts of a batch, per host and for the fleet, written as increments. */
export class Rollups {
  private readonly counts = new Map<string, number>();
  private readonly fleet = new Map<string, number>();

  count(h: TcpHitEvent, port: number): void {
    const states = `${h.data.args.oldstate}|${h.data.args.newstate}`;
    for (const r of RESOLUTIONS) {
      const bucket = `${r.seconds}|${h.time.slice(0, r.prefix)}${r.suffix}`;
      add(this.counts, `${bucket}|${h.host}|${states}|${port}`);
      add(this.fleet, `${bucket}|${states}`);
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
       SELECT * FROM unnest($1::int[], $2::timestamptz[], $3::text[], $4::tcp_state[], $5::tcp_state[], $6::int[], $7::bigint[])
       ON CONFLICT (host, resolution, bucket, old_state, new_state, service_port) DO UPDATE SET count = t.count + excluded.count`,
      columnsOf(this.counts, 6));
    await client.query(
      `INSERT INTO tcp_rollups_fleet AS t (resolution, bucket, old_state, new_state, count)
       SELECT * FROM unnest($1::int[], $2::timestamptz[], $3::tcp_state[], $4::tcp_state[], $5::bigint[])
       ON CONFLICT (resolution, bucket, old_state, new_state) DO UPDATE SET count = t.count + excluded.count`,
      columnsOf(this.fleet, 4));
  }
}

function add(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/**
 * The counts as one array per column (the key's `width` parts, then the count), rows sorted by key:
 * concurrent batches lock shared rows in one order.
 */
function columnsOf(counts: ReadonlyMap<string, number>, width: number): (string | number)[][] {
  const columns: (string | number)[][] = Array.from({ length: width + 1 }, () => []);
  for (const [k, n] of [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const parts = k.split('|');
    for (let i = 0; i < width; i++) columns[i]!.push(parts[i]!);
    columns[width]!.push(n);
  }
  return columns;
}
