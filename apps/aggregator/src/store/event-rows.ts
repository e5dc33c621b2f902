// Envelopes to and from rows of the `events` table.
import { decodeEventValue, type Event } from '@probefleet/events';
import type { Tx } from './prisma';

/** An event as the projections see it: stored once, with its row id and the time its transaction stored it. */
export interface StoredEvent {
  id: bigint;
  event: Event;
  ingestedAt: Date;
}

/** An event to append, with where it was read from Kafka (null when it came from elsewhere). */
export interface EventToStore { event: Event; partition: number | null; offset: bigint | null }

/**
 * Appends events, skipping stream positions already stored, and returns the ones it inserted in
 * store (id) order. The whole batch travels as ONE json parameter that PostgreSQL unpacks with
 * json_to_recordset: per-element array parameters (pg's escaping, Prisma's argument handling) cost
 * Node several times what PostgreSQL takes to store the rows, most of it garbage. The answer is one
 * row too: the stream positions that were new with their ids, as json text. `time` is cast from
 * the agent's text, so PostgreSQL keeps microseconds (a JS Date would keep milliseconds).
 */
export async function insertEvents(tx: Tx, events: readonly EventToStore[]): Promise<StoredEvent[]> {
  if (events.length === 0) return [];
  const rows = events.map(({ event: e, partition, offset }) => ({
    v: e.v, type: e.type, host: e.host, boot: e.bootId, inst: e.instance, seq: e.seq, time: e.time, mono: e.monoNs ?? null,
    data: e.data, p: partition, o: offset === null ? null : offset.toString(),
  }));
  const [result] = await tx.$queryRaw<{ fresh: string; ingested_at: Date | null }[]>`
    WITH ins AS (
      INSERT INTO events (v, type, host, boot_id, instance, seq, time, time_text, mono_ns, data, kafka_partition, kafka_offset)
      SELECT v, type, host, boot, inst, seq, time::timestamptz, time, mono, data, p, o
        FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
          AS r(v smallint, type text, host text, boot uuid, inst uuid, seq bigint, time text, mono bigint, data jsonb, p int, o bigint)
      ON CONFLICT (instance, seq) DO NOTHING
      RETURNING id, instance, seq, ingested_at
    )
    SELECT coalesce(json_agg(json_build_array(instance, seq, id::text) ORDER BY id), '[]')::text AS fresh, min(ingested_at) AS ingested_at FROM ins`;
  const fresh = JSON.parse(result!.fresh) as [string, number, string][];
  if (fresh.length === 0) return [];
  const byPosition = new Map(events.map((e) => [`${e.event.instance}/${e.event.seq}`, e.event]));
  const ingestedAt = result!.ingested_at!;
  return fresh.map(([instance, seq, id]) => {
    const event = byPosition.get(`${instance}/${seq}`);
    if (!event) throw new Error(`stored event ${instance}/${seq} is not one of the batch's`); // UUIDs are lowercase on both sides
    return { id: BigInt(id), event, ingestedAt };
  });
}

interface EventRow {
  id: bigint; v: number; type: string; host: string; bootId: string; instance: string; seq: bigint;
  timeText: string; monoNs: bigint | null; data: unknown; ingestedAt: Date;
}

/** A stored row back to its envelope; rows were validated on the way in, so failure is corruption. */
export function fromEventRow(row: EventRow): StoredEvent {
  const decoded = decodeEventValue({
    v: row.v, type: row.type, host: row.host, bootId: row.bootId, instance: row.instance, seq: Number(row.seq),
    time: row.timeText, ...(row.monoNs === null ? {} : { monoNs: row.monoNs.toString() }), data: row.data,
  });
  if (!decoded.ok) throw new Error(`stored event ${row.instance}/${row.seq} no longer decodes: ${decoded.field}: ${decoded.reason}`);
  return { id: row.id, event: decoded.value, ingestedAt: row.ingestedAt };
}
