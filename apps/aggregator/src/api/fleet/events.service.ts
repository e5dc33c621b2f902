// GET /api/v1/events: one stream's raw events in seq order, rebuilt from the store.
import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { PrismaService } from '../../store/prisma.service';
import { streamEnvelopes } from '../../store/envelopes';
import { toPage } from '../cursor';
import { idCursor, intParam, limitParam, uuidParam } from '../params';
import { bigintText, hostParam } from './fleet-params';

export const EventsQuery = z.strictObject({
  instance: uuidParam.optional().describe('The stream (agent instance); `instance` or `host` is required.'),
  host: hostParam.describe("The host's latest stream, when no instance is given."),
  fromSeq: intParam(1, Number.MAX_SAFE_INTEGER).optional().describe('First seq (default 1).'),
  limit: limitParam,
  cursor: idCursor.optional(),
}).superRefine((q, ctx) => {
  if (q.instance === undefined && q.host === undefined) ctx.addIssue({ code: 'custom', path: ['instance'], message: 'required (or host)' });
  if (q.fromSeq !== undefined && q.cursor !== undefined) ctx.addIssue({ code: 'custom', path: ['fromSeq'], message: 'not with cursor (the cursor already says where to go on)' });
});
export type EventsQuery = z.output<typeof EventsQuery>;

export const EventItem = z.object({
  id: bigintText('Row id (store order)'), v: z.number().int(), type: z.string(), host: z.string(), bootId: z.uuid(), instance: z.uuid(),
  seq: bigintText('Position in the stream'), time: z.string().describe('As the agent wrote it (RFC 3339, nanoseconds).'),
  monoNs: z.string().nullable(), data: z.unknown(),
  kafkaPartition: z.number().int().nullable().describe('Always null: the store keeps no Kafka position per event (dead letters keep theirs).'),
  kafkaOffset: z.string().nullable().describe('Always null (see kafkaPartition).'),
  ingestedAt: z.string().nullable().describe('Always null: arrival is kept per host and minute (ingest_lag), not per event.'),
});
export const EventsResponse = z.object({ instance: z.uuid().nullable().describe('The stream read; null when the host has none.'), items: z.array(EventItem), nextCursor: z.string().nullable() });

@Injectable()
export class EventsService {
  constructor(private readonly db: PrismaService) {}

  /** One stream in seq order, TCP hits (typed rows) and other events merged. */
  async page(q: EventsQuery): Promise<z.infer<typeof EventsResponse>> {
    const instance = q.instance ?? (await this.db.stream.findFirst({ where: { host: q.host }, orderBy: { firstTime: 'desc' }, select: { instance: true } }))?.instance;
    if (instance === undefined) return { instance: null, items: [], nextCursor: null };
    const after = q.cursor === undefined ? (q.fromSeq ?? 1) - 1 : Number(q.cursor);
    const rows = await streamEnvelopes(this.db.pool, instance, after, q.limit + 1);
    return {
      instance,
      ...toPage(rows, q.limit, (r) => [String(r.event.seq)], ({ id, event: e }) => ({
        id: id.toString(), v: e.v, type: e.type, host: e.host, bootId: e.bootId, instance: e.instance, seq: String(e.seq),
        time: e.time, monoNs: e.monoNs ?? null, data: e.data, kafkaPartition: null, kafkaOffset: null, ingestedAt: null,
      })),
    };
  }
}
