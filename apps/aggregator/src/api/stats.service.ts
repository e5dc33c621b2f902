// GET /api/v1/stats/transitions: transition counts per (oldState, newState) per time bucket.
import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { PrismaService } from '../store/prisma.service';
import { whereAll } from './tcp-filters';
import { transitionConditions, transitionFilterShape } from './transitions.service';

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;
const MAX_BUCKET_SECONDS = 7 * 86400;
const MAX_BUCKETS = 10000;
const DEFAULT_SPAN_MS = 3600_000;

export const StatsParams = z.strictObject({
  ...transitionFilterShape,
  from: transitionFilterShape.from.describe('Start (RFC 3339, inclusive); default: an hour before `to`.'),
  to: transitionFilterShape.to.describe('End (RFC 3339, exclusive); default: now.'),
  bucket: z.string().regex(/^[1-9]\d{0,5}[smhd]$/, 'expected a duration like 30s, 1m, 5m, 1h or 1d').default('1m')
    .describe(`Bucket width: a number and s, m, h or d (at most 7d and ${MAX_BUCKETS} buckets per request; default 1m).`),
});

/** The parameters with their defaults applied, the bucket in seconds, and the span checked. */
export const StatsQuery = StatsParams.transform((q, ctx) => {
  const bucketSeconds = Number(q.bucket.slice(0, -1)) * UNIT_SECONDS[q.bucket.slice(-1) as keyof typeof UNIT_SECONDS];
  const toMs = q.to === undefined ? Date.now() : Date.parse(q.to);
  const fromMs = q.from === undefined ? toMs - DEFAULT_SPAN_MS : Date.parse(q.from);
  if (bucketSeconds > MAX_BUCKET_SECONDS) ctx.addIssue({ code: 'custom', path: ['bucket'], message: 'expected at most 7d' });
  if (fromMs >= toMs) ctx.addIssue({ code: 'custom', path: ['to'], message: 'expected a time after from' });
  else if ((toMs - fromMs) / (bucketSeconds * 1000) > MAX_BUCKETS) {
    ctx.addIssue({ code: 'custom', path: ['bucket'], message: `expected at most ${MAX_BUCKETS} buckets between from and to; take a wider bucket` });
  }
  // Given bounds stay text, to the microsecond; defaults are computed here.
  return { ...q, from: q.from ?? new Date(fromMs).toISOString(), to: q.to ?? new Date(toMs).toISOString(), bucketSeconds };
});
export type StatsQuery = z.output<typeof StatsQuery>;

export const StatsItem = z.object({
  start: z.string().describe('Bucket start (RFC 3339 UTC); buckets are aligned to the Unix epoch.'),
  oldState: z.string(),
  newState: z.string(),
  count: z.number().int(),
});

export const StatsResponse = z.object({
  from: z.string(),
  to: z.string(),
  bucket: z.string(),
  bucketSeconds: z.number().int(),
  items: z.array(StatsItem).describe('Non-empty buckets only, by start, oldState, newState.'),
});
export type StatsResponse = z.infer<typeof StatsResponse>;

@Injectable()
export class StatsService {
  constructor(private readonly db: PrismaService) {}

  async transitions(q: StatsQuery): Promise<StatsResponse> {
    const rows = await this.db.$queryRaw<{ start: Date; old_state: string; new_state: string; count: number }[]>`
      SELECT date_bin(${q.bucketSeconds}::int * INTERVAL '1 second', time, TIMESTAMPTZ '1970-01-01T00:00:00Z') AS start,
             old_state, new_state, count(*)::int AS count
        FROM tcp_transitions
        ${whereAll(transitionConditions(q))}
       GROUP BY 1, 2, 3
       ORDER BY 1, 2, 3`;
    return {
      from: q.from, to: q.to, bucket: q.bucket, bucketSeconds: q.bucketSeconds,
      items: rows.map((r) => ({ start: r.start.toISOString(), oldState: r.old_state, newState: r.new_state, count: r.count })),
    };
  }
}
