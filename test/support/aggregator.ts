// The built aggregator as a child process on a throw-away database, and a small client for its API.
// The test project cannot import the aggregator's sources: the database is made with `pg` and
// migrated through the CLI, as an operator would.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { REPO, sleep } from './agent-kafka';
import { freePort } from './loopback';
import { databaseUrl, kafkaBrokers } from './stack';

export const AGGREGATOR = path.join(REPO, 'apps/aggregator/dist/cli.js');

export interface TempDatabase { url: string; name: string; drop(): Promise<void> }

async function onServer<T>(server: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const u = new URL(server);
  u.pathname = '/postgres';
  const client = new Client({ connectionString: u.toString(), connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * CREATE DATABASE <prefix><random> on `server` (a URL of any database there; default: the stack's),
 * migrated with `probefleet migrate`. The prefix is PROBEFLEET_TEST_DB_PREFIX (default
 * probefleet_e2e_), so runs sharing a server can keep to names of their own.
 */
export async function createMigratedDatabase(server = databaseUrl()): Promise<TempDatabase> {
  const prefix = process.env.PROBEFLEET_TEST_DB_PREFIX || 'probefleet_e2e_';
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(prefix)) throw new Error(`PROBEFLEET_TEST_DB_PREFIX: lower-case letters, digits and _ expected, got ${JSON.stringify(prefix)}`);
  const name = `${prefix}${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  await onServer(server, (c) => c.query(`CREATE DATABASE "${name}"`));
  const u = new URL(server);
  u.pathname = `/${name}`;
  const db = { url: u.toString(), name, drop: () => onServer(server, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined) };
  try {
    await promisify(execFile)(process.execPath, [AGGREGATOR, 'migrate'], { cwd: REPO, env: { ...process.env, DATABASE_URL: db.url }, timeout: 30_000 });
  } catch (err) {
    await db.drop();
    throw err;
  }
  return db;
}

export interface Aggregator {
  child: ChildProcess;
  url: string;
  groupId: string;
  /** Resolves with the exit code when the process has exited (null after a signal). */
  exit: Promise<number | null>;
  output: () => string;
  /** GET `path` (with query); throws on a non-2xx answer, naming it. */
  get: <T = Record<string, unknown>>(pathAndQuery: string) => Promise<T>;
  /** Every item of a keyset-paged list, following nextCursor. */
  all: <T>(pathAndQuery: string) => Promise<T[]>;
  /** SIGTERM, then SIGKILL if it has not exited within `ms`. */
  stop: (ms: number) => Promise<number | null>;
}

/**
 * `probefleet serve` on a port picked here (the service does not print the one PORT=0 gets); `env`
 * adds to or overrides the defaults below (not PORT; HOST defaults to 127.0.0.1, and 0.0.0.0 is reached
 * there too).
 */
export async function startAggregator(env: { DATABASE_URL: string; KAFKA_TOPIC: string; [name: string]: string | undefined }): Promise<Aggregator> {
  const port = await freePort();
  // A group of its own unless the caller names one (a second member, or a successor of a killed one).
  const groupId = env.KAFKA_GROUP_ID ?? `probefleet-e2e-${randomUUID().slice(0, 8)}`;
  const child = spawn(process.execPath, [AGGREGATOR, 'serve'], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      KAFKA_BROKERS: kafkaBrokers().join(','),
      KAFKA_CREATE_TOPIC: 'false',
      LOG_LEVEL: 'warn',
      ...env,
      KAFKA_GROUP_ID: groupId,
      HOST: env.HOST ?? '127.0.0.1',
      PORT: String(port),
    },
  });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const get = async <T>(pathAndQuery: string): Promise<T> => {
    // With tokens configured, as a reader would: the first read token.
    const token = env.API_TOKENS?.split(',')[0];
    const res = await fetch(url + pathAndQuery, { signal: AbortSignal.timeout(5000), ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
    if (!res.ok) throw new Error(`GET ${pathAndQuery}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const all = async <T>(pathAndQuery: string): Promise<T[]> => {
    const items: T[] = [];
    for (let cursor: string | null = null, pages = 0; ; pages++) {
      if (pages > 1000) throw new Error(`GET ${pathAndQuery}: more than 1000 pages`);
      const sep = pathAndQuery.includes('?') ? '&' : '?';
      const page: { items: T[]; nextCursor: string | null } = await get(cursor === null ? pathAndQuery : `${pathAndQuery}${sep}cursor=${encodeURIComponent(cursor)}`);
      items.push(...page.items);
      if (page.nextCursor === null) return items;
      cursor = page.nextCursor;
    }
  };
  const stop = async (ms: number) => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    try {
      return await exit;
    } finally {
      clearTimeout(timer);
    }
  };
  return { child, url, groupId, exit, output: () => out, get, all, stop };
}

/** Polls `probe` until it returns a value other than undefined; throws `what` after `ms`. */
export async function eventually<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(200);
  }
}

/** Until /readyz answers 200: the service is a consumer-group member and its database answers. */
export function whenReady(agg: Aggregator, ms = 20_000): Promise<true> {
  return eventually(`aggregator /readyz; output:\n${agg.output()}`, ms, async () =>
    (await fetch(`${agg.url}/readyz`, { signal: AbortSignal.timeout(2000) })).status === 200 ? true : undefined,
  );
}
