// tcp_transitions (tcpstates) and tcp_connections (tcplife) from TCP probe hits of either source.
// Sockets are keyed by (host, boot, skaddr): the kernel reuses socket memory across lifetimes
// (libs/projections starts a new lifetime after TCP_CLOSE) and every boot starts afresh.
import { TcpArgsSchema, type EventOf, type TcpArgs } from '@probefleet/events';
import { applyTransition, durationMs, type Connection } from '@probefleet/projections';
import type { Tx } from '../prisma';
import type { StoredEvent } from '../event-rows';
import type { Prisma } from '../../generated/prisma/client';

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

  const transitions: Prisma.TcpTransitionCreateManyInput[] = [];
  const touched: OpenConnection[] = [];
  for (const { event, args } of hits) {
    const k = key(event.host, event.bootId, args.skaddr);
    const current = open.get(k);
    const out = applyTransition(current?.conn, args, event.time);
    const ctx = event.data.ctx;
    transitions.push({
      host: event.host, instance: event.instance, seq: BigInt(event.seq), time: new Date(event.time),
      skaddr: args.skaddr, family: args.family, saddr: args.saddr, daddr: args.daddr, sport: args.sport, dport: args.dport,
      oldState: args.oldstate, newState: args.newstate, msInOldState: out.msInOldState,
      pid: event.data.pid, comm: event.data.comm, cpu: event.data.cpu,
      inIrq: ctx !== undefined && (ctx.softirq || ctx.hardirq || ctx.nmi),
    });
    const next: OpenConnection = out.opened || !current
      ? { id: null, conn: out.connection, bootId: event.bootId, host: event.host, instance: event.instance, lastSeq: event.seq }
      : Object.assign(current, { conn: out.connection, instance: event.instance, lastSeq: event.seq });
    if (!touched.includes(next)) touched.push(next);
    open.set(k, next);
  }

  await tx.tcpTransition.createMany({ data: transitions, skipDuplicates: true });
  const toRow = (o: OpenConnection) => ({
    host: o.host, bootId: o.bootId, skaddr: o.conn.skaddr, family: o.conn.family, saddr: o.conn.saddr, daddr: o.conn.daddr,
    sport: o.conn.sport, dport: o.conn.dport, openedAt: new Date(o.conn.openedAt),
    closedAt: o.conn.closedAt === null ? null : new Date(o.conn.closedAt), durationMs: durationMs(o.conn),
    lastState: o.conn.states[o.conn.states.length - 1]!.state, states: o.conn.states as unknown as Prisma.InputJsonValue,
    lastSeq: BigInt(o.lastSeq), instance: o.instance,
  });
  const created = touched.filter((o) => o.id === null);
  if (created.length > 0) await tx.tcpConnection.createMany({ data: created.map(toRow) });
  const updated = touched.filter((o) => o.id !== null).map((o) => ({ id: o.id!, ...toRow(o) }));
  if (updated.length > 0) {
    // One statement for every continued lifetime of the batch.
    await tx.$executeRaw`
      UPDATE tcp_connections AS c SET
        saddr = u.saddr, daddr = u.daddr, sport = u.sport, dport = u.dport, closed_at = u.closed_at,
        duration_ms = u.duration_ms, last_state = u.last_state, states = u.states, last_seq = u.last_seq, instance = u.instance
      FROM unnest(${updated.map((u) => u.id)}::bigint[], ${updated.map((u) => u.saddr)}::text[], ${updated.map((u) => u.daddr)}::text[],
                  ${updated.map((u) => u.sport)}::int[], ${updated.map((u) => u.dport)}::int[], ${updated.map((u) => u.closedAt)}::timestamptz[],
                  ${updated.map((u) => u.durationMs)}::float8[], ${updated.map((u) => u.lastState)}::text[],
                  ${updated.map((u) => JSON.stringify(u.states))}::jsonb[], ${updated.map((u) => u.lastSeq)}::bigint[], ${updated.map((u) => u.instance)}::uuid[])
        AS u(id, saddr, daddr, sport, dport, closed_at, duration_ms, last_state, states, last_seq, instance)
      WHERE c.id = u.id`;
  }
}
