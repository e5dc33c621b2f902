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
  const wanted = [...new Map(hits.map((h) => [key(h.event.host, h.event.bootId, h.args.skaddr), h])).values()];
  const rows = await tx.$queryRaw<{ id: bigint; host: string; boot_id: string; skaddr: string; family: string; saddr: string; daddr: string; sport: number; dport: number; opened_at: Date; states: Connection['states']; last_seq: bigint; instance: string }[]>`
    SELECT c.id, c.host, c.boot_id::text, c.skaddr, c.family, c.saddr, c.daddr, c.sport, c.dport, c.opened_at, c.states, c.last_seq, c.instance::text
      FROM tcp_connections c
      JOIN unnest(${wanted.map((w) => w.event.host)}::text[], ${wanted.map((w) => w.event.bootId)}::uuid[], ${wanted.map((w) => w.args.skaddr)}::text[]) AS k(host, boot_id, skaddr)
        ON c.host = k.host AND c.boot_id = k.boot_id AND c.skaddr = k.skaddr
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
  const touched: OpenConnection[] = [];
  for (const { event, args } of hits) {
    const k = key(event.host, event.bootId, args.skaddr);
    const current = open.get(k);
    const out = applyTransition(current?.conn, args, event.time);
    const ctx = event.data.ctx;
    transitions.push({ event, args, msInOldState: out.msInOldState, inIrq: ctx !== undefined && (ctx.softirq || ctx.hardirq || ctx.nmi) });
    const next: OpenConnection = out.opened || !current
      ? { id: null, conn: out.connection, bootId: event.bootId, host: event.host, instance: event.instance, lastSeq: event.seq }
      : Object.assign(current, { conn: out.connection, instance: event.instance, lastSeq: event.seq });
    if (!touched.includes(next)) touched.push(next);
    open.set(k, next);
  }

  await insertTransitions(tx, transitions);
  const created = touched.filter((o) => o.id === null);
  if (created.length > 0) await upsertConnections(tx, created, 'insert');
  const updated = touched.filter((o) => o.id !== null);
  if (updated.length > 0) await upsertConnections(tx, updated, 'update');
}

interface TransitionRow { event: EventOf<'probe.hit'>; args: TcpArgs; msInOldState: number | null; inIrq: boolean }

// Bulk writes as one statement over unnest()ed column arrays: for batches of thousands of rows this
// is several times cheaper than Prisma's createMany (its query compiler works row by row).

function insertTransitions(tx: Tx, rows: readonly TransitionRow[]): Promise<number> {
  const col = <T>(f: (r: TransitionRow) => T): T[] => rows.map(f);
  return tx.$executeRaw`
    INSERT INTO tcp_transitions (host, instance, seq, time, skaddr, family, saddr, daddr, sport, dport, old_state, new_state,
                                 ms_in_old_state, pid, comm, cpu, in_irq)
    SELECT * FROM unnest(
      ${col((r) => r.event.host)}::text[], ${col((r) => r.event.instance)}::uuid[], ${col((r) => r.event.seq)}::bigint[],
      ${col((r) => r.event.time)}::timestamptz[], ${col((r) => r.args.skaddr)}::text[], ${col((r) => r.args.family)}::text[],
      ${col((r) => r.args.saddr)}::text[], ${col((r) => r.args.daddr)}::text[], ${col((r) => r.args.sport)}::int[],
      ${col((r) => r.args.dport)}::int[], ${col((r) => r.args.oldstate)}::text[], ${col((r) => r.args.newstate)}::text[],
      ${col((r) => r.msInOldState)}::float8[], ${col((r) => r.event.data.pid)}::int[], ${col((r) => r.event.data.comm)}::text[],
      ${col((r) => r.event.data.cpu)}::smallint[], ${col((r) => r.inIrq)}::boolean[])
    ON CONFLICT (instance, seq) DO NOTHING`;
}

/** New lifetimes are inserted; continued ones (they have an id) updated in place. */
function upsertConnections(tx: Tx, rows: readonly OpenConnection[], how: 'insert' | 'update'): Promise<number> {
  const col = <T>(f: (o: OpenConnection) => T): T[] => rows.map(f);
  const values = Prisma.sql`unnest(
      ${col((o) => o.id?.toString() ?? null)}::bigint[], ${col((o) => o.host)}::text[], ${col((o) => o.bootId)}::uuid[],
      ${col((o) => o.conn.skaddr)}::text[], ${col((o) => o.conn.family)}::text[], ${col((o) => o.conn.saddr)}::text[],
      ${col((o) => o.conn.daddr)}::text[], ${col((o) => o.conn.sport)}::int[], ${col((o) => o.conn.dport)}::int[],
      ${col((o) => o.conn.openedAt)}::timestamptz[], ${col((o) => o.conn.closedAt)}::timestamptz[], ${col((o) => durationMs(o.conn))}::float8[],
      ${col((o) => o.conn.states[o.conn.states.length - 1]!.state)}::text[], ${col((o) => JSON.stringify(o.conn.states))}::jsonb[],
      ${col((o) => o.lastSeq)}::bigint[], ${col((o) => o.instance)}::uuid[])
    AS u(id, host, boot_id, skaddr, family, saddr, daddr, sport, dport, opened_at, closed_at, duration_ms, last_state, states, last_seq, instance)`;
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
