// Throw-away PostgreSQL databases for tests that need a schema of their own.
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { DEFAULT_DATABASE_URL } from '../src/store/database-url';
import { migrate } from '../src/store/migrations';

const MIGRATIONS = join(__dirname, '..', '..', '..', 'prisma', 'migrations');
/** The local stack's database unless DATABASE_URL says otherwise. */
const databaseUrl = (): string => process.env.DATABASE_URL || DEFAULT_DATABASE_URL;

export interface TempDatabase { url: string; name: string; drop(): Promise<void> }

async function admin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const u = new URL(databaseUrl());
  u.pathname = '/postgres';
  const client = new Client({ connectionString: u.toString(), connectionTimeoutMillis: 5000 });
  await client.connect();
  try { return await fn(client); } finally { await client.end(); }
}

export async function createTempDatabase(prefix: string): Promise<TempDatabase> {
  const name = `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  const u = new URL(databaseUrl());
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined),
  };
}

/** A throw-away database with every migration applied. */
export async function createMigratedDatabase(prefix: string): Promise<TempDatabase> {
  const db = await createTempDatabase(prefix);
  await migrate(db.url, MIGRATIONS);
  return db;
}

/** The first migration of the store v2 layout (issue 12). */
export const STORE_V2 = '20261202090000_store_v2';

/**
 * A throw-away database filled by `fill` on the store as it was before STORE_V2, then migrated the
 * rest of the way, as a production store is. For the tests that seed through ingest() while this
 * branch still has the v1 ingest (see SEED_THROUGH_V1_INGEST in the specs that use it).
 */
export async function createV1FilledDatabase<T>(prefix: string, fill: (url: string) => Promise<T>): Promise<{ db: TempDatabase; filled: T }> {
  const db = await createTempDatabase(prefix);
  const v1 = mkdtempSync(join(tmpdir(), 'probefleet-migrations-v1-'));
  try {
    for (const name of readdirSync(MIGRATIONS).filter((n) => n < STORE_V2)) cpSync(join(MIGRATIONS, name), join(v1, name), { recursive: true });
    await migrate(db.url, v1);
    const filled = await fill(db.url);
    await migrate(db.url, MIGRATIONS);
    return { db, filled };
  } finally {
    rmSync(v1, { recursive: true, force: true });
  }
}
