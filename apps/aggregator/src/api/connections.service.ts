// GET /api/v1/connections: socket lifetimes (the tcp_lifetimes view: closed ones from tcp_connections,
// open ones from tcp_open_connections), in keyset pages on (openedAt, id).
import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { Prisma } from '../generated/prisma/client';
import { PrismaService } from '../store/prisma.service';
import { afterTimeCursor, timeOrder, toPage, utcText, type Page } from './cursor';
import { limitParam, orderParam, stateParam, timeIdCursor, timeParam } from './params';
import { inetText } from './inet-text';
import { endpointFilterShape, filteredSource, SKADDR_TEXT } from './tcp-filters';
import { ownerItem, ownerItemShape, ownerJoin, ownerSelect, resolveOwners, type OwnerRow } from './owner-fields';
import { LIFE_SELECT, lifeItem, lifeItemShape, type LifeRow } from './life-fields';

export const ConnectionsQuery = z.strictObject({
  ...endpointFilterShape,
  from: timeParam.optional().describe('Connections opened at or after this time (RFC 3339).'),
  to: timeParam.optional().describe('Connections opened before this time (RFC 3339, exclusive).'),
  state: z.enum(['open', 'closed'], { error: 'expected open or closed' }).optional().describe('open: not closed yet; closed: reached TCP_CLOSE.'),
  lastState: stateParam.optional().describe('The state the socket is in (or ended in), e.g. TCP_ESTABLISHED.'),
  order: orderParam,
  limit: limitParam,
  cursor: timeIdCursor.optional(),
});
export type ConnectionsQuery = z.output<typeof ConnectionsQuery>;

const StateVisit = z.object({
  state: z.string(),
  enteredAt: z.string().nullable().describe('RFC 3339; null for the state the socket was in when first seen.'),
  ms: z.number().nullable().describe('Time in the state; null while the socket is still in it.'),
});

export const ConnectionItem = z.object({
  id: z.string().describe('Row id (a BIGINT, as a string).'),
  host: z.string(),
  bootId: z.uuid(),
  instance: z.uuid().describe('Agent instance that reported the latest transition.'),
  skaddr: z.string(),
  family: z.enum(['AF_INET', 'AF_INET6']),
  saddr: z.string(),
  daddr: z.string(),
  sport: z.number().int(),
  dport: z.number().int(),
  openedAt: z.string().describe('RFC 3339 UTC with microseconds.'),
  closedAt: z.string().nullable(),
  durationMs: z.number().nullable().describe('closedAt - openedAt; null while open.'),
  lastState: z.string(),
  states: z.array(StateVisit).describe('The states visited, in order, with the time spent in each.'),
  ...ownerItemShape,
  ...lifeItemShape,
});
export type ConnectionItem = z.infer<typeof ConnectionItem>;

interface ConnectionRow extends OwnerRow, LifeRow {
  id: bigint; host: string; boot_id: string; instance: string; skaddr: string; family: 'AF_INET' | 'AF_INET6'; saddr: string; daddr: string;
  sport: number; dport: number; opened_text: string; closed_text: string | null; duration_ms: number | null; last_state: string;
  states: string[]; entered_ns: (string | null)[]; state_ms: (number | null)[];
}

const NS_PER_S = 1_000_000_000n;

/** Nanoseconds since the epoch (text of a BIGINT) as RFC 3339 UTC with exactly 9 fractional digits. */
export function nsText(ns: string): string {
  const n = BigInt(ns);
  let s = n / NS_PER_S;
  let frac = n % NS_PER_S;
  if (frac < 0n) [s, frac] = [s - 1n, frac + NS_PER_S];
  return `${new Date(Number(s) * 1000).toISOString().slice(0, 19)}.${frac.toString().padStart(9, '0')}Z`;
}

/** The visited states from the three parallel arrays of a lifetime's row. */
function statesOf(r: ConnectionRow): z.infer<typeof StateVisit>[] {
  return r.states.map((state, i) => {
    const ns = r.entered_ns[i];
    return { state, enteredAt: ns == null ? null : nsText(ns), ms: r.state_ms[i] ?? null };
  });
}

export function connectionsSql(q: ConnectionsQuery): Prisma.Sql {
  const conditions: Prisma.Sql[] = [];
  if (q.from !== undefined) conditions.push(Prisma.sql`opened_at >= ${q.from}::timestamptz`);
  if (q.to !== undefined) conditions.push(Prisma.sql`opened_at < ${q.to}::timestamptz`);
  if (q.state !== undefined) conditions.push(q.state === 'open' ? Prisma.sql`closed_at IS NULL` : Prisma.sql`closed_at IS NOT NULL`);
  if (q.lastState !== undefined) conditions.push(Prisma.sql`last_state = ${q.lastState}::tcp_state`);
  if (q.cursor !== undefined) conditions.push(afterTimeCursor('opened_at', q.cursor, q.order));
  const order = timeOrder('opened_at', q.order);
  const { from, where } = filteredSource('tcp_lifetimes', q, conditions, { order, limit: q.limit + 1 });
  return Prisma.sql`
    SELECT id, host, boot_id::text, instance::text, ${SKADDR_TEXT} AS skaddr, family::text,
           host(saddr) AS saddr, host(daddr) AS daddr, sport, dport,
           ${utcText('opened_at')} AS opened_text, ${utcText('closed_at')} AS closed_text,
           duration_ms, last_state::text, states::text[], entered_ns::text[], state_ms, ${LIFE_SELECT}, ${ownerSelect('c')}
      FROM (SELECT * FROM ${from} ${where} ORDER BY ${order} LIMIT ${q.limit + 1}) c
      ${ownerJoin('c')}
     ORDER BY ${order}`;
}

@Injectable()
export class ConnectionsService {
  constructor(private readonly db: PrismaService) {}

  async page(q: ConnectionsQuery): Promise<Page<ConnectionItem>> {
    const rows = await this.db.$queryRaw<ConnectionRow[]>(connectionsSql(await resolveOwners(this.db, q)));
    return toPage(rows, q.limit, (r) => [r.opened_text, r.id.toString()], (r) => ({
      id: r.id.toString(), host: r.host, bootId: r.boot_id, instance: r.instance, skaddr: r.skaddr, family: r.family,
      saddr: inetText(r.saddr), daddr: inetText(r.daddr), sport: r.sport, dport: r.dport, openedAt: r.opened_text, closedAt: r.closed_text,
      durationMs: r.duration_ms, lastState: r.last_state, states: statesOf(r), ...ownerItem(r), ...lifeItem(r),
    }));
  }
}
