// `probefleet migrate`: applies prisma/migrations to DATABASE_URL (see store/migrations.ts for why
// this is ours and not `prisma migrate deploy`).
import { join } from 'node:path';
import { Command } from 'commander';
import { migrate, MigrationError } from '../store/migrations';
import { loadDatabaseUrl } from '../config';
import { progress } from './progress';

/** prisma/migrations of the repository this package was built in (dist/commands → repo root). */
const DEFAULT_MIGRATIONS_DIR = join(__dirname, '..', '..', '..', '..', 'prisma', 'migrations');

export function migrateCommand(): Command {
  return new Command('migrate')
    .description('apply the SQL migrations to DATABASE_URL, recording them in _prisma_migrations')
    .option('--dir <path>', 'migrations folder', DEFAULT_MIGRATIONS_DIR)
    .action(async (opts: { dir: string }) => {
      const url = loadDatabaseUrl();
      try {
        // The pending count is known only inside migrate(): the progress line counts what it applies.
        const shown = progress('migrations applied');
        let n = 0;
        const result = await migrate(url, opts.dir, (line) => { console.log(line); shown.update(++n); });
        shown.done();
        if (result.applied.length === 0) console.log(`database is up to date (${result.alreadyApplied.length} migrations applied earlier)`);
      } catch (err) {
        if (!(err instanceof MigrationError)) throw err;
        console.error(`migrate: ${err.message}`);
        process.exitCode = 1;
      }
    });
}
