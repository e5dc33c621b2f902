// tcp_rollups: per-minute and per-hour transition counts by (host, old state, new state, service
// port), kept longer than raw rows; they answer /api/v1/stats/transitions and Grafana's rate panels.
import type { TcpHitEvent } from '@probefleet/events';
import type { PoolClient } from 'pg';

/** Per-minute and per-hour transition counts of a batch, written as increments. */
export class Rollups {
  private readonly counts = new Map<string, number>();

  count(h: TcpHitEvent, port: number): void {
    const ms = Date.parse(h.time.slice(0, 19) + 'Z');
    for (const resolution of [60, 3600]) {
      const bucket = new Date(ms - (ms % (resolution * 1000))).toISOString();
      const k = `${resolution}|${bucket}|${h.host}|${h.data.args.oldstate}|${h.data.args.newstate}|${port}`;
      this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
    }
  }

  async write(client: PoolClient): Promise<void> {
    if (this.counts.size === 0) return;
    const rows = [...this.counts].map(([k, n]) => [...k.split('|'), n]);
    // Sorted by key: concurrent batches of different hosts never meet, and of one host lock in one order.
    rows.sort((a, b) => (a.join('|') < b.join('|') ? -1 : 1));
    await client.query(
      `INSERT INTO tcp_rollups AS t (resolution, bucket, host, old_state, new_state, service_port, count)
       SELECT (r->>0)::int, (r->>1)::timestamptz, r->>2, (r->>3)::tcp_state, (r->>4)::tcp_state, (r->>5)::int, (r->>6)::bigint
         FROM jsonb_array_elements($1::jsonb) AS r
       ON CONFLICT (host, resolution, bucket, old_state, new_state, service_port) DO UPDATE SET count = t.count + excluded.count`,
      [JSON.stringify(rows)]);
  }
}
