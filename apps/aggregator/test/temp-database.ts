// Throw-away PostgreSQL databases for tests that need a schema of their own.
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { DEFAULT_DATABASE_URL } from '../src/store/database-url';
import { migrate } from '../src/store/migrations';
import { createPrisma, type Db } from '../src/store/prisma';

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
 * The v1 ingest names stream_gaps' v1 unique key (instance, from_seq), which the client generated from
 * the v2 schema knows as (host, instance, from_seq): a client that translates it, for filling a v1 store.
 */
function v1Client(url: string): Db {
  const base = createPrisma(url);
  return base.$extends({
    query: {
      streamGap: {
        async update({ args, query }) {
          const where = args.where as { instance_fromSeq?: { instance: string; fromSeq: bigint } };
          if (where.instance_fromSeq) {
            const { host } = await base.stream.findFirstOrThrow({ where: { instance: where.instance_fromSeq.instance }, select: { host: true } });
            args.where = { host_instance_fromSeq: { host, ...where.instance_fromSeq } };
          }
          return query(args);
        },
      },
    },
  }) as unknown as Db;
}

/**
 * A throw-away database filled by `fill` on the store as it was before STORE_V2, then migrated the
 * rest of the way, as a production store is. For the tests that seed through ingest() while this
 * branch still has the v1 ingest (see SEED_THROUGH_V1_INGEST in the specs that use it).
 */
export async function createV1FilledDatabase<T>(prefix: string, fill: (db: Db) => Promise<T>): Promise<{ db: TempDatabase; filled: T }> {
  const db = await createTempDatabase(prefix);
  const v1 = mkdtempSync(join(tmpdir(), 'probefleet-migrations-v1-'));
  try {
    for (const name of readdirSync(MIGRATIONS).filter((n) => n < STORE_V2)) cpSync(join(MIGRATIONS, name), join(v1, name), { recursive: true });
    await migrate(db.url, v1);
    const client = v1Client(db.url);
    let filled: T;
    try { filled = await fill(client); } finally { await client.$disconnect(); }
    await migrate(db.url, MIGRATIONS);
    return { db, filled };
  } finally {
    rmSync(v1, { recursive: true, force: true });
  }
}
