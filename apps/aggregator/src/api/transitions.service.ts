// GET /api/v1/transitions: tcp_transitions, filtered, in keyset pages on (time, id). id is the store's
// shared sequence (events and transitions), so (time, id) is also store order among equal times.
import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { Prisma } from '../generated/prisma/client';
import { PrismaService } from '../store/prisma.service';
import { afterTimeCursor, timeOrder, toPage, utcText, type Page } from './cursor';
import { limitParam, orderParam, stateParam, timeIdCursor, timeParam } from './params';
import { inetText } from './inet-text';
import { endpointFilterShape, pagedSource, SKADDR_TEXT, sourceInstance } from './tcp-filters';
import { ownerItem, ownerItemShape, ownerJoin, ownerSelect, resolveOwners, type OwnerRow } from './owner-fields';

export const transitionFilterShape = {
  ...endpointFilterShape,
  from: timeParam.optional().describe('Transitions at or after this time (RFC 3339).'),
  to: timeParam.optional().describe('Transitions before this time (RFC 3339, exclusive).'),
  oldState: stateParam.optional().describe('State left, e.g. TCP_SYN_SENT.'),
  newState: stateParam.optional().describe('State entered, e.g. TCP_ESTABLISHED.'),
};

export const TransitionsQuery = z.strictObject({ ...transitionFilterShape, order: orderParam, limit: limitParam, cursor: timeIdCursor.optional() });
export type TransitionsQuery = z.output<typeof TransitionsQuery>;
export type TransitionFilter = Pick<TransitionsQuery, keyof typeof transitionFilterShape>;

export const TransitionItem = z.object({
  id: z.string().describe('Row id (a BIGINT, as a string).'),
  host: z.string(),
  instance: z.uuid().describe('Agent instance (stream) that reported it.'),
  seq: z.string().describe('Position in the stream (a BIGINT, as a string).'),
  time: z.string().describe('RFC 3339 UTC with microseconds.'),
  skaddr: z.string(),
  family: z.enum(['AF_INET', 'AF_INET6']),
  saddr: z.string(),
  daddr: z.string(),
  sport: z.number().int(),
  dport: z.number().int(),
  oldState: z.string(),
  newState: z.string(),
  msInOldState: z.number().nullable().describe('Time spent in oldState, when the previous transition of the socket is known.'),
  pid: z.number().int().nullable(),
  comm: z.string().nullable(),
  cpu: z.number().int().nullable(),
  inIrq: z.boolean().describe('Hit in irq context: pid/comm belong to whoever was on the cpu.'),
  ...ownerItemShape,
});
export type TransitionItem = z.infer<typeof TransitionItem>;

interface TransitionRow extends OwnerRow {
  id: bigint; host: string; instance: string; seq: bigint; time_text: string; skaddr: string; family: 'AF_INET' | 'AF_INET6';
  saddr: string; daddr: string; sport: number; dport: number; old_state: string; new_state: string;
  ms_in_old_state: number | null; pid: number | null; comm: string | null; cpu: number | null; in_irq: boolean;
}

/** ctx's hardirq | softirq | nmi bits: in irq context, pid/comm are whoever was on the cpu. */
const CTX_IRQ_BITS = 4 | 8 | 16;

/** The filter's conditions on time and states (filteredSource adds the endpoint ones); stats use them too. */
export function timeStateConditions(f: TransitionFilter): Prisma.Sql[] {
  const conditions: Prisma.Sql[] = [];
  if (f.from !== undefined) conditions.push(Prisma.sql`time >= ${f.from}::timestamptz`);
  if (f.to !== undefined) conditions.push(Prisma.sql`time < ${f.to}::timestamptz`);
  if (f.oldState !== undefined) conditions.push(Prisma.sql`old_state = ${f.oldState}::tcp_state`);
  if (f.newState !== undefined) conditions.push(Prisma.sql`new_state = ${f.newState}::tcp_state`);
  return conditions;
}

/** The page's SQL (exported for the EXPLAIN test). */
export function transitionsSql(q: TransitionsQuery): Prisma.Sql {
  const conditions = timeStateConditions(q);
  if (q.cursor !== undefined) conditions.push(afterTimeCursor('time', q.cursor, q.order));
  const order = timeOrder('time', q.order);
  // The page first, then its rows' owners from the dictionary (the dictionary's columns are named apart).
  return Prisma.sql`
    SELECT id, host, ${sourceInstance('t')}::text AS instance, seq, ${utcText('time')} AS time_text, ${SKADDR_TEXT} AS skaddr, family::text,
           host(saddr) AS saddr, host(daddr) AS daddr, sport, dport, old_state::text, new_state::text, ms_in_old_state,
           pid, comm, cpu, coalesce((ctx & ${Prisma.raw(String(CTX_IRQ_BITS))}) <> 0, false) AS in_irq, ${ownerSelect('t')}
      FROM (${pagedSource('tcp_transitions', q, conditions, order, q.limit + 1)}) t
      ${ownerJoin('t')}
     ORDER BY ${order}`;
}

@Injectable()
export class TransitionsService {
  constructor(private readonly db: PrismaService) {}

  async page(q: TransitionsQuery): Promise<Page<TransitionItem>> {
    const rows = await this.db.$queryRaw<TransitionRow[]>(transitionsSql(await resolveOwners(this.db, q)));
    return toPage(rows, q.limit, (r) => [r.time_text, r.id.toString()], (r) => ({
      id: r.id.toString(), host: r.host, instance: r.instance, seq: r.seq.toString(), time: r.time_text,
      skaddr: r.skaddr, family: r.family, saddr: inetText(r.saddr), daddr: inetText(r.daddr), sport: r.sport, dport: r.dport,
      oldState: r.old_state, newState: r.new_state, msInOldState: r.ms_in_old_state,
      pid: r.pid, comm: r.comm, cpu: r.cpu, inIrq: r.in_irq, ...ownerItem(r),
    }));
  }
}
