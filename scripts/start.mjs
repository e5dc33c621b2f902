#!/usr/bin/env node
// `npm start`: the whole pipeline on this host — local Kafka and PostgreSQL (migrated), the
// aggregator, and an agent (kprobe mode where the kernel has kprobes, else the tracepoint) — until
// Ctrl-C, which stops everything it started and leaves no probe, instance or process behind.
//
// Settings (environment; defaults for the local stack):
//   PORT [8080]                 the aggregator's API, on 127.0.0.1
//   DATABASE_URL                [postgresql://postgres@127.0.0.1:5432/probefleet], created and migrated
//   KAFKA_BROKERS, KAFKA_TOPIC  an existing cluster / another topic, for the aggregator and the agent alike
//                               (KAFKA_BROKERS set: the local broker is neither started nor stopped)
//   KAFKA_GROUP_ID              the aggregator's consumer group
//   PROBEFLEET_METRICS_PORT     [9464] the agent's metrics and health, on 127.0.0.1 (0: off)
//   PROBEFLEET_RUN_DIR          [.run] logs (aggregator.log, agent.log) and the agent's spool (agent/spool)
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StackSession } from './stack-session.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const shown = (path) => (relative(repo, path).startsWith('..') ? path : relative(repo, path));

// Root first, before anything is built or started: the agent writes to tracefs, which only root can.
if (process.geteuid?.() !== 0) {
  console.error(`npm start: needs root.
  It runs an agent on this host, and the agent writes to tracefs (kprobe_events, tracepoints, its own
  tracing instance), which only root can. Run it as root:  sudo npm start
  Without root you can still run the central part: npm run stack:up && npx probefleet migrate && npx probefleet serve`);
  process.exit(1);
}

const port = Number(process.env.PORT || 8080);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`npm start: PORT=${process.env.PORT} is not a TCP port (1..65535)`);
  process.exit(1);
}
const runDir = resolve(repo, process.env.PROBEFLEET_RUN_DIR || '.run');
const api = `http://127.0.0.1:${port}`;
const env = { ...process.env, DATABASE_URL: process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/probefleet' };
// deploy/local/agent.yaml names the local broker and topic; what the aggregator and stack:up are told
// wins (PROBEFLEET_* set by the caller win over both), so both ends meet on one topic.
const agentEnv = {
  PROBEFLEET_SPOOL_DIR: join(runDir, 'agent', 'spool'),
  ...(process.env.KAFKA_BROKERS ? { PROBEFLEET_KAFKA_BROKERS: process.env.KAFKA_BROKERS } : {}),
  ...(process.env.KAFKA_TOPIC ? { PROBEFLEET_KAFKA_TOPIC: process.env.KAFKA_TOPIC } : {}),
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('PROBEFLEET_'))),
};

/** Long-running parts, in start order. */
const children = [];
let step = 0;
/** Set once, by Ctrl-C or a failure: the one shutdown every later caller waits for. */
let stopping;
const never = new Promise(() => undefined);
/** The local stack, shared with any `npm test` running meanwhile (scripts/stack-session.mjs). */
const session = new StackSession(repo, (text) => console.log(`  ${text}`), (what, cmd, args) => sh(what, cmd, args));

const say = (text) => console.log(`\n[${++step}] ${text}`);
const fail = async (text) => {
  if (stopping) return never; // already shutting down: whoever started that decides the exit code
  console.error(`\nnpm start: ${text}`);
  await stopAll();
  process.exit(1);
};

/** Runs a command to its end; resolves to its exit code, or the signal or error that ended it. */
function runCommand(cmd, args, stdio = 'inherit') {
  return new Promise((resolveCode) => {
    const child = spawn(cmd, args, { cwd: repo, env, stdio });
    child.on('error', (err) => resolveCode(err.message));
    child.on('exit', (status, signal) => resolveCode(signal ?? status));
  });
}

/** Runs a set-up command in the foreground (Ctrl-C reaches it too), its output shown; a failure stops everything. */
async function sh(what, cmd, args) {
  const code = await runCommand(cmd, args);
  if (stopping) return never;
  if (code !== 0) await fail(`${what} failed (${typeof code === 'number' ? `exit ${code}` : code})`);
}

/**
 * Starts a long-running part, its output appended to <run dir>/<name>.log and offered line by line
 * to `onLine`. In a process group of its own: the terminal's Ctrl-C reaches only this script, which
 * stops the parts in order (the agent before the aggregator that consumes its last events).
 */
function start(name, args, extraEnv = {}, onLine = () => undefined) {
  const log = join(runDir, `${name}.log`);
  const out = createWriteStream(log, { flags: 'a' });
  const child = spawn(process.execPath, args, { cwd: repo, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const part = { name, child, log, exit: undefined };
  part.exited = new Promise((r) => child.on('exit', (code, signal) => r((part.exit = { code, signal }))));
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream.setEncoding('utf8').on('data', (text) => {
      out.write(text);
      const lines = (rest + text).split('\n');
      rest = lines.pop();
      for (const line of lines) onLine(line);
    });
  }
  void part.exited.then(({ code, signal }) => {
    out.end();
    if (!stopping) void fail(`${name} exited (${signal ?? `code ${code}`}); last lines of ${shown(log)}:\n${tail(log)}`);
  });
  children.push(part);
  return part;
}

const tail = (file) => (existsSync(file) ? readFileSync(file, 'utf8').trimEnd().split('\n').slice(-15).join('\n') : '');

async function waitFor(what, probe, seconds) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (stopping) return never;
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  await fail(`${what} did not happen within ${seconds} s`);
}

const getJson = async (path) => {
  const res = await fetch(`${api}${path}`, { signal: AbortSignal.timeout(3000) });
  return res.ok ? res.json() : undefined;
};

/** Stops what this script started, in reverse order; every caller gets the same shutdown. */
function stopAll() {
  return (stopping ??= (async () => {
    for (const part of [...children].reverse()) {
      if (part.exit !== undefined) continue;
      console.log(`stopping ${part.name}...`);
      part.child.kill('SIGTERM');
      const timer = setTimeout(() => part.child.kill('SIGKILL'), 30_000);
      await part.exited;
      clearTimeout(timer);
      // The agent removes its probes and tracing instance on the way out; if it could not (killed,
      // failed), cleanup does, sparing any other agent still running on this host.
      if (part.name === 'agent' && (part.exit.code !== 0 || part.exit.signal !== null)) {
        await runCommand(process.execPath, ['apps/agent/dist/main.js', 'cleanup'], 'ignore');
      }
      if (part.name === 'agent' && agentInstance !== undefined && children.some((p) => p.name === 'aggregator' && p.exit === undefined)) {
        // A few seconds for the aggregator to store the agent's last events (probes removed, stopped).
        await waitForStored(agentInstance, 10_000);
      }
    }
    // The broker (or PostgreSQL) is stopped only if a session started it and no other one (`npm test`) still uses it.
    await session.leave();
  })());
}

async function waitForStored(instance, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const agents = await getJson('/api/v1/agents').catch(() => undefined);
    if ((agents?.items ?? []).some((a) => a.instance === instance && a.stoppedAt !== null)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

let agentInstance;
const stopOn = (signal) => process.on(signal, () => void stopAll().then(() => process.exit(0)));
stopOn('SIGINT');
stopOn('SIGTERM');
stopOn('SIGHUP');
// The parts have process groups of their own: should this script die some other way, they go with it.
process.on('exit', () => {
  for (const part of children) if (part.exit === undefined) part.child.kill('SIGTERM');
});

mkdirSync(runDir, { recursive: true });
say('building (cached after the first time)');
await sh('the build', 'npx', ['nx', 'run-many', '-t', 'build', '--output-style=static']);

say('local Kafka and PostgreSQL');
await session.postgres();
await session.kafka();

say('database migrations');
await sh('migrate', process.execPath, ['apps/aggregator/dist/cli.js', 'migrate']);

say(`aggregator on ${api} (log: ${shown(join(runDir, 'aggregator.log'))})`);
start('aggregator', ['apps/aggregator/dist/cli.js', 'serve'], { PORT: String(port), HOST: '127.0.0.1' });
await waitFor('the aggregator to be ready', async () => (await fetch(`${api}/readyz`, { signal: AbortSignal.timeout(3000) })).ok, 90);

say(`agent on this host (log: ${shown(join(runDir, 'agent.log'))})`);
const doctor = await new Promise((r) => {
  let out = '';
  const child = spawn(process.execPath, ['apps/agent/dist/main.js', 'doctor'], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  child.on('exit', () => r(out));
});
console.log(doctor.trimEnd());
let agentMode;
start('agent', ['apps/agent/dist/main.js', 'run', '--config', 'deploy/local/agent.yaml'], agentEnv, (line) => {
  if (agentInstance !== undefined || !line.startsWith('{')) return;
  try {
    const entry = JSON.parse(line);
    if (entry.msg === 'agent started') [agentInstance, agentMode] = [entry.instance, entry.mode];
  } catch {
    // not a log line of ours
  }
});
await waitFor('the agent to start tracing', async () => agentInstance !== undefined, 60);
await waitFor('the agent to report in (agent.started through Kafka to the aggregator)', async () =>
  ((await getJson('/api/v1/agents'))?.items ?? []).some((a) => a.instance === agentInstance), 60);
console.log(`  agent ${agentInstance} is tracing in ${agentMode} mode`);

console.log(`
probefleet is running.
  API        ${api}/api/v1   (OpenAPI: ${api}/docs, health: ${api}/readyz, metrics: ${api}/metrics)
  try        curl -s '${api}/api/v1/transitions?limit=20'
             curl -s '${api}/api/v1/connections?state=closed&limit=10'
  Grafana    provisioning and dashboards in ${join(repo, 'deploy', 'grafana')}/ (see deploy/README.md)
  logs       ${shown(join(runDir, 'aggregator.log'))}, ${shown(join(runDir, 'agent.log'))}, .run/kafka/logs/
Ctrl-C stops everything started here.`);
