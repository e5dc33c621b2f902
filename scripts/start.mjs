#!/usr/bin/env node
// `npm start`: the whole pipeline on this host — local Kafka and PostgreSQL (migrated), the
// aggregator, and an agent (kprobe mode where the kernel has kprobes, else the tracepoint) — until
// Ctrl-C, which stops everything it started and leaves no probe, instance or process behind.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = join(repo, '.run');
const port = Number(process.env.PORT || 8080);
const api = `http://127.0.0.1:${port}`;
const env = { ...process.env, DATABASE_URL: process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/probefleet' };
const children = [];
let step = 0;
let stopping = false;

const say = (text) => console.log(`\n[${++step}] ${text}`);
const fail = async (text) => {
  console.error(`\nnpm start: ${text}`);
  await stopAll();
  process.exit(1);
};

/** Runs a set-up command in the foreground, its output shown; a failure stops everything. */
async function sh(what, cmd, args) {
  const r = spawnSync(cmd, args, { cwd: repo, env, stdio: 'inherit' });
  if (r.status !== 0) await fail(`${what} failed (exit ${r.status})`);
}

/** Starts a long-running part with its output in .run/<name>.log. */
function start(name, args, extraEnv = {}) {
  const log = join(run, `${name}.log`);
  const out = openSync(log, 'a');
  const child = spawn(process.execPath, args, { cwd: repo, env: { ...env, ...extraEnv }, stdio: ['ignore', out, out] });
  const part = { name, child, log, exited: false };
  child.on('exit', (code, signal) => {
    part.exited = true;
    if (!stopping) void fail(`${name} exited (${signal ?? `code ${code}`}); last lines of ${log}:\n${tail(log)}`);
  });
  children.push(part);
  return part;
}

const tail = (file) => readFileSync(file, 'utf8').trimEnd().split('\n').slice(-15).join('\n');

async function waitFor(what, probe, seconds) {
  for (let i = 0; i < seconds * 4; i++) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  await fail(`${what} did not happen within ${seconds} s`);
}

/** Stops the parts in reverse order: the agent first (it removes its probes), then the aggregator. */
async function stopAll() {
  if (stopping) return;
  stopping = true;
  for (const part of [...children].reverse()) {
    if (part.exited) continue;
    console.log(`stopping ${part.name}...`);
    part.child.kill('SIGTERM');
    const done = new Promise((r) => part.child.once('exit', r));
    const timedOut = await Promise.race([done.then(() => false), new Promise((r) => setTimeout(() => r(true), 30000))]);
    if (timedOut) part.child.kill('SIGKILL');
  }
  if (children.some((p) => p.name === 'agent')) spawnSync(process.execPath, ['apps/agent/dist/main.js', 'cleanup'], { cwd: repo, stdio: 'ignore' });
  if (startedKafka) spawnSync('bash', ['deploy/kafka/kafka.sh', 'stop'], { cwd: repo, stdio: 'inherit' });
}

let startedKafka = false;
process.on('SIGINT', () => void stopAll().then(() => process.exit(0)));
process.on('SIGTERM', () => void stopAll().then(() => process.exit(0)));

mkdirSync(run, { recursive: true });
say('building (cached after the first time)');
await sh('the build', 'npx', ['nx', 'run-many', '-t', 'build', '--output-style=static']);

say('local Kafka and PostgreSQL');
startedKafka = !process.env.KAFKA_BROKERS && spawnSync('bash', ['deploy/kafka/kafka.sh', 'status'], { cwd: repo, stdio: 'ignore' }).status !== 0;
await sh('the stack', 'bash', ['deploy/stack.sh', 'up']);

say('database migrations');
await sh('migrate', process.execPath, ['apps/aggregator/dist/cli.js', 'migrate']);

say(`aggregator on ${api} (log: .run/aggregator.log)`);
start('aggregator', ['apps/aggregator/dist/cli.js', 'serve'], { PORT: String(port), HOST: '127.0.0.1' });
await waitFor('the aggregator to be ready', async () => (await fetch(`${api}/readyz`)).ok, 90);

const root = process.getuid?.() === 0;
if (root) {
  say('agent on this host (log: .run/agent.log)');
  const doctor = spawnSync(process.execPath, ['apps/agent/dist/main.js', 'doctor'], { cwd: repo, encoding: 'utf8' });
  console.log(doctor.stdout.trimEnd());
  start('agent', ['apps/agent/dist/main.js', 'run', '--config', 'deploy/local/agent.yaml']);
  await waitFor('the agent to report in', async () => ((await (await fetch(`${api}/api/v1/agents`)).json()).items ?? []).length > 0, 60);
} else {
  say('agent: NOT started — it needs root to use tracefs (kprobes, tracepoints).');
  console.log('  Run `sudo npm start`, or start one as root: `sudo npx probefleet-agent run --config deploy/local/agent.yaml`.');
}

console.log(`
probefleet is running.
  API        ${api}/api/v1   (OpenAPI: ${api}/docs, health: ${api}/readyz, metrics: ${api}/metrics)
  try        curl -s '${api}/api/v1/transitions?limit=20' | head -c 2000
             curl -s '${api}/api/v1/connections?state=closed&limit=10'
  Grafana    provisioning and dashboards in deploy/grafana/ (see deploy/README.md)
  logs       .run/aggregator.log, .run/agent.log, .run/kafka/logs/
Ctrl-C stops everything started here.`);
