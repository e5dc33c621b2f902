// Throw-away PostgreSQL databases for tests that need a schema of their own.
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { databaseUrl } from './stack';

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
