// Envelopes to and from rows of the `events` table.
import { decodeEventValue, type Event } from '@probefleet/events';
import type { Prisma } from '../generated/prisma/client';

/** An event as the projections see it: stored once, with the time its transaction stored it. */
export interface StoredEvent {
  event: Event;
  ingestedAt: Date;
}

export interface EventPosition { partition: number | null; offset: bigint | null }

export function toEventRow(event: Event, at: EventPosition): Prisma.EventCreateManyInput {
  return {
    v: event.v,
    type: event.type,
    host: event.host,
    bootId: event.bootId,
    instance: event.instance,
    seq: BigInt(event.seq),
    time: new Date(event.time),
    timeText: event.time,
    monoNs: event.monoNs === undefined ? null : BigInt(event.monoNs),
    data: event.data as Prisma.InputJsonValue,
    kafkaPartition: at.partition,
    kafkaOffset: at.offset,
  };
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
