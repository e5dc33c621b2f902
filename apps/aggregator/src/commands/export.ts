// `probefleet export [-o FILE] [--host H] [--instance UUID] [--from T] [--to T]`: the event store as
// NDJSON, one envelope per line, in store order (id) — the input `probefleet replay` folds. Rows are
// read in keyset pages (id > last) so memory stays bounded on any store size, and each page is
// written with backpressure before the next is read.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { Command } from 'commander';
import { z } from 'zod';
import { encodeEvent, type Event } from '@probefleet/events';
import { DEFAULT_DATABASE_URL } from '../store/database-url';
import { fromEventRow } from '../store/event-rows';
import { createPrisma, type Db } from '../store/prisma';
import { Prisma } from '../generated/prisma/client';

const PAGE = 5000;

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

interface ExportRow {
  id: bigint; v: number; type: string; host: string; bootId: string; instance: string; seq: bigint;
  timeText: string; monoNs: bigint | null; data: unknown; ingestedAt: Date;
}

/**
 * Each stored event in store order, `PAGE` rows at a time. The time filter is on the `time` column
 * (the agent's time to the microsecond), compared by PostgreSQL to the option's text.
 */
export async function* storedEvents(db: Db, filter: ExportFilter): AsyncGenerator<Event> {
  const where: Prisma.Sql[] = [];
  if (filter.host !== undefined) where.push(Prisma.sql`host = ${filter.host}`);
  if (filter.instance !== undefined) where.push(Prisma.sql`instance = ${filter.instance}::uuid`);
  if (filter.from !== undefined) where.push(Prisma.sql`time >= ${filter.from}::timestamptz`);
  if (filter.to !== undefined) where.push(Prisma.sql`time < ${filter.to}::timestamptz`);
  let after = 0n;
  for (;;) {
    const rows = await db.$queryRaw<ExportRow[]>`
      SELECT id, v, type, host, boot_id::text AS "bootId", instance::text AS instance, seq, time_text AS "timeText",
             mono_ns AS "monoNs", data, ingested_at AS "ingestedAt"
      FROM events WHERE ${Prisma.join([Prisma.sql`id > ${after}`, ...where], ' AND ')}
      ORDER BY id LIMIT ${PAGE}`;
    for (const row of rows) yield agentSpelling(fromEventRow(row).event);
    if (rows.length < PAGE) return;
    after = rows[rows.length - 1]!.id;
  }
}

// The agent's spelling (encodeEvent of the envelope as apps/agent builds it), so that an exported line
// is byte for byte what the agent sent and replay reads hits on its fast path (scanHit reads that
// spelling only). Decoding a row gives the values but not that order: the envelope comes out of its
// zod schema with `type` moved, and a hit's `data` out of jsonb, which orders keys shortest first.
// Records of free-form keys (heartbeat counters, user probe args) keep jsonb's order: equal values.
const TCP_ARG_ORDER = ['skaddr', 'family', 'saddr', 'daddr', 'sport', 'dport', 'oldstate', 'newstate'];

export function agentSpelling(e: Event): Event {
  const envelope = { v: e.v, type: e.type, host: e.host, bootId: e.bootId, instance: e.instance, seq: e.seq, time: e.time };
  const mono = e.monoNs === undefined ? {} : { monoNs: e.monoNs };
  if (e.type !== 'probe.hit') return { ...envelope, ...mono, data: e.data } as Event;
  const { probe, cpu, pid, comm, ctx, args } = e.data;
  const tcp = Object.keys(args).length === TCP_ARG_ORDER.length && TCP_ARG_ORDER.every((k) => k in args);
  const data = {
    probe, cpu, pid, comm,
    ...(ctx === undefined ? {} : {
      ctx: { irqsOff: ctx.irqsOff, needResched: ctx.needResched, hardirq: ctx.hardirq, softirq: ctx.softirq, nmi: ctx.nmi, preemptDepth: ctx.preemptDepth },
    }),
    args: tcp ? Object.fromEntries(TCP_ARG_ORDER.map((k) => [k, args[k]])) : args,
  };
  return { ...envelope, ...mono, data } as Event;
}

/** Writes every matching event to `out` as NDJSON; resolves to the number written. */
export async function exportEvents(db: Db, filter: ExportFilter, out: Writable): Promise<number> {
  let n = 0;
  let chunk = '';
  for await (const event of storedEvents(db, filter)) {
    chunk += `${encodeEvent(event)}\n`;
    n++;
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
      const db = createPrisma(process.env.DATABASE_URL || DEFAULT_DATABASE_URL);
      const out = output === undefined ? process.stdout : createWriteStream(output);
      // An unwritable file fails on open, after the stream was handed back: surface it as the error.
      const failed = new Promise<never>((_, reject) => out.once('error', reject));
      failed.catch(() => undefined); // raced below; not an unhandled rejection when it comes after
      try {
        const n = await Promise.race([exportEvents(db, parsed.filter, out), failed]);
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
