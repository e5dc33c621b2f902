// tcp_transitions (tcpstates) and tcp_connections (tcplife) from TCP probe hits of either source.
// Sockets are keyed by (host, boot, skaddr): the kernel reuses socket memory across lifetimes
// (libs/projections starts a new lifetime after TCP_CLOSE) and every boot starts afresh.
import { TcpArgsSchema, type EventOf, type TcpArgs } from '@probefleet/events';
import { applyTransition, durationMs, type Connection } from '@probefleet/projections';
import type { Tx } from '../prisma';
import type { StoredEvent } from '../event-rows';
import { Prisma } from '../../generated/prisma/client';

interface OpenConnection { id: bigint | null; conn: Connection; bootId: string; host: string; instance: string; lastSeq: number }

/** The TCP state change a hit carries, if it is one (both sources decode to the same args). */
export function tcpArgs(event: StoredEvent['event']): TcpArgs | undefined {
  if (event.type !== 'probe.hit' || !('newstate' in event.data.args)) return undefined;
  const parsed = TcpArgsSchema.safeParse(event.data.args);
  return parsed.success ? parsed.data : undefined;
}

export async function projectTcp(tx: Tx, events: readonly StoredEvent[]): Promise<void> {
  const hits: { event: EventOf<'probe.hit'>; args: TcpArgs }[] = [];
  for (const { event } of events) {
    const args = tcpArgs(event);
    if (args) hits.push({ event: event as EventOf<'probe.hit'>, args });
  }
  if (hits.length === 0) return;

  const key = (host: string, bootId: string, skaddr: string) => `${host}|${bootId}|${skaddr}`;
  const wanted = [...new Map(hits.map((h) => [key(h.event.host, h.event.bootId, h.args.skaddr), h])).values()]
    .map(({ event, args }) => [event.host, event.bootId, args.skaddr]);
  const rows = await tx.$queryRaw<{ id: bigint; host: string; boot_id: string; skaddr: string; family: string; saddr: string; daddr: string; sport: number; dport: number; opened_at: Date; states: Connection['states']; last_seq: bigint; instance: string }[]>`
    SELECT c.id, c.host, c.boot_id::text, c.skaddr, c.family, c.saddr, c.daddr, c.sport, c.dport, c.opened_at, c.states, c.last_seq, c.instance::text
      FROM tcp_connections c
      JOIN jsonb_array_elements(${JSON.stringify(wanted)}::jsonb) AS k
        ON c.host = k->>0 AND c.boot_id = (k->>1)::uuid AND c.skaddr = k->>2
     WHERE c.closed_at IS NULL`;
  const open = new Map<string, OpenConnection>();
  for (const r of rows) {
    open.set(key(r.host, r.boot_id, r.skaddr), {
      id: r.id, host: r.host, bootId: r.boot_id, instance: r.instance, lastSeq: Number(r.last_seq),
      conn: {
        skaddr: r.skaddr, family: r.family as Connection['family'], saddr: r.saddr, daddr: r.daddr, sport: r.sport, dport: r.dport,
        openedAt: r.states.find((s) => s.enteredAt !== null)?.enteredAt ?? r.opened_at.toISOString(), closedAt: null, states: r.states,
      },
    });
  }

  const transitions: TransitionRow[] = [];
  const touched = new Set<OpenConnection>();
  for (const { event, args } of hits) {
    const k = key(event.host, event.bootId, args.skaddr);
    const current = open.get(k);
    const out = applyTransition(current?.conn, args, event.time);
    const ctx = event.data.ctx;
    transitions.push({ event, args, msInOldState: out.msInOldState, inIrq: ctx !== undefined && (ctx.softirq || ctx.hardirq || ctx.nmi) });
    const next: OpenConnection = out.opened || !current
      ? { id: null, conn: out.connection, bootId: event.bootId, host: event.host, instance: event.instance, lastSeq: event.seq }
      : Object.assign(current, { conn: out.connection, instance: event.instance, lastSeq: event.seq });
    touched.add(next);
    open.set(k, next);
  }

  await insertTransitions(tx, transitions);
  const created = [...touched].filter((o) => o.id === null);
  if (created.length > 0) await upsertConnections(tx, created, 'insert');
  const updated = [...touched].filter((o) => o.id !== null);
  if (updated.length > 0) await upsertConnections(tx, updated, 'update');
}

interface TransitionRow { event: EventOf<'probe.hit'>; args: TcpArgs; msInOldState: number | null; inIrq: boolean }

// Bulk writes as one statement over ONE jsonb parameter, an array per row (columns by position):
// for batches of thousands of rows this is several times cheaper than Prisma's createMany (its query
// compiler works row by row) and than per-column array parameters (pg escapes every element, and the
// garbage shows).

/**
 * No ON CONFLICT here: only events this transaction newly stored are projected (the events table's
 * ON CONFLICT is the one gate), so a transition cannot exist yet; the unique (instance, seq) stays as
 * a guard that fails the batch instead. ON CONFLICT's speculative insertion cost ~40 % more PostgreSQL
 * CPU on this table of many indexes.
 */
function insertTransitions(tx: Tx, rows: readonly TransitionRow[]): Promise<number> {
  const json = JSON.stringify(rows.map(({ event: e, args: a, msInOldState, inIrq }) => [
    e.host, e.instance, e.seq, e.time, a.skaddr, a.family, a.saddr, a.daddr, a.sport, a.dport, a.oldstate, a.newstate,
    msInOldState, e.data.pid, e.data.comm, e.data.cpu, inIrq,
  ]));
  return tx.$executeRaw`
    INSERT INTO tcp_transitions (host, instance, seq, time, skaddr, family, saddr, daddr, sport, dport, old_state, new_state,
                                 ms_in_old_state, pid, comm, cpu, in_irq)
    SELECT r->>0, (r->>1)::uuid, (r->>2)::bigint, (r->>3)::timestamptz, r->>4, r->>5, r->>6, r->>7, (r->>8)::int, (r->>9)::int, r->>10, r->>11,
           (r->>12)::float8, (r->>13)::int, r->>14, (r->>15)::smallint, (r->>16)::boolean
      FROM jsonb_array_elements(${json}::jsonb) AS r`;
}

/** New lifetimes are inserted; continued ones (they have an id) updated in place. */
function upsertConnections(tx: Tx, rows: readonly OpenConnection[], how: 'insert' | 'update'): Promise<number> {
  const json = JSON.stringify(rows.map(({ id, host, bootId, instance, lastSeq, conn: c }) => [
    id?.toString() ?? null, host, bootId, c.skaddr, c.family, c.saddr, c.daddr, c.sport, c.dport,
    c.openedAt, c.closedAt, durationMs(c), c.states[c.states.length - 1]!.state, c.states, lastSeq, instance,
  ]));
  const values = Prisma.sql`(
    SELECT (r->>0)::bigint AS id, r->>1 AS host, (r->>2)::uuid AS boot_id, r->>3 AS skaddr, r->>4 AS family, r->>5 AS saddr, r->>6 AS daddr,
           (r->>7)::int AS sport, (r->>8)::int AS dport, (r->>9)::timestamptz AS opened_at, (r->>10)::timestamptz AS closed_at,
           (r->>11)::float8 AS duration_ms, r->>12 AS last_state, r->13 AS states, (r->>14)::bigint AS last_seq, (r->>15)::uuid AS instance
      FROM jsonb_array_elements(${json}::jsonb) AS r) AS u`;
  return how === 'insert'
    ? tx.$executeRaw`
        INSERT INTO tcp_connections (host, boot_id, skaddr, family, saddr, daddr, sport, dport, opened_at, closed_at, duration_ms, last_state, states, last_seq, instance)
        SELECT host, boot_id, skaddr, family, saddr, daddr, sport, dport, opened_at, closed_at, duration_ms, last_state, states, last_seq, instance FROM ${values}`
    : tx.$executeRaw`
        UPDATE tcp_connections AS c SET
          saddr = u.saddr, daddr = u.daddr, sport = u.sport, dport = u.dport, closed_at = u.closed_at, duration_ms = u.duration_ms,
          last_state = u.last_state, states = u.states, last_seq = u.last_seq, instance = u.instance
        FROM ${values} WHERE c.id = u.id`;
}
