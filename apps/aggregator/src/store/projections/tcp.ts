// tcp_connections and tcp_open_connections (tcplife) and tcp_rollups from the TCP hits a batch stores. Sockets are keyed by
// (host, boot, skaddr): the kernel reuses socket memory across lifetimes (libs/projections starts
// a new lifetime after TCP_CLOSE) and every boot starts afresh. Each hit's time in its old state is
// handed back: the transition row (the hit's stored form) carries it.
import { skaddrFromInt64, skaddrToInt64, timeToNsText, type Attribution, type Life, type TcpHitEvent, type TcpStateName } from '@probefleet/events';
import { applyTransition, durationMs, nsToTime, type Connection, type StateVisit } from '@probefleet/projections';
import type { Pool, PoolClient } from 'pg';
import { arrayLiteral, copyLine, copyLines, quotedArrayLiteral, type CopyValue } from '../copy';
import { micros, rfc3339 } from '../sql-time';
import type { Rollups } from './rollups';
import { touchOwners, type OwnerIds } from '../owners';

/** A lifetime's owner (tcp_owners id, null when none known) and attribution (undefined: no hit carried one). */
interface Owned { ownerId: number | null; attribution: Attribution | undefined }

interface OpenConnection {
  id: string | null; conn: Connection; bootId: string; host: string; instance: string; lastSeq: number; owned: Owned;
  /** tcplife's counters from the closing hit. */
  life?: Life | undefined;
}

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

export async function projectTcp(client: PoolClient, hits: readonly TcpHitEvent[], rollups: Rollups, owners: OwnerIds): Promise<TcpOutcome> {
  if (hits.length === 0) return { msInOldState: [] };
  const key = (host: string, bootId: string, skaddr: string) => `${host}|${bootId}|${skaddr}`;
  const wanted = [...new Map(hits.map((h) => [key(h.host, h.bootId, h.data.args.skaddr), h])).values()];
  // One index probe per socket (OFFSET 0 keeps the planner from a merge or hash join, which reads
  // the whole table: 78 against 27 ms for 2,500 sockets among 20k open). Newest last: a lifetime a
  // later one replaced (its TCP_CLOSE was never seen) stays behind.
  const { rows } = await client.query(
    `SELECT c.id::text, c.host, c.boot_id::text, c.skaddr::text, c.family::text, host(c.saddr) AS saddr, host(c.daddr) AS daddr, c.sport, c.dport,
            c.states::text[] AS states, c.entered_ns::text[] AS entered_ns, c.state_ms, c.last_seq, c.instance::text,
            ${rfc3339('c.opened_at')} AS opened_text, c.owner_id, c.attribution::text AS attribution
       FROM unnest($1::text[], $2::uuid[], $3::bigint[]) AS k (host, boot_id, skaddr)
       CROSS JOIN LATERAL (SELECT * FROM tcp_open_connections o WHERE o.host = k.host AND o.boot_id = k.boot_id AND o.skaddr = k.skaddr OFFSET 0) c
      ORDER BY c.id`,
    [quotedArrayLiteral(wanted.map((h) => h.host)), arrayLiteral(wanted.map((h) => h.bootId)), arrayLiteral(wanted.map((h) => skaddrToInt64(h.data.args.skaddr)))]);
  const open = new Map<string, OpenConnection>();
  for (const r of rows) {
    const skaddr = skaddrFromInt64(BigInt(r.skaddr));
    const states: StateVisit[] = (r.states as TcpStateName[]).map((state, i) => ({
      state, enteredAt: r.entered_ns[i] === null ? null : nsToTime(BigInt(r.entered_ns[i])), ms: r.state_ms[i],
    }));
    open.set(key(r.host, r.boot_id, skaddr), {
      id: r.id, host: r.host, bootId: r.boot_id, instance: r.instance, lastSeq: Number(r.last_seq), owned: { ownerId: r.owner_id, attribution: r.attribution ?? undefined },
      conn: {
        skaddr, family: r.family, saddr: r.saddr, daddr: r.daddr, sport: r.sport, dport: r.dport,
        openedAt: states.find((s) => s.enteredAt !== null)?.enteredAt ?? r.opened_text, closedAt: null, states,
      },
    });
  }

  const msInOldState: (number | null)[] = [];
  const touched = new Set<OpenConnection>();
  /** Per owner id, the newest day of a hit naming it (OwnerDictionary.resolve moved its last day there). */
  const hitDays = new Map<number, string>();
  for (const h of hits) {
    const ownerId = h.data.owner === undefined ? null : owners.get(h.data.owner);
    if (ownerId === undefined) throw new Error(`the owner of ${h.host} seq ${h.seq} was not resolved`);
    const day = h.time.slice(0, 10);
    if (ownerId !== null && (hitDays.get(ownerId) ?? '') < day) hitDays.set(ownerId, day);
    const args = h.data.args;
    const k = key(h.host, h.bootId, args.skaddr);
    const current = open.get(k);
    const out = applyTransition(current?.conn, args, h.time);
    msInOldState.push(out.msInOldState);
    const next: OpenConnection = out.opened || !current
      ? { id: null, conn: out.connection, bootId: h.bootId, host: h.host, instance: h.instance, lastSeq: h.seq, owned: { ownerId: null, attribution: undefined } }
      : Object.assign(current, { conn: out.connection, instance: h.instance, lastSeq: h.seq });
    next.owned = lifetimeOwner(next.owned, ownerId, h.data.attribution);
    if (args.newstate === 'TCP_CLOSE') next.life = h.data.life;
    touched.add(next);
    open.set(k, next);
    rollups.count(h, servicePort(out.connection));
  }

  // A lifetime closing on a later day than its owner's hits here (its closing hit named no owner).
  const lifetimeDays = [...touched].flatMap((o) => {
    if (o.conn.closedAt === null || o.owned.ownerId === null) return [];
    const day = o.conn.closedAt.slice(0, 10);
    return (hitDays.get(o.owned.ownerId) ?? '') >= day ? [] : [{ host: o.host, id: o.owned.ownerId, day }];
  });
  await touchOwners(client, lifetimeDays);
  await storeLifetimes(client, [...touched]);
  return { msInOldState };
}

/**
 * A closed lifetime is written once into tcp_connections (and leaves tcp_open_connections if it was
 * there); an open one is added to or moved on in tcp_open_connections. New ones get their ids here.
 */
async function storeLifetimes(client: PoolClient, touched: OpenConnection[]): Promise<void> {
  const fresh = touched.filter((o) => o.id === null);
  if (fresh.length > 0) {
    const { rows } = await client.query(`SELECT nextval('tcp_connection_id_seq')::text AS id FROM generate_series(1, $1)`, [fresh.length]);
    fresh.forEach((o, i) => (o.id = rows[i].id));
  }
  const closed = touched.filter((o) => o.conn.closedAt !== null);
  const open = touched.filter((o) => o.conn.closedAt === null);
  const openFresh = new Set(fresh);
  await copyLines(client, 'tcp_connections', CLOSED_COLUMNS, closed.map(closedLine));
  const left = closed.filter((o) => !openFresh.has(o));
  if (left.length > 0) {
    await client.query(
      `DELETE FROM tcp_open_connections c USING unnest($1::text[], $2::bigint[]) AS r (host, id) WHERE c.host = r.host AND c.id = r.id`,
      [quotedArrayLiteral(left.map((o) => o.host)), arrayLiteral(left.map((o) => o.id))]);
  }
  await copyLines(client, 'tcp_open_connections', OPEN_COLUMNS, open.filter((o) => openFresh.has(o)).map(openLine));
  const moved = open.filter((o) => !openFresh.has(o));
  if (moved.length === 0) return;
  const column = <T>(f: (o: OpenConnection) => T) => moved.map(f);
  const arrays = moved.map((o) => stateArrays(o.conn.states));
  await client.query(
    `UPDATE tcp_open_connections AS c SET saddr = u.saddr, daddr = u.daddr, sport = u.sport, dport = u.dport, last_state = u.last_state,
            states = u.states::tcp_state[], entered_ns = u.entered_ns::bigint[], state_ms = u.state_ms::float8[], last_seq = u.last_seq,
            instance = u.instance, owner_id = u.owner_id, attribution = u.attribution
       FROM unnest($1::text[], $2::bigint[], $3::inet[], $4::inet[], $5::int[], $6::int[], $7::tcp_state[], $8::text[], $9::text[], $10::text[],
                   $11::bigint[], $12::uuid[], $13::int[], $14::attribution[])
            AS u (host, id, saddr, daddr, sport, dport, last_state, states, entered_ns, state_ms, last_seq, instance, owner_id, attribution)
      WHERE c.host = u.host AND c.id = u.id`,
    [quotedArrayLiteral(column((o) => o.host)), arrayLiteral(column((o) => o.id)), quotedArrayLiteral(column((o) => o.conn.saddr)),
      quotedArrayLiteral(column((o) => o.conn.daddr)), arrayLiteral(column((o) => o.conn.sport)), arrayLiteral(column((o) => o.conn.dport)),
      arrayLiteral(column((o) => o.conn.states[o.conn.states.length - 1]!.state)), quotedArrayLiteral(arrays.map((a) => a.states)),
      quotedArrayLiteral(arrays.map((a) => a.enteredNs)), quotedArrayLiteral(arrays.map((a) => a.ms)), arrayLiteral(column((o) => o.lastSeq)),
      arrayLiteral(column((o) => o.instance)), arrayLiteral(column((o) => o.owned.ownerId)), arrayLiteral(column((o) => o.owned.attribution ?? null))]);
}

const OPEN_COLUMNS = ['id', 'host', 'boot_id', 'instance', 'skaddr', 'family', 'saddr', 'daddr', 'sport', 'dport', 'opened_at',
  'last_state', 'states', 'entered_ns', 'state_ms', 'last_seq', 'owner_id', 'attribution'];
const CLOSED_COLUMNS = [...OPEN_COLUMNS, 'closed_at', 'duration_ms', 'tx_bytes', 'rx_bytes', 'retrans', 'srtt_us'];

function openLine(o: OpenConnection): string {
  return copyLine([...lifetimeValues(o), o.owned.ownerId, o.owned.attribution ?? null]);
}

function closedLine(o: OpenConnection): string {
  const l = o.life;
  return copyLine([...lifetimeValues(o), o.owned.ownerId, o.owned.attribution ?? null, micros(o.conn.closedAt!), durationMs(o.conn),
    l?.txBytes ?? null, l?.rxBytes ?? null, l?.retrans ?? null, l?.srttUs ?? null]);
}

const STRENGTH = { unknown: 1, socket: 2, direct: 3 } as const;

/**
 * A lifetime's owner: the one of its latest transition that had one (a socket's owner can change
 * hands, e.g. passed over a unix socket); its attribution the strongest any transition had.
 */
function lifetimeOwner(was: Owned, ownerId: number | null, hitAttribution: Attribution | undefined): Owned {
  if (hitAttribution === undefined) return was;
  const attribution = was.attribution !== undefined && STRENGTH[was.attribution] > STRENGTH[hitAttribution] ? was.attribution : hitAttribution;
  return { ownerId: ownerId ?? was.ownerId, attribution };
}

function lifetimeValues({ id, host, bootId, instance, lastSeq, conn: c }: OpenConnection): CopyValue[] {
  const a = stateArrays(c.states);
  return [id, host, bootId, instance, skaddrToInt64(c.skaddr), c.family, c.saddr, c.daddr, c.sport, c.dport, micros(c.openedAt),
    c.states[c.states.length - 1]!.state, a.states, a.enteredNs, a.ms, lastSeq];
}

function stateArrays(states: readonly StateVisit[]): { states: string; enteredNs: string; ms: string } {
  return {
    states: arrayLiteral(states.map((s) => s.state)),
    enteredNs: arrayLiteral(states.map((s) => (s.enteredAt === null ? null : timeToNsText(s.enteredAt)))),
    ms: arrayLiteral(states.map((s) => s.ms)),
  };
}


/**
 * Forgets the open lifetimes of boots their host has left (agents holds each host's latest boot)
 * whose last transition is older than `horizon`: a socket does not outlive its kernel, so they can
 * never close, and retention has dropped what they were built from. Lifetimes of a host's current
 * boot stay, however old (a connection may be idle for weeks). Few rows, in a small table.
 */
export async function forgetEndedBoots(pool: Pool, horizon: string): Promise<number> {
  const { rowCount } = await pool.query(
    `DELETE FROM tcp_open_connections o USING agents a
      WHERE a.host = o.host AND a.boot_id <> o.boot_id
        AND coalesce(to_timestamp(o.entered_ns[cardinality(o.entered_ns)] / 1e9), o.opened_at) < $1::timestamptz`, [horizon]);
  return rowCount ?? 0;
}
