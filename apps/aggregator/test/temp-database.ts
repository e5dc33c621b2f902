// Throw-away PostgreSQL databases for tests that need a schema of their own.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Client } from 'pg';
import { DEFAULT_DATABASE_URL } from '../src/store/database-url';
import { migrate } from '../src/store/migrations';
/** The local stack's database unless DATABASE_URL says otherwise. */
const databaseUrl = (): string => process.env.DATABASE_URL || DEFAULT_DATABASE_URL;

export interface TempDatabase { url: string; name: string; drop(): Promise<void> }

async function admin<T>(server: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const u = new URL(server);
  u.pathname = '/postgres';
  const client = new Client({ connectionString: u.toString(), connectionTimeoutMillis: 5000 });
  await client.connect();
  try { return await fn(client); } finally { await client.end(); }
}

/** A throw-away database on `server` (a URL of any database there; default: the stack's). */
export async function createTempDatabase(prefix: string, server = databaseUrl()): Promise<TempDatabase> {
  const name = `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  await admin(server, (c) => c.query(`CREATE DATABASE "${name}"`));
  const u = new URL(server);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    drop: () => admin(server, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined),
  };
}

/** A throw-away database with every migration applied (`probefleet migrate`'s function). */
export async function createMigratedDatabase(prefix: string, server?: string): Promise<TempDatabase> {
  const db = await createTempDatabase(prefix, server);
  await migrate(db.url, join(__dirname, '..', '..', '..', 'prisma', 'migrations'));
  return db;
}
