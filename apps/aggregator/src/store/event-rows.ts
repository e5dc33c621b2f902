// Envelopes to and from rows of the `events` table.
import { decodeEventValue, type Event } from '@probefleet/events';
import type { Tx } from './prisma';

/** An event as the projections see it: stored once, with the time its transaction stored it. */
export interface StoredEvent {
  event: Event;
  ingestedAt: Date;
}

/** An event to append, with where it was read from Kafka (null when it came from elsewhere). */
export interface EventToStore { event: Event; partition: number | null; offset: bigint | null }

/**
 * Appends events, skipping stream positions already stored, and returns the ones it inserted in
 * store (id) order. The whole batch travels as ONE jsonb parameter, an array per event (columns by
 * position, cheaper for PostgreSQL than objects' keys): per-column array parameters (pg escapes every
 * element, Prisma handles each) cost Node several times what PostgreSQL takes to store the rows, most
 * of it garbage. The answer is one row too: the stream positions that were new, in id order, as
 * json text. `time` is cast from the agent's text, so PostgreSQL keeps microseconds (a JS Date would
 * keep milliseconds).
 */
export async function insertEvents(tx: Tx, events: readonly EventToStore[]): Promise<StoredEvent[]> {
  if (events.length === 0) return [];
  const rows = events.map(({ event: e, partition, offset }) => [
    e.v, e.type, e.host, e.bootId, e.instance, e.seq, e.time, e.monoNs ?? null, e.data, partition, offset === null ? null : offset.toString(),
  ]);
  const [result] = await tx.$queryRaw<{ fresh: string; ingested_at: Date | null }[]>`
    WITH ins AS (
      INSERT INTO events (v, type, host, boot_id, instance, seq, time, time_text, mono_ns, data, kafka_partition, kafka_offset)
      SELECT (r->>0)::smallint, r->>1, r->>2, (r->>3)::uuid, (r->>4)::uuid, (r->>5)::bigint, (r->>6)::timestamptz, r->>6,
             (r->>7)::bigint, r->8, (r->>9)::int, (r->>10)::bigint
        FROM jsonb_array_elements(${JSON.stringify(rows)}::jsonb) AS r
      ON CONFLICT (instance, seq) DO NOTHING
      RETURNING id, instance, seq, ingested_at
    )
    SELECT coalesce(json_agg(json_build_array(instance, seq) ORDER BY id), '[]')::text AS fresh, min(ingested_at) AS ingested_at FROM ins`;
  const fresh = JSON.parse(result!.fresh) as [string, number][];
  if (fresh.length === 0) return [];
  const byPosition = new Map(events.map((e) => [`${e.event.instance}/${e.event.seq}`, e.event]));
  const ingestedAt = result!.ingested_at!;
  return fresh.map(([instance, seq]) => {
    const event = byPosition.get(`${instance}/${seq}`);
    if (!event) throw new Error(`stored event ${instance}/${seq} is not one of the batch's`); // UUIDs are lowercase on both sides
    return { event, ingestedAt };
  });
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
