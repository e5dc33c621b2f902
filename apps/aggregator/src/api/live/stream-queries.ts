// What the streams read: rows after a cursor and below the horizon's bound, in store order, with
// the list endpoints' filters. Transitions are keyed by their own id (batch << 20 + position).
// A closed lifetime's tcp_connections id comes from tcp_connection_id_seq, given when it opened,
// so it says nothing about when the row was stored; its stream key is instead the id of the
// transition that closed it (new_state TCP_CLOSE, written in the same transaction): store order,
// numbered by batch like every other stream row, so one horizon and one resume rule serve both.
import { z } from 'zod';
import { Prisma } from '../../generated/prisma/client';
import { nsText } from '../connections.service';
import { inetText } from '../inet-text';
import { stateParam, timeParam } from '../params';
import { endpointFilterShape, filteredSource, SKADDR_TEXT, sourceInstance, whereAll } from '../tcp-filters';
import { ownerItem, ownerJoin, ownerSelect, type OwnerRow } from '../owner-fields';
import { timeStateConditions, transitionFilterShape, type TransitionItem } from '../transitions.service';
import type { ConnectionItem } from '../connections.service';
import { LIFE_SELECT, lifeItem, type LifeRow } from '../life-fields';

export const TransitionStreamQuery = z.strictObject({ ...transitionFilterShape });
export type TransitionStreamQuery = z.output<typeof TransitionStreamQuery>;

export const ConnectionStreamQuery = z.strictObject({
  ...endpointFilterShape,
  from: timeParam.optional().describe('Connections opened at or after this time (RFC 3339).'),
  to: timeParam.optional().describe('Connections opened before this time (RFC 3339, exclusive).'),
  lastState: stateParam.optional().describe('The state the socket ended in, e.g. TCP_CLOSE.'),
});
export type ConnectionStreamQuery = z.output<typeof ConnectionStreamQuery>;

export interface StreamRow<T> { id: bigint; item: T }

const CTX_IRQ_BITS = Prisma.raw(String(4 | 8 | 16));

export function transitionStreamSql(q: TransitionStreamQuery, after: bigint, before: bigint, limit: number): Prisma.Sql {
  const conditions = timeStateConditions(q);
  conditions.push(Prisma.sql`id > ${after}::bigint AND id < ${before}::bigint`);
  const order = Prisma.raw('id');
  const { from, where } = filteredSource('tcp_transitions', q, conditions, { order, limit });
  return Prisma.sql`
    SELECT id, host, ${sourceInstance('t')}::text AS instance, seq, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS time_text,
           ${SKADDR_TEXT} AS skaddr, family::text, host(saddr) AS saddr, host(daddr) AS daddr, sport, dport,
           old_state::text, new_state::text, ms_in_old_state, pid, comm, cpu, coalesce((ctx & ${CTX_IRQ_BITS}) <> 0, false) AS in_irq,
           ${ownerSelect('t')}
      FROM (SELECT * FROM ${from} ${where} ORDER BY ${order} LIMIT ${limit}) t
      ${ownerJoin('t')}
     ORDER BY ${order}`;
}

interface TransitionRow extends OwnerRow {
  id: bigint; host: string; instance: string; seq: bigint; time_text: string; skaddr: string; family: 'AF_INET' | 'AF_INET6';
  saddr: string; daddr: string; sport: number; dport: number; old_state: string; new_state: string;
  ms_in_old_state: number | null; pid: number | null; comm: string | null; cpu: number | null; in_irq: boolean;
}

export function transitionItem(r: TransitionRow): StreamRow<TransitionItem> {
  return {
    id: r.id,
    item: {
      id: r.id.toString(), host: r.host, instance: r.instance, seq: r.seq.toString(), time: r.time_text,
      skaddr: r.skaddr, family: r.family, saddr: inetText(r.saddr), daddr: inetText(r.daddr), sport: r.sport, dport: r.dport,
      oldState: r.old_state, newState: r.new_state, msInOldState: r.ms_in_old_state,
      pid: r.pid, comm: r.comm, cpu: r.cpu, inIrq: r.in_irq, ...ownerItem(r),
    },
  };
}

/**
 * Closed lifetimes by their closing transition. The join is on what the closing hit and its
 * lifetime share exactly: host, instance, seq (the lifetime's last_seq), skaddr and time (closed_at,
 * which also prunes tcp_connections to the closing day's partition). The endpoint filters apply to
 * the closing transition: a lifetime's addresses and ports are those of its last transition.
 */
export function connectionStreamSql(q: ConnectionStreamQuery, after: bigint, before: bigint, limit: number): Prisma.Sql {
  const closing = filteredSource('tcp_transitions', q, [Prisma.sql`new_state = 'TCP_CLOSE'`, Prisma.sql`id > ${after}::bigint AND id < ${before}::bigint`]);
  const conditions: Prisma.Sql[] = [];
  if (q.from !== undefined) conditions.push(Prisma.sql`c.opened_at >= ${q.from}::timestamptz`);
  if (q.to !== undefined) conditions.push(Prisma.sql`c.opened_at < ${q.to}::timestamptz`);
  if (q.lastState !== undefined) conditions.push(Prisma.sql`c.last_state = ${q.lastState}::tcp_state`);
  return Prisma.sql`
    SELECT t.id AS event_id, c.id, c.host, c.boot_id::text, c.instance::text, '0x' || to_hex(c.skaddr) AS skaddr, c.family::text,
           host(c.saddr) AS saddr, host(c.daddr) AS daddr, c.sport, c.dport,
           to_char(c.opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS opened_text,
           to_char(c.closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS closed_text,
           c.duration_ms, c.last_state::text, c.states::text[], c.entered_ns::text[], c.state_ms, ${LIFE_SELECT}, ${ownerSelect('c')}
      FROM (SELECT id, time, host, source_id, seq, skaddr FROM ${closing.from} ${closing.where}) AS t
      -- One probe of the closed_at index per closing transition, in id order, until the page is full
      -- (OFFSET 0: a hash join would read the whole day's partition for every page).
      CROSS JOIN LATERAL (
        SELECT * FROM tcp_connections c
         WHERE c.closed_at = t.time AND c.host = t.host AND c.instance = ${sourceInstance('t')} AND c.last_seq = t.seq AND c.skaddr = t.skaddr
        OFFSET 0) c
      ${ownerJoin('c')}
      ${whereAll(conditions)}
     ORDER BY t.id
     LIMIT ${limit}`;
}

interface ConnectionRow extends OwnerRow, LifeRow {
  event_id: bigint; id: bigint; host: string; boot_id: string; instance: string; skaddr: string; family: 'AF_INET' | 'AF_INET6';
  saddr: string; daddr: string; sport: number; dport: number; opened_text: string; closed_text: string | null; duration_ms: number | null;
  last_state: string; states: string[]; entered_ns: (string | null)[]; state_ms: (number | null)[];
}

export function connectionItem(r: ConnectionRow): StreamRow<ConnectionItem> {
  return {
    id: r.event_id,
    item: {
      id: r.id.toString(), host: r.host, bootId: r.boot_id, instance: r.instance, skaddr: r.skaddr, family: r.family,
      saddr: inetText(r.saddr), daddr: inetText(r.daddr), sport: r.sport, dport: r.dport, openedAt: r.opened_text, closedAt: r.closed_text,
      durationMs: r.duration_ms, lastState: r.last_state,
      states: r.states.map((state, i) => {
        const ns = r.entered_ns[i];
        return { state, enteredAt: ns == null ? null : nsText(ns), ms: r.state_ms[i] ?? null };
      }),
      ...ownerItem(r),
      ...lifeItem(r),
    },
  };
}
