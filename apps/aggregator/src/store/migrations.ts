// Applies the SQL migrations in prisma/migrations the way `prisma migrate deploy` does, because its
// schema-engine binary cannot be had here: same order (folder names), same `_prisma_migrations`
// table and rows (checksum = SHA-256 of migration.sql), same advisory lock. Either tool can take over.
import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { connectErrorMessage } from './database-url';

/** The lock id Prisma's schema engine takes on PostgreSQL, so the two never migrate at once. */
const PRISMA_ADVISORY_LOCK = 72707369;

// The table exactly as Prisma's schema engine creates it on PostgreSQL.
const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

export interface LocalMigration { name: string; sql: string; checksum: string }
export interface MigrateResult { applied: string[]; alreadyApplied: string[] }

export class MigrationError extends Error {}

export function checksum(sql: string): string {
  return createHash('sha256').update(sql).digest('hex');
}

export function readMigrations(dir: string): LocalMigration[] {
  if (!existsSync(dir)) throw new MigrationError(`no migrations folder at ${dir}`);
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'migration.sql')))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: checksum(sql) };
    });
}

interface AppliedRow { migration_name: string; checksum: string; finished_at: Date | null; rolled_back_at: Date | null }

/**
 * Applies every migration not yet recorded. Refuses, before applying anything, when a recorded
 * migration's file changed, is missing, or failed earlier (as `prisma migrate deploy` does).
 */
export async function migrate(databaseUrl: string, migrationsDir: string, log: (line: string) => void = () => undefined): Promise<MigrateResult> {
  const local = readMigrations(migrationsDir);
  const client = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10000 });
  try {
    await client.connect();
  } catch (err) {
    throw new MigrationError(`cannot connect to PostgreSQL at ${new URL(databaseUrl).host}: ${connectErrorMessage(err)}`);
  }
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_ADVISORY_LOCK]);
    await client.query(CREATE_MIGRATIONS_TABLE);
    const { rows } = await client.query<AppliedRow>(
      'SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at',
    );
    const recorded = rows.filter((r) => r.rolled_back_at === null);
    const byName = new Map(local.map((m) => [m.name, m]));
    for (const row of recorded) {
      const file = byName.get(row.migration_name);
      if (row.finished_at === null) {
        throw new MigrationError(`migration ${row.migration_name} failed earlier and is not resolved; fix the database, then mark it rolled back (rolled_back_at) to retry`);
      }
      if (!file) throw new MigrationError(`migration ${row.migration_name} is recorded in the database but missing from ${migrationsDir}`);
      if (file.checksum !== row.checksum) {
        throw new MigrationError(`migration ${row.migration_name} was modified after it was applied (checksum ${row.checksum} in the database, ${file.checksum} on disk)`);
      }
    }
    const done = new Set(recorded.map((r) => r.migration_name));
    const applied: string[] = [];
    for (const m of local.filter((l) => !done.has(l.name))) {
      const id = randomUUID();
      await client.query(
        'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, now(), 0)',
        [id, m.checksum, m.name],
      );
      try {
        // One simple-protocol query: PostgreSQL runs a multi-statement script in one implicit transaction.
        await client.query(m.sql);
      } catch (err) {
        await client.query('UPDATE "_prisma_migrations" SET logs = $2 WHERE id = $1', [id, (err as Error).message]);
        throw new MigrationError(`migration ${m.name} failed: ${(err as Error).message}`);
      }
      await client.query('UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1', [id]);
      log(`applied ${m.name}`);
      applied.push(m.name);
    }
    return { applied, alreadyApplied: [...done] };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_ADVISORY_LOCK]).catch(() => undefined);
    await client.end();
  }
}
