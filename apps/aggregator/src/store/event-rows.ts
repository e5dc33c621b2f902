// Envelopes to and from rows of the `events` table.
import { decodeEventValue, type Event } from '@probefleet/events';
import type { Tx } from './prisma';

/** An event as the projections see it: stored once, with the time its transaction stored it. */
export interface StoredEvent {
  event: Event;
  ingestedAt: Date;
}

export interface EventPosition { partition: number | null; offset: bigint | null }

export interface InsertedEvent { id: bigint; instance: string; seq: bigint; ingested_at: Date }

/**
 * Appends events, skipping stream positions already stored, and returns the rows it inserted.
 * One INSERT over unnest()ed column arrays: building a 1000-row createMany costs Prisma's query
 * compiler far more than PostgreSQL takes to store it. `time` is cast from the agent's text, so
 * PostgreSQL keeps microseconds (a JS Date would keep milliseconds).
 */
export function insertEvents(tx: Tx, events: readonly { event: Event; at: EventPosition }[]): Promise<InsertedEvent[]> {
  const col = <T>(f: (e: { event: Event; at: EventPosition }) => T): T[] => events.map(f);
  return tx.$queryRaw<InsertedEvent[]>`
    INSERT INTO events (v, type, host, boot_id, instance, seq, time, time_text, mono_ns, data, kafka_partition, kafka_offset)
    SELECT * FROM unnest(
      ${col((e) => e.event.v)}::smallint[], ${col((e) => e.event.type)}::text[], ${col((e) => e.event.host)}::text[],
      ${col((e) => e.event.bootId)}::uuid[], ${col((e) => e.event.instance)}::uuid[], ${col((e) => e.event.seq)}::bigint[],
      ${col((e) => e.event.time)}::timestamptz[], ${col((e) => e.event.time)}::text[], ${col((e) => e.event.monoNs ?? null)}::bigint[],
      ${col((e) => JSON.stringify(e.event.data))}::jsonb[], ${col((e) => e.at.partition)}::int[], ${col((e) => e.at.offset?.toString() ?? null)}::bigint[])
    ON CONFLICT (instance, seq) DO NOTHING
    RETURNING id, instance::text, seq, ingested_at`;
}

interface EventRow {
  v: number; type: string; host: string; bootId: string; instance: string; seq: bigint;
  timeText: string; monoNs: bigint | null; data: unknown; ingestedAt: Date;
}

/** A stored row back to its envelope; rows were validated on the way in, so failure is corruption. */
export function fromEventRow(row: EventRow): StoredEvent {
  const decoded = decodeEventValue({
    v: row.v, type: row.type, host: row.host, bootId: row.bootId, instance: row.instance, seq: Number(row.seq),
    time: row.timeText, ...(row.monoNs === null ? {} : { monoNs: row.monoNs.toString() }), data: row.data,
  });
  if (!decoded.ok) throw new Error(`stored event ${row.instance}/${row.seq} no longer decodes: ${decoded.field}: ${decoded.reason}`);
  return { event: decoded.value, ingestedAt: row.ingestedAt };
}
