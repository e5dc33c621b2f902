// GET /api/v1/stats/transitions: transition counts per (oldState, newState) per time bucket, from the
// per-minute/per-hour rollups when they give the exact answer, else from raw rows.
import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { Prisma } from '../generated/prisma/client';
import { PrismaService } from '../store/prisma.service';
import { filteredSource, whereAll } from './tcp-filters';
import { hasOwnerFilter, resolveOwners } from './owner-fields';
import { timeStateConditions, transitionFilterShape } from './transitions.service';

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

/**
 * The tcp_rollups resolution that answers q exactly, or undefined (then raw rows do). Rollups count
 * per host and states only (service_port is not the `port` filter's sport-or-dport), and a rollup
 * bucket must fall wholly inside one answer bucket and inside [from, to): the width and both bounds
 * are multiples of the resolution. Rollups outlive raw rows (ROLLUP_RETENTION_DAYS > RETENTION_DAYS):
 * past raw retention only this path still counts.
 */
export function rollupResolution(q: StatsQuery): 60 | 3600 | undefined {
  if (q.port !== undefined || q.saddr !== undefined || q.daddr !== undefined || q.family !== undefined || hasOwnerFilter(q)) return undefined;
  return ([3600, 60] as const).find((res) => q.bucketSeconds % res === 0 && alignedTo(q.from, res) && alignedTo(q.to, res));
}

/** An RFC 3339 time on a multiple of `seconds` since the epoch (no fraction but zeros). */
function alignedTo(time: string, seconds: number): boolean {
  const fraction = /\.(\d+)/.exec(time)?.[1] ?? '';
  const ms = Date.parse(time);
  return /^0*$/.test(fraction) && ms % (seconds * 1000) === 0;
}

const EPOCH = Prisma.raw(`TIMESTAMPTZ '1970-01-01T00:00:00Z'`);
// Text order of the state names, as the answers always had it (the enum sorts in kernel order).
const ORDER = Prisma.raw(`ORDER BY 1, old_state::text COLLATE "C", new_state::text COLLATE "C"`);

/** Counts from raw rows: any filter, any bucket. */
export function rawStatsSql(q: StatsQuery): Prisma.Sql {
  const { from, where } = filteredSource('tcp_transitions', q, timeStateConditions(q));
  return Prisma.sql`
    SELECT date_bin(${q.bucketSeconds}::int * INTERVAL '1 second', time, ${EPOCH}) AS start,
           old_state::text, new_state::text, count(*) AS count
      FROM ${from}
      ${where}
     GROUP BY 1, old_state, new_state
     ${ORDER}`;
}

/**
 * Counts from the rollups of one resolution (see rollupResolution for when they are exact): one
 * host's from tcp_rollups, the fleet's from tcp_rollups_fleet (the same counts summed over hosts and
 * ports, a few rows per bucket).
 */
export function rollupStatsSql(q: StatsQuery, resolution: 60 | 3600): Prisma.Sql {
  const conditions = [Prisma.sql`resolution = ${resolution}`, Prisma.sql`bucket >= ${q.from}::timestamptz`, Prisma.sql`bucket < ${q.to}::timestamptz`];
  if (q.host !== undefined) conditions.push(Prisma.sql`host = ${q.host}`);
  const table = Prisma.raw(q.host === undefined ? 'tcp_rollups_fleet' : 'tcp_rollups');
  if (q.oldState !== undefined) conditions.push(Prisma.sql`old_state = ${q.oldState}::tcp_state`);
  if (q.newState !== undefined) conditions.push(Prisma.sql`new_state = ${q.newState}::tcp_state`);
  // The fleet rows at the answer's own width are the answer's rows already (one per bucket and states).
  if (q.host === undefined && q.bucketSeconds === resolution) {
    return Prisma.sql`
      SELECT bucket AS start, old_state::text, new_state::text, count
        FROM tcp_rollups_fleet
        ${whereAll(conditions)}
       ${ORDER}`;
  }
  return Prisma.sql`
    SELECT date_bin(${q.bucketSeconds}::int * INTERVAL '1 second', bucket, ${EPOCH}) AS start,
           old_state::text, new_state::text, sum(count) AS count
      FROM ${table}
      ${whereAll(conditions)}
     GROUP BY 1, old_state, new_state
     ${ORDER}`;
}

/** The SQL that answers q: rollups when they are exact for it, else raw rows. */
export function statsSql(q: StatsQuery): { source: 'rollup' | 'raw'; sql: Prisma.Sql } {
  const resolution = rollupResolution(q);
  return resolution === undefined ? { source: 'raw', sql: rawStatsSql(q) } : { source: 'rollup', sql: rollupStatsSql(q, resolution) };
}

export interface StatsRow { start: Date; old_state: string; new_state: string; count: bigint | number | string }

/**
 * The answer's items as one JSON text built by PostgreSQL from the rows of `sql` (in their order):
 * a day of minutes is 14,400 items, which cost more as driver rows turned into objects than the
 * query itself.
 */
export function statsItemsSql(sql: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`
    SELECT coalesce(json_agg(json_build_object('start', to_char(s.start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                                               'oldState', s.old_state, 'newState', s.new_state, 'count', s.count)
                             ORDER BY s.start, s.old_state COLLATE "C", s.new_state COLLATE "C"), '[]')::text AS items
      FROM (${sql}) s`;
}

@Injectable()
export class StatsService {
  constructor(private readonly db: PrismaService) {}

  async transitions(q: StatsQuery): Promise<StatsResponse> {
    const [row] = await this.db.$queryRaw<{ items: string }[]>(statsItemsSql(statsSql(await resolveOwners(this.db, q)).sql));
    return { from: q.from, to: q.to, bucket: q.bucket, bucketSeconds: q.bucketSeconds, items: JSON.parse(row!.items) as StatsResponse['items'] };
  }
}
