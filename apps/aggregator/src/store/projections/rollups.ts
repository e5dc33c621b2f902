// tcp_rollups: per-minute and per-hour transition counts by (host, old state, new state, service
// port), kept longer than raw rows; they answer /api/v1/stats/transitions and Grafana's rate panels.
// tcp_rollups_fleet: the same counts summed over the fleet, by (old state, new state) only, so that
// stats without a host read a few rows per bucket instead of one per host and port.
import { tcpStateName, tcpStateNumber, type TcpHitEvent, type TcpStateName } from '@probefleet/events';
import type { PoolClient } from 'pg';
import { arrayLiteral, quotedArrayLiteral } from '../copy';

// A bucket is a prefix of the envelope time's text (minute, hour) and the suffix that makes it an
// instant again: no date arithmetic per hit.
const MINUTE = 16;
const HOUR = 13;

// (old state, new state, service port) as one small integer: a hit costs one Map update by number.
const PORTS = 65537; // -1..65535
const code = (old: TcpStateName, next: TcpStateName, port: number) => (tcpStateNumber(old) * 16 + tcpStateNumber(next)) * PORTS + port + 1;
const statesOf = (c: number) => Math.floor(c / PORTS);

type Counts = Map<number, number>;

function add(counts: Counts, key: number, n: number): void {
  counts.set(key, (counts.get(key) ?? 0) + n);
}

function within<K, V>(m: Map<K, V>, k: K, make: () => V): V {
  let v = m.get(k);
  if (v === undefined) m.set(k, (v = make()));
  return v;
}

/** Per-minute and per-hour transition counts of a batch, per host and for the fleet, written as increments. */
export class Rollups {
  /** minute text → host → code → count: the only per-hit work; hours and the fleet are summed from it at write. */
  private readonly minutes = new Map<string, Map<string, Counts>>();
  private lastMinute = '';
  private lastHosts: Map<string, Counts> | undefined;

  count(h: TcpHitEvent, port: number): void {
    let hosts = this.lastHosts;
    // Consecutive hits nearly always share the minute: compared in place, not sliced.
    if (hosts === undefined || !h.time.startsWith(this.lastMinute)) {
      this.lastMinute = h.time.slice(0, MINUTE);
      hosts = this.lastHosts = within(this.minutes, this.lastMinute, () => new Map());
    }
    add(within(hosts, h.host, () => new Map()), code(h.data.args.oldstate, h.data.args.newstate, port), 1);
  }

  /**
   * The host rows, then the fleet rows. Fleet rows are shared by every aggregator: each batch locks
   * them in one (sorted) order, so concurrent batches wait for each other there but never deadlock;
   * the caller writes them last, so they are held only until its commit.
   */
  async write(client: PoolClient): Promise<void> {
    if (this.minutes.size === 0) return;
    const hours = new Map<string, Map<string, Counts>>();
    for (const [minute, hosts] of this.minutes) {
      const hour = within(hours, minute.slice(0, HOUR), () => new Map<string, Counts>());
      for (const [host, counts] of hosts) {
        const into = within(hour, host, () => new Map());
        for (const [c, n] of counts) add(into, c, n);
      }
    }
    const rows: Row[] = [];
    const fleet: Row[] = [];
    for (const [seconds, suffix, buckets] of [[60, ':00Z', this.minutes], [3600, ':00:00Z', hours]] as const) {
      for (const [prefix, hosts] of buckets) {
        const bucket = `${prefix}${suffix}`;
        const summed: Counts = new Map();
        for (const [host, counts] of hosts) {
          for (const [c, n] of counts) {
            rows.push({ seconds, bucket, host, c, n });
            add(summed, statesOf(c), n);
          }
        }
        for (const [s, n] of summed) fleet.push({ seconds, bucket, host: '', c: s * PORTS, n });
      }
    }
    await client.query(
      `INSERT INTO tcp_rollups AS t (resolution, bucket, host, old_state, new_state, service_port, count)
       SELECT * FROM unnest($1::int[], $2::timestamptz[], $3::text[], $4::tcp_state[], $5::tcp_state[], $6::int[], $7::bigint[])
       ON CONFLICT (host, resolution, bucket, old_state, new_state, service_port) DO UPDATE SET count = t.count + excluded.count`,
      columnsOf(rows, true));
    await client.query(
      `INSERT INTO tcp_rollups_fleet AS t (resolution, bucket, old_state, new_state, count)
       SELECT * FROM unnest($1::int[], $2::timestamptz[], $3::tcp_state[], $4::tcp_state[], $5::bigint[])
       ON CONFLICT (resolution, bucket, old_state, new_state) DO UPDATE SET count = t.count + excluded.count`,
      columnsOf(fleet, false));
  }
}

interface Row { seconds: number; bucket: string; host: string; c: number; n: number }

const byKey = (a: Row, b: Row) => a.seconds - b.seconds || (a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : 0)
  || (a.host < b.host ? -1 : a.host > b.host ? 1 : 0) || a.c - b.c;

/** The rows as one array literal per column, sorted by key: concurrent batches lock shared rows in one order. */
function columnsOf(rows: Row[], withHost: boolean): string[] {
  rows.sort(byKey);
  const old = rows.map((r) => tcpStateName(statesOf(r.c) >> 4)!);
  const next = rows.map((r) => tcpStateName(statesOf(r.c) & 15)!);
  return [
    arrayLiteral(rows.map((r) => r.seconds)), arrayLiteral(rows.map((r) => r.bucket)),
    ...(withHost ? [quotedArrayLiteral(rows.map((r) => r.host))] : []), arrayLiteral(old), arrayLiteral(next),
    ...(withHost ? [arrayLiteral(rows.map((r) => (r.c % PORTS) - 1))] : []), arrayLiteral(rows.map((r) => r.n)),
  ];
}
