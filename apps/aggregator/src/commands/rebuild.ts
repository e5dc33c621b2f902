// `probefleet rebuild`: empties every projection and folds the whole store through the same code as
// live ingestion, in store order — so the result equals what live ingestion built. The TCP rows are
// the hits' stored form, not a projection: the fold recomputes their time in the old state and
// rewrites only the ones that differ. After retention dropped partitions, each stream starts at its
// first stored event (no gap for what retention took). Runs in one transaction holding the
// projection lock exclusively: ingestion waits, readers see the old projections until it commits.
import { Command } from 'commander';
import type { PoolClient } from 'pg';
import type { Event } from '@probefleet/events';
import { loadDatabaseUrl } from '../config';
import { envelopesBetween, storeWindows } from '../store/envelopes';
import { project, PROJECTION_RESETS, PROJECTION_TABLES } from '../store/project';
import { inTransaction, PROJECTION_LOCK } from '../store/pg';
import { storeStart } from '../store/partitions';
import { createPrisma, type Db } from '../store/prisma';
import { storedRows } from './export';
import { progress, progressEnabled } from './progress';

export async function rebuild(db: Db, log: (line: string) => void = () => undefined, onCount: (n: number) => void = () => undefined): Promise<{ events: number; violations: number; retimed: number }> {
  const start = await storeStart(db.pool);
  return inTransaction(db.pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [PROJECTION_LOCK]);
    await client.query(`TRUNCATE ${PROJECTION_TABLES.map((t) => `"${t}"`).join(', ')} RESTART IDENTITY`);
    for (const reset of PROJECTION_RESETS) await client.query(reset);
    let events = 0;
    let violations = 0;
    let retimed = 0;
    const windows: [bigint, bigint][] = [];
    for await (const w of storeWindows(client)) windows.push(w);
    for (const [lo, hi] of windows) {
      const stored = await envelopesBetween(client, lo, hi);
      if (stored.length === 0) continue;
      const ms = new Map<Event, { id: bigint; ms: number | null }>();
      for (const s of stored) if (s.msInOldState !== undefined) ms.set(s.event, { id: s.id, ms: s.msInOldState });
      const owners = new Map(stored.flatMap((s) => (s.owner === undefined ? [] : [s.owner])));
      const out = await project(client, stored.map((s) => s.event), {
        owners,
        write: async (_fresh, tcp) => { retimed += await retime(client, tcp.hits.map((h, i) => [ms.get(h)!, tcp.msInOldState[i]!] as const)); },
        ...(start === null ? {} : { storeStart: start }),
      });
      violations += out.violations.length;
      events += stored.length;
      onCount(events);
      log(`${events} events folded`);
    }
    return { events, violations, retimed };
  });
}

/** Writes the recomputed ms in the old state where the stored one differs (none, unless history changed). */
async function retime(client: PoolClient, pairs: readonly (readonly [{ id: bigint; ms: number | null }, number | null])[]): Promise<number> {
  const changed = pairs.filter(([stored, ms]) => stored.ms !== ms).map(([stored, ms]) => [stored.id.toString(), ms]);
  if (changed.length === 0) return 0;
  await client.query(
    `UPDATE tcp_transitions t SET ms_in_old_state = (r->>1)::float8 FROM jsonb_array_elements($1::jsonb) r WHERE t.id = (r->>0)::bigint`,
    [JSON.stringify(changed)]);
  return changed.length;
}

export function rebuildCommand(): Command {
  return new Command('rebuild')
    .description('rebuild every projection from the event store (DATABASE_URL)')
    .option('--dry-run', 'say what would be rebuilt, from how many events, and change nothing')
    .action(async (opts: { dryRun?: boolean }) => {
      const db = createPrisma(loadDatabaseUrl());
      try {
        const total = await storedRows(db);
        if (opts.dryRun) {
          const start = await storeStart(db.pool);
          console.log(`would empty ${PROJECTION_TABLES.join(', ')}`);
          console.log(`would fold ${total} stored events${start === null ? '' : ` (the store starts at ${start}: retention dropped what came before)`} through the projections, in store order, in one transaction holding the projection lock (ingestion waits meanwhile)`);
          console.log('dry run: nothing changed');
          return;
        }
        // On a terminal a progress line replaces the per-window log lines.
        const tty = progressEnabled();
        const shown = progress('folded', total);
        const { events, violations } = await rebuild(db, tty ? () => undefined : (line) => console.error(line), (n) => shown.update(n));
        shown.done();
        console.log(`rebuilt projections from ${events} events${violations ? ` (${violations} refused by the kprobe model)` : ''}`);
      } finally {
        await db.$disconnect();
      }
    });
}
