// streams + stream_gaps: per (host, instance) how far the stream is contiguous, and the seq ranges
// that are missing. The streams rows are also the store's exactly-once gate: a batch locks the rows
// of its streams (creating the missing ones), and only positions they have not seen are stored, so
// a redelivery, or a second aggregator holding the same partition during a rebalance, stores nothing
// twice. Events are folded one at a time in store order, so the result does not depend on batching.
import { contiguousTo, EMPTY_PROGRESS, type Gap, isSeen, missingCount, observeSeqs, type StreamProgress } from '@probefleet/projections';
import type { Event } from '@probefleet/events';
import type { PoolClient } from 'pg';
import { rfc3339 } from '../sql-time';

interface GapRow { gap: Gap; detectedAt: string; closedAt: string | null; isNew: boolean; changed: boolean }

interface StreamAcc {
  host: string; bootId: string; progress: StreamProgress; events: number; firstTime: string; lastTime: string;
}

/** The locked streams of a batch, their open gaps, and what the batch changes in them. */
export interface Streams {
  streams: Map<string, StreamAcc>;
  gaps: Map<string, GapRow>;
}

const gapKey = (instance: string, from: number) => `${instance}/${from}`;
const byTime = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0); // RFC 3339 UTC, 9 digits: text order is time order

/** Locks (and creates) the streams rows of `events`, in instance order so that two batches cannot deadlock. */
export async function lockStreams(client: PoolClient, events: readonly Event[]): Promise<Streams> {
  const first = new Map<string, Event>();
  for (const e of events) if (!first.has(e.instance)) first.set(e.instance, e);
  const result: Streams = { streams: new Map(), gaps: new Map() };
  if (first.size === 0) return result;
  const fresh = [...first.values()].sort((a, b) => byTime(a.instance, b.instance)).map((e) => [e.instance, e.host, e.bootId, e.time]);
  // A stream's placeholder is visible only in this transaction; a concurrent batch of the same stream
  // waits on it here and then sees the committed row.
  await client.query(
    `INSERT INTO streams (instance, host, boot_id, contiguous_to, max_seq, events, first_time, last_time)
     SELECT (r->>0)::uuid, r->>1, (r->>2)::uuid, 0, 0, 0, (r->>3)::timestamptz, (r->>3)::timestamptz FROM jsonb_array_elements($1::jsonb) r
     ON CONFLICT DO NOTHING`, [JSON.stringify(fresh)]);
  const instances = fresh.map((f) => f[0]);
  const { rows } = await client.query(
    `SELECT instance::text, host, boot_id::text, max_seq, events, first_text, last_text FROM (
       SELECT instance, host, boot_id, max_seq, events,
              ${rfc3339('first_time')} AS first_text, ${rfc3339('last_time')} AS last_text
         FROM streams WHERE instance = ANY($1::uuid[]) ORDER BY instance FOR UPDATE) s`, [instances]);
  const { rows: open } = await client.query(
    `SELECT instance::text, from_seq, to_seq, remaining, ${rfc3339('detected_at')} AS detected
       FROM stream_gaps WHERE instance = ANY($1::uuid[]) AND closed_at IS NULL ORDER BY from_seq`, [instances]);
  const gapsOf = new Map<string, Gap[]>();
  for (const g of open) {
    const gap: Gap = { from: Number(g.from_seq), to: Number(g.to_seq), remaining: g.remaining };
    result.gaps.set(gapKey(g.instance, gap.from), { gap, detectedAt: g.detected, closedAt: null, isNew: false, changed: false });
    gapsOf.set(g.instance, [...(gapsOf.get(g.instance) ?? []), gap]);
  }
  for (const r of rows) {
    const empty = Number(r.events) === 0 && Number(r.max_seq) === 0;
    result.streams.set(r.instance, {
      host: r.host, bootId: r.boot_id, events: 0, firstTime: empty ? '' : r.first_text, lastTime: empty ? '' : r.last_text,
      progress: { maxSeq: Number(r.max_seq), gaps: gapsOf.get(r.instance) ?? [] },
    });
  }
  return result;
}

/** The events of the batch that the store does not hold yet, each position once (first copy kept). */
export function unseen<T extends { event: Event }>(s: Streams, items: readonly T[]): T[] {
  const inBatch = new Set<string>();
  return items.filter(({ event: e }) => {
    const stream = s.streams.get(e.instance);
    if (stream && isSeen(stream.progress, e.seq)) return false;
    const position = `${e.instance}/${e.seq}`;
    if (inBatch.has(position)) return false;
    inBatch.add(position);
    return true;
  });
}

/**
 * Folds the stored events into the locked streams and writes them back. `storeStart` (rebuild after
 * retention dropped partitions): a jump in seq from events older than that start is what retention
 * took, not a gap.
 */
export async function projectStreams(client: PoolClient, s: Streams, events: readonly Event[], storeStart?: string): Promise<void> {
  for (const event of events) {
    let acc = s.streams.get(event.instance);
    if (!acc) {
      acc = { host: event.host, bootId: event.bootId, progress: EMPTY_PROGRESS, events: 0, firstTime: '', lastTime: '' };
      s.streams.set(event.instance, acc);
    }
    if (storeStart !== undefined && event.seq > acc.progress.maxSeq + 1 && event.time >= storeStart && (acc.lastTime === '' || acc.lastTime < storeStart)) {
      acc.progress = { maxSeq: event.seq - 1, gaps: acc.progress.gaps };
    }
    const { progress, changes } = observeSeqs(acc.progress, [event.seq]);
    acc.progress = progress;
    acc.events += 1;
    if (acc.firstTime === '' || event.time < acc.firstTime) acc.firstTime = event.time;
    if (acc.lastTime === '' || event.time > acc.lastTime) acc.lastTime = event.time;
    // A gap is dated by the event that revealed it, and closed by the one that filled it: facts of
    // the stream, so a rebuild dates it the same.
    for (const gap of changes.opened) s.gaps.set(gapKey(event.instance, gap.from), { gap, detectedAt: event.time, closedAt: null, isNew: true, changed: true });
    for (const gap of changes.shrunk) Object.assign(s.gaps.get(gapKey(event.instance, gap.from))!, { gap, changed: true });
    for (const gap of changes.closed) Object.assign(s.gaps.get(gapKey(event.instance, gap.from))!, { gap, closedAt: event.time, changed: true });
  }

  const touched = [...s.streams.entries()].filter(([, a]) => a.events > 0).map(([instance, a]) => [
    instance, a.host, a.bootId, contiguousTo(a.progress), a.progress.maxSeq, a.events, a.firstTime, a.lastTime,
  ]);
  if (touched.length > 0) {
    await client.query(
      `INSERT INTO streams AS s (instance, host, boot_id, contiguous_to, max_seq, events, first_time, last_time)
       SELECT (r->>0)::uuid, r->>1, (r->>2)::uuid, (r->>3)::bigint, (r->>4)::bigint, (r->>5)::bigint, (r->>6)::timestamptz, (r->>7)::timestamptz
         FROM jsonb_array_elements($1::jsonb) AS r
       ON CONFLICT (instance) DO UPDATE SET contiguous_to = excluded.contiguous_to, max_seq = excluded.max_seq,
         first_time = least(CASE WHEN s.events = 0 THEN excluded.first_time ELSE s.first_time END, excluded.first_time),
         last_time = CASE WHEN s.events = 0 THEN excluded.last_time ELSE greatest(s.last_time, excluded.last_time) END,
         events = s.events + excluded.events`, [JSON.stringify(touched)]);
  }
  const changed = [...s.gaps.entries()].filter(([, g]) => g.changed).map(([k, g]) => {
    const instance = k.slice(0, k.indexOf('/'));
    return [s.streams.get(instance)!.host, instance, g.gap.from, g.gap.to, missingCount(g.gap), g.gap.remaining, g.detectedAt, g.closedAt];
  });
  if (changed.length > 0) {
    await client.query(
      `INSERT INTO stream_gaps AS g (host, instance, from_seq, to_seq, missing, remaining, detected_at, closed_at)
       SELECT r->>0, (r->>1)::uuid, (r->>2)::bigint, (r->>3)::bigint, (r->>4)::bigint, r->5, (r->>6)::timestamptz, (r->>7)::timestamptz
         FROM jsonb_array_elements($1::jsonb) AS r
       ON CONFLICT (host, instance, from_seq) DO UPDATE SET missing = excluded.missing, remaining = excluded.remaining, closed_at = excluded.closed_at`,
      [JSON.stringify(changed)]);
  }
}
