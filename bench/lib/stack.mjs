// Shared by the aggregator benchmarks (ingest, query): preflight checks, throw-away databases,
// aggregator child processes, and cleanup that runs on success, failure and Ctrl-C alike.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, connect } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const require = createRequire(import.meta.url);
export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cli = join(root, 'apps/aggregator/dist/cli.js');
/** The installed `probefleet` command (its V8 flags included), as users run it. */
export const bin = join(root, 'apps/aggregator/bin/probefleet.js');
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const brokers = (process.env.KAFKA_BROKERS || '127.0.0.1:9092').split(',');
/** Server URL without a database name; each bench appends its throw-away database. */
export const pgBase = (process.env.BENCH_PG_URL || 'postgresql://postgres@127.0.0.1:5432').replace(/\/+$/, '');
export const dbUrl = (name) => `${pgBase}/${name}`;

const { Client } = require('pg');

export function log(msg) {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

/** Cleanup steps, run last-registered first, once, whatever ends the process. */
const cleanups = [];
let cleaning;
export function onCleanup(fn) {
  cleanups.push(fn);
}
export function cleanup() {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const fn = cleanups.pop();
      try {
        await fn();
      } catch (err) {
        console.error(`cleanup: ${err.message}`);
      }
    }
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    console.error(`\n${signal}: cleaning up`);
    void cleanup().then(() => process.exit(130));
  });
}

/** Runs the bench body; cleans up and exits non-zero with the reason if anything fails. */
export async function main(body) {
  try {
    await body();
    await cleanup();
    process.exit(0);
  } catch (err) {
    console.error(`\nbench failed: ${err.stack ?? err}`);
    await cleanup();
    process.exit(1);
  }
}

function tcpReachable(hostPort) {
  const [host, port] = hostPort.split(':');
  return new Promise((resolve) => {
    const s = connect({ host, port: Number(port), timeout: 2000 });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
    s.once('timeout', () => { s.destroy(); resolve(false); });
  });
}

/** Clear messages up front, instead of a stack trace from deep inside a client library. */
export async function preflight({ kafka = true } = {}) {
  const missing = ['apps/aggregator/dist/cli.js', 'apps/aggregator/dist/server.js', 'libs/events/dist/index.js']
    .filter((f) => !existsSync(join(root, f)));
  if (missing.length > 0) throw new Error(`build missing (${missing.join(', ')}): run \`npx nx run-many -t build\` first`);
  const pg = new Client({ connectionString: dbUrl('postgres'), connectionTimeoutMillis: 3000 });
  try {
    await pg.connect();
    await pg.query('SELECT 1');
  } catch (err) {
    throw new Error(`PostgreSQL not reachable at ${pgBase} (${err.message}): start it, or set BENCH_PG_URL`);
  } finally {
    await pg.end().catch(() => undefined);
  }
  if (kafka && !(await tcpReachable(brokers[0]))) {
    throw new Error(`Kafka not reachable at ${brokers[0]}: run \`npm run stack:up\`, or set KAFKA_BROKERS`);
  }
}

export async function adminQuery(sql) {
  const pg = new Client({ connectionString: dbUrl('postgres') });
  await pg.connect();
  try {
    return await pg.query(sql);
  } finally {
    await pg.end();
  }
}

/**
 * A fresh database with the migrations applied by the built CLI. drop() (end the clients of it
 * first) frees its disk early; cleanup drops it anyway.
 */
export async function createBenchDb(tag) {
  // BENCH_DB_PREFIX: whose throw-away databases these are, on a server others use too.
  const prefix = process.env.BENCH_DB_PREFIX || 'probefleet_bench';
  if (!/^[a-z_][a-z0-9_]{0,30}$/.test(prefix)) throw new Error(`BENCH_DB_PREFIX=${JSON.stringify(prefix)}: expected lower-case letters, digits and _ (a database name's start)`);
  const name = `${prefix}_${tag}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  let dropped;
  const drop = () => (dropped ??= adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  onCleanup(drop);
  execFileSync(process.execPath, [cli, 'migrate'], { env: { ...process.env, DATABASE_URL: dbUrl(name) }, stdio: ['ignore', 'ignore', 'inherit'] });
  return { name, url: dbUrl(name), drop };
}

/** A pg client; ended at cleanup unless ended before. */
export async function connectDb(db) {
  const pg = new Client({ connectionString: db.url });
  pg.on('error', () => undefined); // a forced DROP DATABASE at cleanup terminates it: expected
  await pg.connect();
  let ended;
  const end = () => (ended ??= pg.end());
  onCleanup(end);
  return { query: (...a) => pg.query(...a), end };
}

export const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });

/**
 * The Node a bench runs the project's processes on: BENCH_NODE=24 (tools/node24, installed by
 * scripts/node24.sh if missing), a path to a node binary, or `current` (the Node running the bench).
 * Unset: tools/node24 when installed (the shipped runtime: the images and the agent binary are Node 24), else current.
 */
export function benchNode() {
  const want = process.env.BENCH_NODE || (existsSync(join(root, 'tools/node24/node_modules')) ? '24' : 'current');
  if (want === 'current') return process.execPath;
  // scripts/node24.sh knows where tools/node24 keeps its node (and installs it when missing).
  if (want === '24') return join(execFileSync('bash', [join(root, 'scripts/node24.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim(), 'node');
  if (!existsSync(want)) throw new Error(`BENCH_NODE=${JSON.stringify(want)}: takes 24, current or the path of a node binary`);
  return want;
}

/**
 * Runs this bench script on benchNode(), with the `probefleet` command's V8 flags, unless it already
 * runs so: the aggregators it starts (process.execPath) and its in-process profile then run on the
 * same Node, as the installed command does. Returns when already so.
 */
export function onBenchNode() {
  const node = benchNode();
  const flags = binFlags();
  if (node === process.execPath && flags.every((f) => process.execArgv.includes(f))) return;
  console.log(`[bench] re-running on ${node} ${flags.join(' ')} (BENCH_NODE=current keeps ${process.version})`);
  const run = spawnSync(node, [...flags, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, BENCH_NODE: 'current', PATH: `${dirname(node)}:${process.env.PATH ?? ''}` } });
  process.exit(run.status ?? 1);
}

/** The V8 flags of the `probefleet` command's shebang line: a child on process.execPath runs as the installed command does. */
const binFlags = () => {
  const m = /^#!\/usr\/bin\/env -S node((?: --[\w-]+(?:=\S+)?)*)\s*$/m.exec(readFileSync(bin, 'utf8').split('\n')[0]);
  if (!m) throw new Error(`${bin}: expected a "#!/usr/bin/env -S node --flag..." line first`);
  return m[1].trim().split(/\s+/).filter(Boolean);
};

/** `probefleet serve` as a child process on the bench's Node, up when /healthz answers; killed at cleanup. */
export async function startAggregator(env) {
  const port = await freePort();
  const child = spawn(process.execPath, [...binFlags(), bin, 'serve'], {
    env: { ...process.env, LOG_LEVEL: 'warn', HOST: '127.0.0.1', PORT: String(port), KAFKA_BROKERS: brokers.join(','), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr = (stderr + d).slice(-20000)));
  const exited = new Promise((r) => child.once('exit', r));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const done = await Promise.race([exited.then(() => true), sleep(10000).then(() => false)]);
    if (!done) { child.kill('SIGKILL'); await exited; }
  };
  onCleanup(stop);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`aggregator exited (${child.exitCode}):\n${stderr}`);
    if (i > 300) throw new Error(`aggregator did not answer /healthz within 30 s:\n${stderr}`);
    if (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)) break;
    await sleep(100);
  }
  return { pid: child.pid, url, stop, stderr: () => stderr };
}

const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** utime+stime in seconds of one process (0 once it is gone). */
export function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK;
  } catch {
    return 0;
  }
}

/** CPU seconds of the PostgreSQL backends serving one database (other users of the server excluded). */
export async function backendCpuSeconds(pg, dbName) {
  const { rows } = await pg.query('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [dbName]);
  return new Map(rows.map((r) => [r.pid, cpuSeconds(r.pid)]));
}

/** CPU seconds used between two backendCpuSeconds() snapshots (backends that came later count from 0). */
export function cpuDelta(before, after) {
  let total = 0;
  for (const [pid, s] of after) total += s - (before.get(pid) ?? 0);
  return total;
}

/** Busy and total jiffies of the whole machine (all cpus), for utilisation over an interval. */
export function machineJiffies() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4];
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

const load = () => loadavg().map((l) => Math.round(l * 100) / 100);
/** The 1/5/15-minute load when the bench started: others share this machine, and it shows. */
export const loadAtStart = load();

export function machine() {
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version, postgres: null, loadAvgAtStart: loadAtStart, loadAvgAtEnd: load() };
}

/** The commit measured, and whether the aggregator's sources differ from it (others work in this checkout). */
export function codeVersion() {
  const git = (...args) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8' }).trim();
  try {
    return { commit: git('rev-parse', '--short', 'HEAD'), aggregatorUncommittedChanges: git('status', '--porcelain', '--', 'apps/aggregator', 'prisma') !== '' };
  } catch {
    return { commit: 'unknown' };
  }
}

export async function postgresVersion() {
  return (await adminQuery('SHOW server_version')).rows[0].server_version;
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** The middle value (the upper of the two for an even count); 0 for none. */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** `node --version` of a node binary (the Node a bench ran a process on). */
export const nodeVersion = (bin) => execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();

export const round = (x, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

export function writeResult(file, result) {
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(join(root, 'bench/results', file), `${JSON.stringify(result, null, 2)}\n`);
}

/** Deterministic PRNG (mulberry32): the same seed gives the same numbers run after run. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
