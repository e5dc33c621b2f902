// streams + stream_gaps: per (host, instance) how far the stream is contiguous, and the seq ranges
// that are missing. Events are folded one at a time, in store order, so the result does not depend
// on how they were batched (a rebuild gives the live rows back).
import { contiguousTo, EMPTY_PROGRESS, type Gap, missingCount, observeSeqs, type StreamProgress } from '@probefleet/projections';
import type { Tx } from '../prisma';
import type { StoredEvent } from '../event-rows';

interface GapRow { gap: Gap; detectedAt: Date; closedAt: Date | null; isNew: boolean; changed: boolean }

interface StreamAcc {
  host: string; bootId: string; progress: StreamProgress; events: number; firstTime: Date; lastTime: Date; exists: boolean;
}

export async function projectStreams(tx: Tx, events: readonly StoredEvent[]): Promise<void> {
  const instances = [...new Set(events.map((e) => e.event.instance))];
  if (instances.length === 0) return;
  const [rows, openGaps] = await Promise.all([
    tx.stream.findMany({ where: { instance: { in: instances } } }),
    tx.streamGap.findMany({ where: { instance: { in: instances }, closedAt: null }, orderBy: { fromSeq: 'asc' } }),
  ]);
  const gapRows = new Map<string, GapRow>();
  const key = (instance: string, from: number) => `${instance}/${from}`;
  for (const g of openGaps) {
    const gap: Gap = { from: Number(g.fromSeq), to: Number(g.toSeq), remaining: g.remaining as unknown as Gap['remaining'] };
    gapRows.set(key(g.instance, gap.from), { gap, detectedAt: g.detectedAt, closedAt: null, isNew: false, changed: false });
  }
  const streams = new Map<string, StreamAcc>();
  for (const r of rows) {
    streams.set(r.instance, {
      host: r.host, bootId: r.bootId, events: 0, firstTime: r.firstTime, lastTime: r.lastTime, exists: true,
      progress: { maxSeq: Number(r.maxSeq), gaps: openGaps.filter((g) => g.instance === r.instance).map((g) => gapRows.get(key(g.instance, Number(g.fromSeq)))!.gap) },
    });
  }

  for (const { event, ingestedAt } of events) {
    const time = new Date(event.time);
    let s = streams.get(event.instance);
    if (!s) {
      s = { host: event.host, bootId: event.bootId, progress: EMPTY_PROGRESS, events: 0, firstTime: time, lastTime: time, exists: false };
      streams.set(event.instance, s);
    }
    const { progress, changes } = observeSeqs(s.progress, [event.seq]);
    s.progress = progress;
    s.events += 1;
    if (time < s.firstTime) s.firstTime = time;
    if (time > s.lastTime) s.lastTime = time;
    for (const gap of changes.opened) gapRows.set(key(event.instance, gap.from), { gap, detectedAt: ingestedAt, closedAt: null, isNew: true, changed: true });
    for (const gap of changes.shrunk) Object.assign(gapRows.get(key(event.instance, gap.from))!, { gap, changed: true });
    for (const gap of changes.closed) Object.assign(gapRows.get(key(event.instance, gap.from))!, { gap, closedAt: ingestedAt, changed: true });
  }

  // Every touched stream in one statement (a batch carries many hosts' streams): new ones inserted,
  // known ones updated, their event count incremented.
  const touched = [...streams.entries()].filter(([, s]) => s.events > 0).map(([instance, s]) => [
    instance, s.host, s.bootId, contiguousTo(s.progress), s.progress.maxSeq, s.events, s.firstTime.toISOString(), s.lastTime.toISOString(),
  ]);
  if (touched.length > 0) {
    await tx.$executeRaw`
      INSERT INTO streams AS s (instance, host, boot_id, contiguous_to, max_seq, events, first_time, last_time)
      SELECT (r->>0)::uuid, r->>1, (r->>2)::uuid, (r->>3)::bigint, (r->>4)::bigint, (r->>5)::bigint, (r->>6)::timestamptz, (r->>7)::timestamptz
        FROM jsonb_array_elements(${JSON.stringify(touched)}::jsonb) AS r
      ON CONFLICT (instance) DO UPDATE SET contiguous_to = excluded.contiguous_to, max_seq = excluded.max_seq,
        first_time = excluded.first_time, last_time = excluded.last_time, events = s.events + excluded.events`;
  }
  const created = [...gapRows.entries()].filter(([, g]) => g.isNew);
  if (created.length > 0) {
    await tx.streamGap.createMany({
      data: created.map(([k, g]) => ({
        host: streams.get(k.slice(0, k.indexOf('/')))!.host, instance: k.slice(0, k.indexOf('/')),
        fromSeq: BigInt(g.gap.from), toSeq: BigInt(g.gap.to), missing: BigInt(missingCount(g.gap)),
        remaining: g.gap.remaining as unknown as object, detectedAt: g.detectedAt, closedAt: g.closedAt,
      })),
    });
  }
  for (const [k, g] of gapRows) {
    if (g.isNew || !g.changed) continue;
    const instance = k.slice(0, k.indexOf('/'));
    await tx.streamGap.update({
      where: { instance_fromSeq: { instance, fromSeq: BigInt(g.gap.from) } },
      data: { missing: BigInt(missingCount(g.gap)), remaining: g.gap.remaining as unknown as object, closedAt: g.closedAt },
    });
  }
}
