// Kernel-to-API latency: how long after the kernel changed a TCP state does the transition show in
// GET /api/v1/transitions, with the whole pipeline real on this host — the built agent (tracepoint
// mode here), Kafka, the built aggregator, PostgreSQL — under a background load of loopback
// connections (one connection ≈ 10 transitions ≈ 10 events).
// A sample is a marker connection to a port of its own: the poller asks the API for that port's
// transitions; latency = when the client's SYN_SENT→ESTABLISHED row first came back − the kernel time
// the agent stamped on it. The poll interval bounds the resolution. Beside it, the live path:
// `probefleet tail` (the built CLI following /api/v1/transitions/stream) filtered to the marker
// port; latency = when tail printed the row − the kernel time. The store's own view (ingest_lag:
// per host and minute of arrival, the mean and max of arrival − kernel time) is reported too.
// Needs root, the build and the local stack (`npm run stack:up`).
//   node bench/latency.bench.mjs → bench/results/latency.json
// Knobs: BENCH_LATENCY_RATE (1000 background connections/s ≈ 10k events/s), BENCH_LATENCY_SECONDS (30),
//        BENCH_LATENCY_WARMUP_S (5), BENCH_LATENCY_MARKERS (50 marker connections/s), BENCH_LATENCY_POLL_MS (25).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  brokers, codeVersion, connectDb, createBenchDb, freePort, log, machine, main, onCleanup, percentile, postgresVersion,
  preflight, require, root, round, sleep, startAggregator, writeResult } from './lib/stack.mjs';
import { startLoopbackLoad } from './lib/loopback-load.mjs';

const { Kafka, logLevel } = require('kafkajs');

const RATE = Number(process.env.BENCH_LATENCY_RATE || 1000);
const SECONDS = Number(process.env.BENCH_LATENCY_SECONDS || 30);
const WARMUP_S = Number(process.env.BENCH_LATENCY_WARMUP_S || 5);
const MARKERS = Number(process.env.BENCH_LATENCY_MARKERS || 50);
const POLL_MS = Number(process.env.BENCH_LATENCY_POLL_MS || 25);
const DRAIN_S = 60;
const TARGET = { p99Ms: 2000, tailP99Ms: 1000, eventsPerSecond: 10_000 };
const PARTITIONS = 6;

/** One marker connection: resolves with the client's port once the connection is established. */
const markerConnect = (port) =>
  new Promise((resolve, reject) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => {
      const sport = c.localPort;
      c.end();
      c.resume();
      resolve(sport);
    });
    c.once('error', reject);
  });

async function startAgent(topic) {
  const work = mkdtempSync(join(tmpdir(), 'bench-latency-'));
  onCleanup(() => rmSync(work, { recursive: true, force: true }));
  const config = join(work, 'agent.yaml');
  writeFileSync(config, JSON.stringify({ sink: 'kafka', kafka: { brokers, topic }, spool: { dir: join(work, 'spool') }, metrics: { port: 0 }, heartbeatIntervalS: 5 }));
  const child = spawn(process.execPath, [join(root, 'apps/agent/dist/main.js'), 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr = (stderr + d).slice(-20000)));
  const exited = new Promise((r) => child.once('exit', r));
  onCleanup(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(15000).then(() => child.kill('SIGKILL'))]);
  });
  for (let i = 0; !stderr.includes('"agent started"'); i++) {
    if (child.exitCode !== null) throw new Error(`agent exited (${child.exitCode}):\n${stderr}`);
    if (i > 300) throw new Error(`agent did not start within 30 s:\n${stderr}`);
    await sleep(100);
  }
  const started = stderr.split('\n').filter((l) => l.includes('"agent started"')).map((l) => JSON.parse(l))[0];
  return { instance: started.instance, mode: started.mode };
}

/**
 * Polls the API for the marker port's transitions at or after the oldest pending marker, and
 * records, per marker (client port), when its SYN_SENT→ESTABLISHED row was first seen.
 */
function startPoller(api, port, pending, samples) {
  let stop = false;
  let polls = 0;
  const seen = new Set();
  const loop = (async () => {
    while (!stop) {
      const oldest = Math.min(...[...pending.values()].map((m) => m.at));
      if (Number.isFinite(oldest)) {
        const from = new Date(oldest - 2000).toISOString();
        let cursor;
        do {
          const q = new URLSearchParams({ port: String(port), from, order: 'asc', limit: '1000', newState: 'TCP_ESTABLISHED', ...(cursor ? { cursor } : {}) });
          const res = await fetch(`${api}/api/v1/transitions?${q}`);
          if (!res.ok) throw new Error(`GET /api/v1/transitions: ${res.status} ${await res.text()}`);
          const now = Date.now();
          const page = await res.json();
          polls++;
          for (const t of page.items) {
            if (seen.has(t.id) || t.dport !== port || t.oldState !== 'TCP_SYN_SENT') continue;
            seen.add(t.id);
            const m = pending.get(t.sport);
            if (m === undefined) continue;
            pending.delete(t.sport);
            if (m.measured) samples.push(now - Date.parse(t.time));
          }
          cursor = page.nextCursor ?? undefined;
        } while (cursor !== undefined && !stop);
      }
      await sleep(POLL_MS);
    }
  })();
  return { polls: () => polls, stop: async () => { stop = true; await loop; } };
}

/**
 * `probefleet tail` on the marker port, as NDJSON: per marker (client port), when its
 * SYN_SENT→ESTABLISHED row was printed. From the start of this fresh store, so nothing is missed
 * while it connects.
 */
function startTail(api, port, pending, samples) {
  const child = spawn(process.execPath, [join(root, 'apps/aggregator/dist/cli.js'), 'tail', '--url', api, '--port', String(port),
    '--new-state', 'TCP_ESTABLISHED', '--old-state', 'TCP_SYN_SENT', '--since-id', '0', '-o', 'ndjson'], { stdio: ['ignore', 'pipe', 'pipe'] });
  onCleanup(() => child.kill());
  let buffered = '';
  let lines = 0;
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  child.stdout.setEncoding('utf8').on('data', (d) => {
    const now = Date.now();
    buffered += d;
    const parts = buffered.split('\n');
    buffered = parts.pop();
    for (const line of parts) {
      lines++;
      const t = JSON.parse(line);
      if (t.dport !== port) continue;
      const m = pending.get(t.sport);
      if (m === undefined) continue;
      pending.delete(t.sport);
      if (m.measured) samples.push(now - Date.parse(t.time));
    }
  });
  return { lines: () => lines, stderr: () => stderr, stop: () => child.kill('SIGTERM') };
}

await main(async () => {
  await preflight();
  const db = await createBenchDb('latency');
  const pg = await connectDb(db);
  const topic = `bench-latency-${randomUUID().slice(0, 8)}`;
  const admin = new Kafka({ clientId: 'bench-latency', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });
  onCleanup(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  const aggregator = await startAggregator({ DATABASE_URL: db.url, KAFKA_TOPIC: topic, KAFKA_GROUP_ID: `bench-latency-${randomUUID().slice(0, 8)}`, KAFKA_CREATE_TOPIC: 'false' });
  const agent = await startAgent(topic);
  log(`agent ${agent.instance} (${agent.mode} mode) → ${topic} → aggregator ${aggregator.url}`);

  const markerServer = createServer((c) => { c.resume(); c.on('end', () => c.end()); c.on('error', () => undefined); });
  await new Promise((r) => markerServer.listen(0, '127.0.0.1', r));
  onCleanup(() => new Promise((r) => markerServer.close(r)));
  const markerPort = markerServer.address().port;

  const pending = new Map(); // client port → { at, measured }
  const samples = [];
  const poller = startPoller(aggregator.url, markerPort, pending, samples);
  const tailPending = new Map();
  const tailSamples = [];
  const tail = startTail(aggregator.url, markerPort, tailPending, tailSamples);

  log(`load: ${RATE} connections/s for ${WARMUP_S + SECONDS} s (the first ${WARMUP_S} s unmeasured), markers ${MARKERS}/s on port ${markerPort}`);
  const load = startLoopbackLoad(WARMUP_S + SECONDS, 64, RATE);
  onCleanup(() => load.child.kill());

  const t0 = Date.now();
  const measureFrom = t0 + WARMUP_S * 1000;
  const end = measureFrom + SECONDS * 1000;
  let markers = 0;
  for (let k = 0; Date.now() < end; k++) {
    const at = t0 + (k * 1000) / MARKERS;
    if (at > Date.now()) await sleep(at - Date.now());
    const sentAt = Date.now();
    const sport = await markerConnect(markerPort);
    const measured = sentAt >= measureFrom;
    if (measured) markers++;
    pending.set(sport, { at: sentAt, measured });
    tailPending.set(sport, { at: sentAt, measured });
  }
  const loadResult = await load.done;
  log(`load done (${loadResult.connections} connections); waiting for ${pending.size} markers still in flight`);
  for (let i = 0; (pending.size > 0 || tailPending.size > 0) && i < DRAIN_S * 10; i++) await sleep(100);
  await poller.stop();
  tail.stop();
  if (pending.size > 0) throw new Error(`${pending.size} marker transitions never came back from the API within ${DRAIN_S} s`);
  if (tailPending.size > 0) throw new Error(`${tailPending.size} marker transitions never came out of probefleet tail within ${DRAIN_S} s:\n${tail.stderr()}`);

  // The store's view: store v2 keeps no arrival time per row; ingest_lag has it per host and minute
  // of arrival (the minutes the measured window's events arrived in, so a little wider).
  const window = [new Date(measureFrom - (measureFrom % 60000)).toISOString(), new Date(end + DRAIN_S * 1000).toISOString()];
  const { rows: [store] } = await pg.query(
    `SELECT coalesce(sum(events), 0)::int AS events, sum(sum_ms) / nullif(sum(events), 0) AS mean_ms, max(max_ms) AS max_ms
       FROM ingest_lag WHERE minute >= $1 AND minute < $2`, window);
  const { rows: [{ n: windowEvents }] } = await pg.query(
    `SELECT ((SELECT count(*) FROM tcp_transitions t JOIN tcp_sources k ON k.host = t.host AND k.id = t.source_id WHERE k.instance = $1 AND t.time >= $2 AND t.time < $3)
           + (SELECT count(*) FROM events WHERE instance = $1 AND time >= $2 AND time < $3))::int AS n`,
    [agent.instance, new Date(measureFrom).toISOString(), new Date(end).toISOString()]);
  const eventsPerSecond = windowEvents / SECONDS;
  // The agent's stream is complete when every seq 1..max is stored (TCP hits in tcp_transitions, the rest in events).
  const { rows: [stream] } = await pg.query(
    `SELECT ((SELECT count(*) FROM events WHERE instance = $1) + (SELECT count(*) FROM tcp_transitions t JOIN tcp_sources k ON k.host = t.host AND k.id = t.source_id WHERE k.instance = $1))::int AS events,
            greatest((SELECT max(seq) FROM events WHERE instance = $1), (SELECT max(t.seq) FROM tcp_transitions t JOIN tcp_sources k ON k.host = t.host AND k.id = t.source_id WHERE k.instance = $1))::int AS max_seq,
            (SELECT count(*) FROM events WHERE instance = $1 AND type = 'agent.loss')::int AS losses`, [agent.instance]);

  samples.sort((a, b) => a - b);
  const p50 = percentile(samples, 50);
  const p99 = percentile(samples, 99);
  tailSamples.sort((a, b) => a - b);
  const tailP99 = percentile(tailSamples, 99);
  const result = {
    name: 'latency',
    mode: agent.mode,
    seconds: SECONDS,
    warmupSeconds: WARMUP_S,
    backgroundConnectionsPerSecond: round(loadResult.connections / loadResult.seconds),
    eventsPerSecond: Math.round(eventsPerSecond),
    markersPerSecond: MARKERS,
    pollIntervalMs: POLL_MS,
    kernelToApiMs: { samples: samples.length, p50: round(p50), p90: round(percentile(samples, 90)), p99: round(p99), max: round(samples.at(-1)) },
    kernelToTailMs: { samples: tailSamples.length, p50: round(percentile(tailSamples, 50)), p90: round(percentile(tailSamples, 90)), p99: round(tailP99), max: round(tailSamples.at(-1)), linesPrinted: tail.lines() },
    kernelToStoreMs: { events: store.events, mean: round(store.mean_ms), max: round(store.max_ms), note: 'ingest_lag (per host and minute of arrival): arrival at the store − kernel time, every event of the minutes the window arrived in' },
    stream: { events: stream.events, maxSeq: stream.max_seq, complete: stream.events === stream.max_seq, agentLossEvents: stream.losses },
    apiPolls: poller.polls(),
    target: { ...TARGET, met: p99 < TARGET.p99Ms && tailP99 < TARGET.tailP99Ms && eventsPerSecond >= TARGET.eventsPerSecond },
    code: codeVersion(),
    machine: { ...machine(), postgres: await postgresVersion() },
    date: new Date().toISOString(),
  };
  if (markers !== samples.length) throw new Error(`measured ${markers} markers but got ${samples.length} samples`);
  if (markers !== tailSamples.length) throw new Error(`measured ${markers} markers but tail gave ${tailSamples.length} samples`);
  writeResult('latency.json', result);
  console.log(JSON.stringify(result, null, 2));
});
