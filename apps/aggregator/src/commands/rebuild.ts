// `probefleet rebuild`: empties every projection and folds the whole event store through the same
// code as live ingestion, in store order, each event with the time it was stored — so the result
// equals what live ingestion built. Runs in one transaction holding the projection lock exclusively:
// ingestion waits, readers see the old projections until the new ones commit.
import { Command } from 'commander';
import { DEFAULT_DATABASE_URL } from '../store/database-url';
import { fromEventRow } from '../store/event-rows';
import { project, PROJECTION_TABLES } from '../store/project';
import { createPrisma, PROJECTION_LOCK, type Db } from '../store/prisma';

const PAGE = 5000;

export async function rebuild(db: Db, log: (line: string) => void = () => undefined): Promise<{ events: number; violations: number }> {
  return db.$transaction(
    async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${PROJECTION_LOCK})`;
      await tx.$executeRawUnsafe(`TRUNCATE ${PROJECTION_TABLES.map((t) => `"${t}"`).join(', ')} RESTART IDENTITY`);
      let after = 0n;
      let events = 0;
      let violations = 0;
      for (;;) {
        const rows = await tx.event.findMany({ where: { id: { gt: after } }, orderBy: { id: 'asc' }, take: PAGE });
        if (rows.length === 0) break;
        violations += (await project(tx, rows.map(fromEventRow))).length;
        events += rows.length;
        after = rows[rows.length - 1]!.id;
        log(`${events} events folded`);
      }
      return { events, violations };
    },
    { maxWait: 60000, timeout: 6 * 3600 * 1000 },
  );
}

export function rebuildCommand(): Command {
  return new Command('rebuild')
    .description('rebuild every projection from the event store (DATABASE_URL)')
    .action(async () => {
      const db = createPrisma(process.env.DATABASE_URL || DEFAULT_DATABASE_URL);
      try {
        const { events, violations } = await rebuild(db, (line) => console.error(line));
        console.log(`rebuilt projections from ${events} events${violations ? ` (${violations} refused by the kprobe model)` : ''}`);
      } finally {
        await db.$disconnect();
      }
    });
}
