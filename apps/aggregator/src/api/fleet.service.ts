// The fleet and the store's own records: agents, probes, raw events per stream, gaps, dead letters.
// Small tables or one-stream reads: the Prisma query builder over their primary keys is enough.
import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { PrismaService } from '../store/prisma.service';
import { streamEnvelopes } from '../store/envelopes';
import { toPage, type Page } from './cursor';
import { boolParam, idCursor, intParam, limitParam, uuidParam } from './params';

const hostParam = z.string().min(1, 'expected a host name').optional().describe('Host name, exactly.');
const bigintText = (what: string) => z.string().describe(`${what} (a BIGINT, as a string).`);
const iso = (d: Date | null): string | null => d?.toISOString() ?? null;

export const AgentsQuery = z.strictObject({ host: hostParam });
export const AgentItem = z.object({
  host: z.string(), bootId: z.uuid(), instance: z.uuid().describe('The latest agent instance (stream) of the host.'),
  kernelRelease: z.string().nullable(), arch: z.string().nullable(), agentVersion: z.string().nullable(), mode: z.string().nullable(),
  capabilities: z.unknown(), startedAt: z.string().nullable(), stoppedAt: z.string().nullable(), lastSeen: z.string(),
  events: bigintText('Events stored'), hits: bigintText('Probe hits'), missed: bigintText('Probe misses'),
  lost: bigintText('Events the kernel dropped'), counters: z.unknown().describe('The latest heartbeat counters.'),
});
export const AgentsResponse = z.object({ items: z.array(AgentItem) });

@Injectable()
export class AgentsService {
  constructor(private readonly db: PrismaService) {}

  async list(q: z.output<typeof AgentsQuery>): Promise<z.infer<typeof AgentsResponse>> {
    const rows = await this.db.agent.findMany({ where: { host: q.host }, orderBy: { host: 'asc' } });
    return {
      items: rows.map((a) => ({
        ...a, startedAt: iso(a.startedAt), stoppedAt: iso(a.stoppedAt), lastSeen: a.lastSeen.toISOString(),
        events: a.events.toString(), hits: a.hits.toString(), missed: a.missed.toString(), lost: a.lost.toString(),
      })),
    };
  }
}

export const ProbesQuery = z.strictObject({ host: hostParam });
export const ProbeItem = z.object({
  host: z.string(), name: z.string(), kind: z.string(), symbol: z.string(), offset: z.number().int(),
  address: z.string().nullable(), bucket: z.number().int().nullable().describe('kprobe_table bucket (hash_ptr(addr, 6)).'),
  insn: z.string().nullable(), armed: z.boolean(), hits: bigintText('Hits'), missed: bigintText('Misses'),
  definition: z.string().nullable(), bootId: z.uuid(), instance: z.uuid(), registeredAt: z.string(), updatedAt: z.string(),
});
export const ProbesResponse = z.object({ items: z.array(ProbeItem) });

@Injectable()
export class ProbesService {
  constructor(private readonly db: PrismaService) {}

  async list(q: z.output<typeof ProbesQuery>): Promise<z.infer<typeof ProbesResponse>> {
    const rows = await this.db.probe.findMany({ where: { host: q.host }, orderBy: [{ host: 'asc' }, { name: 'asc' }] });
    return {
      items: rows.map((p) => ({
        ...p, hits: p.hits.toString(), missed: p.missed.toString(), registeredAt: p.registeredAt.toISOString(), updatedAt: p.updatedAt.toISOString(),
      })),
    };
  }
}

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

export const GapsQuery = z.strictObject({
  host: hostParam,
  open: boolParam.optional().describe('true: seqs still missing; false: filled since.'),
  limit: limitParam,
  cursor: idCursor.optional(),
});
export const GapItem = z.object({
  id: bigintText('Row id'), host: z.string(), instance: z.uuid(), fromSeq: bigintText('First missing seq'), toSeq: bigintText('Last missing seq'),
  missing: bigintText('Seqs still missing'), remaining: z.array(z.object({ from: z.number(), to: z.number() })),
  detectedAt: z.string(), closedAt: z.string().nullable(),
});

@Injectable()
export class GapsService {
  constructor(private readonly db: PrismaService) {}

  /** Newest first, by id (gaps are few; ids follow detection). */
  async page(q: z.output<typeof GapsQuery>): Promise<Page<z.infer<typeof GapItem>>> {
    const rows = await this.db.streamGap.findMany({
      where: { host: q.host, closedAt: q.open === undefined ? undefined : q.open ? null : { not: null }, id: q.cursor === undefined ? undefined : { lt: q.cursor } },
      orderBy: { id: 'desc' },
      take: q.limit + 1,
    });
    return toPage(rows, q.limit, (g) => [g.id.toString()], (g) => ({
      id: g.id.toString(), host: g.host, instance: g.instance, fromSeq: g.fromSeq.toString(), toSeq: g.toSeq.toString(),
      missing: g.missing.toString(), remaining: g.remaining as { from: number; to: number }[], detectedAt: g.detectedAt.toISOString(), closedAt: iso(g.closedAt),
    }));
  }
}

const PREVIEW_BYTES = 256;

export const DeadLettersQuery = z.strictObject({ limit: limitParam, cursor: idCursor.optional() });
export const DeadLetterItem = z.object({
  id: bigintText('Row id'), receivedAt: z.string(), topic: z.string(), partition: z.number().int(), offset: bigintText('Kafka offset'),
  key: z.string().nullable(), kind: z.string(), reason: z.string(),
  size: z.number().int().describe('Bytes in the message.'),
  raw: z.string().describe('The message exactly as received, base64.'),
  preview: z.string().describe(`The first ${PREVIEW_BYTES} bytes as UTF-8 (invalid bytes as U+FFFD).`),
});

@Injectable()
export class DeadLettersService {
  constructor(private readonly db: PrismaService) {}

  /** Newest first, by id (ids follow arrival). */
  async page(q: z.output<typeof DeadLettersQuery>): Promise<Page<z.infer<typeof DeadLetterItem>>> {
    const rows = await this.db.deadLetter.findMany({
      where: { id: q.cursor === undefined ? undefined : { lt: q.cursor } }, orderBy: { id: 'desc' }, take: q.limit + 1,
    });
    return toPage(rows, q.limit, (d) => [d.id.toString()], (d) => {
      const raw = Buffer.from(d.raw);
      return {
        id: d.id.toString(), receivedAt: d.receivedAt.toISOString(), topic: d.topic, partition: d.partition, offset: d.offset.toString(),
        key: d.key, kind: d.kind, reason: d.reason, size: raw.length, raw: raw.toString('base64'), preview: raw.subarray(0, PREVIEW_BYTES).toString('utf8'),
      };
    });
  }
}
