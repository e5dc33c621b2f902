// tcp_connections (tcplife) and tcp_rollups from the TCP hits a batch stores. Sockets are keyed by
// (host, boot, skaddr): the kernel reuses socket memory across lifetimes (libs/projections starts
// a new lifetime after TCP_CLOSE) and every boot starts afresh. Each hit's time in its old state is
// handed back: the transition row (the hit's stored form) carries it.
import { skaddrFromInt64, skaddrToInt64, type TcpHitEvent, type TcpStateName } from '@probefleet/events';
import { applyTransition, durationMs, nsToTime, timeToNs, type Connection, type StateVisit } from '@probefleet/projections';
import type { PoolClient } from 'pg';
import { arrayLiteral, copyLine, copyLines } from '../copy';
import { rfc3339 } from '../sql-time';
import type { Rollups } from './rollups';

interface OpenConnection { id: string | null; conn: Connection; bootId: string; host: string; instance: string; lastSeq: number }

const INBOUND_FIRST = new Set<TcpStateName>(['TCP_LISTEN', 'TCP_SYN_RECV', 'TCP_NEW_SYN_RECV']);

/** The port a connection serves: a listener's or an accepted socket's own port, else the remote one; -1 unknown. */
export function servicePort(c: Connection): number {
  const port = c.dport === 0 || INBOUND_FIRST.has(c.states[0]!.state) ? c.sport : c.dport;
  return port === 0 ? -1 : port;
}

export interface TcpOutcome {
  /** Per hit, in order: the ms it spent in its old state, when known. */
  msInOldState: (number | null)[];
}

export async function projectTcp(client: PoolClient, hits: readonly TcpHitEvent[], rollups: Rollups): Promise<TcpOutcome> {
  if (hits.length === 0) return { msInOldState: [] };
  const key = (host: string, bootId: string, skaddr: string) => `${host}|${bootId}|${skaddr}`;
  const wanted = [...new Map(hits.map((h) => [key(h.host, h.bootId, h.data.args.skaddr), h])).values()]
    .map((h) => [h.host, h.bootId, skaddrToInt64(h.data.args.skaddr).toString()]);
  // Open lifetimes live in the default partition (closed_at IS NULL prunes to it).
  const { rows } = await client.query(
    `SELECT c.id::text, c.host, c.boot_id::text, c.skaddr::text, c.family::text, host(c.saddr) AS saddr, host(c.daddr) AS daddr, c.sport, c.dport,
            c.states::text[] AS states, c.entered_ns::text[] AS entered_ns, c.state_ms, c.last_seq, c.instance::text,
            ${rfc3339('c.opened_at')} AS opened_text
       FROM tcp_connections c
       JOIN jsonb_array_elements($1::jsonb) AS k ON c.host = k->>0 AND c.boot_id = (k->>1)::uuid AND c.skaddr = (k->>2)::bigint
      WHERE c.closed_at IS NULL`,
    [JSON.stringify(wanted)]);
  const open = new Map<string, OpenConnection>();
  for (const r of rows) {
    const skaddr = skaddrFromInt64(BigInt(r.skaddr));
    const states: StateVisit[] = (r.states as TcpStateName[]).map((state, i) => ({
      state, enteredAt: r.entered_ns[i] === null ? null : nsToTime(BigInt(r.entered_ns[i])), ms: r.state_ms[i],
    }));
    open.set(key(r.host, r.boot_id, skaddr), {
      id: r.id, host: r.host, bootId: r.boot_id, instance: r.instance, lastSeq: Number(r.last_seq),
      conn: {
        skaddr, family: r.family, saddr: r.saddr, daddr: r.daddr, sport: r.sport, dport: r.dport,
        openedAt: states.find((s) => s.enteredAt !== null)?.enteredAt ?? r.opened_text, closedAt: null, states,
      },
    });
  }

  const msInOldState: (number | null)[] = [];
  const touched = new Set<OpenConnection>();
  for (const h of hits) {
    const args = h.data.args;
    const k = key(h.host, h.bootId, args.skaddr);
    const current = open.get(k);
    const out = applyTransition(current?.conn, args, h.time);
    msInOldState.push(out.msInOldState);
    const next: OpenConnection = out.opened || !current
      ? { id: null, conn: out.connection, bootId: h.bootId, host: h.host, instance: h.instance, lastSeq: h.seq }
      : Object.assign(current, { conn: out.connection, instance: h.instance, lastSeq: h.seq });
    touched.add(next);
    open.set(k, next);
    rollups.count(h, servicePort(out.connection));
  }

  const created = [...touched].filter((o) => o.id === null);
  await copyLines(client, 'tcp_connections', CONNECTION_COLUMNS, created.map(connectionLine));
  const updated = [...touched].filter((o) => o.id !== null);
  if (updated.length > 0) {
    // A lifetime that closes moves from the default partition into its closing day's.
    await client.query(
      `UPDATE tcp_connections AS c SET saddr = u.saddr, daddr = u.daddr, sport = u.sport, dport = u.dport, closed_at = u.closed_at,
              duration_ms = u.duration_ms, last_state = u.last_state, states = u.states, entered_ns = u.entered_ns, state_ms = u.state_ms,
              last_seq = u.last_seq, instance = u.instance
         FROM (SELECT (r->>0)::bigint AS id, r->>1 AS host, (r->>2)::inet AS saddr, (r->>3)::inet AS daddr, (r->>4)::int AS sport,
                      (r->>5)::int AS dport, (r->>6)::timestamptz AS closed_at, (r->>7)::float8 AS duration_ms, (r->>8)::tcp_state AS last_state,
                      (r->>9)::tcp_state[] AS states, (r->>10)::bigint[] AS entered_ns, (r->>11)::float8[] AS state_ms,
                      (r->>12)::bigint AS last_seq, (r->>13)::uuid AS instance
                 FROM jsonb_array_elements($1::jsonb) AS r) AS u
        WHERE c.closed_at IS NULL AND c.host = u.host AND c.id = u.id`,
      [JSON.stringify(updated.map(({ id, host, instance, lastSeq, conn: c }) => {
        const a = stateArrays(c.states);
        return [id, host, c.saddr, c.daddr, c.sport, c.dport, micros(c.closedAt), durationMs(c), c.states[c.states.length - 1]!.state,
          a.states, a.enteredNs, a.ms, lastSeq, instance];
      }))]);
  }
  return { msInOldState };
}

const CONNECTION_COLUMNS = ['host', 'boot_id', 'instance', 'skaddr', 'family', 'saddr', 'daddr', 'sport', 'dport', 'opened_at', 'closed_at',
  'duration_ms', 'last_state', 'states', 'entered_ns', 'state_ms', 'last_seq'];

function connectionLine({ host, bootId, instance, lastSeq, conn: c }: OpenConnection): string {
  const a = stateArrays(c.states);
  return copyLine([host, bootId, instance, skaddrToInt64(c.skaddr), c.family, c.saddr, c.daddr, c.sport, c.dport, micros(c.openedAt),
    micros(c.closedAt), durationMs(c), c.states[c.states.length - 1]!.state, a.states, a.enteredNs, a.ms, lastSeq]);
}

function stateArrays(states: readonly StateVisit[]): { states: string; enteredNs: string; ms: string } {
  return {
    states: arrayLiteral(states.map((s) => s.state)),
    enteredNs: arrayLiteral(states.map((s) => (s.enteredAt === null ? null : timeToNs(s.enteredAt)))),
    ms: arrayLiteral(states.map((s) => s.ms)),
  };
}

/** An envelope time as PostgreSQL takes it to the microsecond (it would round the nanoseconds). */
function micros(time: string | null): string | null {
  return time === null ? null : `${time.slice(0, 26)}Z`;
}
