// `probefleet export [-o FILE] [--host H] [--instance UUID] [--from T] [--to T]`: the event store as
// NDJSON, one envelope per line as the agent sent it, in store order (id) — the input `probefleet
// replay` folds. Rows are read in id windows so memory stays bounded on any store size, and each
// chunk is written with backpressure before the next is read. After retention dropped partitions,
// the export starts later (retention_drops says where); lifecycle events are kept, so it replays.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { Command } from 'commander';
import { z } from 'zod';
import { encodeEvent, type Event } from '@probefleet/events';
import { loadDatabaseUrl } from '../config';
import { storedEnvelopes } from '../store/envelopes';
import { createPrisma, type Db } from '../store/prisma';
import { progress } from './progress';


/** RFC 3339 kept as text: PostgreSQL parses it to the microsecond (a JS Date stops at the millisecond). */
const time = z.iso.datetime({ offset: true, error: 'expected an RFC 3339 time like 2026-11-25T10:00:00Z' });

export const ExportFilter = z
  .strictObject({
    host: z.string().min(1, 'expected a host name').optional(),
    instance: z.uuid({ error: 'expected an agent instance UUID' }).transform((s) => s.toLowerCase()).optional(),
    /** Event time, inclusive. */
    from: time.optional(),
    /** Event time, exclusive. */
    to: time.optional(),
  })
  .superRefine((f, ctx) => {
    if (f.from !== undefined && f.to !== undefined && Date.parse(f.from) >= Date.parse(f.to)) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'expected a time after --from' });
    }
  });
export type ExportFilter = z.output<typeof ExportFilter>;

/** Every problem of the options, one per line (`--from: expected ...`). */
export function parseExportFilter(options: unknown): { ok: true; filter: ExportFilter } | { ok: false; problems: string[] } {
  const parsed = ExportFilter.safeParse(options);
  if (parsed.success) return { ok: true, filter: parsed.data };
  return { ok: false, problems: parsed.error.issues.map((i) => `--${i.path.join('.') || 'options'}: ${i.message}`) };
}

/** Each stored event in store order (both tables merged by id), in the agent's spelling. */
export async function* storedEvents(db: Db, filter: ExportFilter): AsyncGenerator<Event> {
  for await (const { event } of storedEnvelopes(db.pool, filter)) yield event;
}

/** Writes every matching event to `out` as NDJSON; resolves to the number written. */
export async function exportEvents(db: Db, filter: ExportFilter, out: Writable, onCount: (n: number) => void = () => undefined): Promise<number> {
  let n = 0;
  let chunk = '';
  for await (const event of storedEvents(db, filter)) {
    chunk += `${encodeEvent(event)}\n`;
    n++;
    if ((n & 1023) === 0) onCount(n);
    // Written in chunks of about a MiB: one write call per line costs more than the encoding.
    if (chunk.length >= 1 << 20) {
      const flowing = out.write(chunk);
      chunk = '';
      if (!flowing) await once(out, 'drain');
    }
  }
  if (chunk.length > 0 && !out.write(chunk)) await once(out, 'drain');
  return n;
}

export function exportCommand(): Command {
  return new Command('export')
    .description('write the event store (DATABASE_URL) as NDJSON, one event per line in store order — the input of `replay`')
    .option('-o, --output <file>', 'write to FILE instead of stdout')
    .option('--host <name>', 'only events of this host')
    .option('--instance <uuid>', 'only events of this agent instance (one stream)')
    .option('--from <time>', 'only events at or after this time (RFC 3339)')
    .option('--to <time>', 'only events before this time (RFC 3339, exclusive)')
    .action(async (opts: { output?: string; host?: string; instance?: string; from?: string; to?: string }) => {
      const { output, ...filterOptions } = opts;
      const parsed = parseExportFilter(filterOptions);
      if (!parsed.ok) {
        for (const problem of parsed.problems) process.stderr.write(`export: ${problem}\n`);
        process.exitCode = 1;
        return;
      }
      const db = createPrisma(loadDatabaseUrl());
      const out = output === undefined ? process.stdout : createWriteStream(output);
      // An unwritable file fails on open, after the stream was handed back: surface it as the error.
      const failed = new Promise<never>((_, reject) => out.once('error', reject));
      failed.catch(() => undefined); // raced below; not an unhandled rejection when it comes after
      try {
        // The total is known without a filter: every stored batch records its rows.
        const total = Object.values(parsed.filter).every((v) => v === undefined) ? await storedRows(db) : undefined;
        const shown = progress('exported', total);
        const n = await Promise.race([exportEvents(db, parsed.filter, out, (c) => shown.update(c)), failed]);
        shown.update(n);
        shown.done();
        if (out !== process.stdout) {
          out.end();
          await Promise.race([once(out, 'finish'), failed]);
        }
        process.stderr.write(`exported ${n} events\n`);
      } finally {
        await db.$disconnect();
      }
    });
}

/** Events in the store, by its batches (what retention dropped aside: only an estimate then). */
export async function storedRows(db: Db): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>(`SELECT coalesce(sum(rows), 0)::text AS n FROM store_batches`);
  return Number(rows[0]!.n);
}
