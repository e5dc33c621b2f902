// Ingest throughput Kafka → PostgreSQL of the built aggregator (`probefleet serve`, 1 and 2 members of
// one consumer group), beside a raw COPY of the same event rows, and a per-statement profile of
// ingest() to show where the time goes. The load is a simulated fleet (probefleet-sim, libs/fleet-sim):
// virtual agents publishing as real agents do — per-agent batches keyed by host — to a fresh topic,
// read back for the COPY and the profile. Needs the build and the local stack (`npm run stack:up`).
//   node bench/ingest.bench.mjs → bench/results/ingest.json
// Knobs: BENCH_EVENTS (200000), BENCH_AGENTS (200), BENCH_SEED (1), BENCH_PROFILE_EVENTS (30000),
// BENCH_RUN_TIMEOUT_S (180).
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  codeVersion, brokers, connectDb, cpuSeconds, createBenchDb, log, machine, machineJiffies, main, onCleanup,
  backendCpuSeconds, cpuDelta, postgresVersion, preflight, require, root, round, sleep, startAggregator, writeResult } from './lib/stack.mjs';
import { publishFleet, readFleetTopic } from './lib/fleet.mjs';

const EVENTS = Number(process.env.BENCH_EVENTS || 200_000);
const AGENTS = Number(process.env.BENCH_AGENTS || 200);
const SEED = Number(process.env.BENCH_SEED || 1);
const PROFILE_EVENTS = Number(process.env.BENCH_PROFILE_EVENTS || 30_000);
const RUN_TIMEOUT_S = Number(process.env.BENCH_RUN_TIMEOUT_S || 180);
const PARTITIONS = 6;
const FETCH_BYTES = 4 << 20; // the consumer's maxBytesPerPartition
const TARGET = 50_000;
/** Sum and count of one Prometheus histogram/counter family over several scrapes. */
function metricSum(texts, name) {
  let total = 0;
  for (const t of texts) for (const m of t.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm'))) total += Number(m[1]);
  return total;
}

async function ingestRun(topic, instances, total, hits) {
  const db = await createBenchDb(`ingest${instances}`);
  const pg = await connectDb(db);
  const group = `bench-ingest-${randomUUID()}`;
  log(`ingest with ${instances} aggregator(s) into ${db.name}`);
  const aggs = await Promise.all(Array.from({ length: instances }, () =>
    startAggregator({ DATABASE_URL: db.url, KAFKA_TOPIC: topic, KAFKA_GROUP_ID: group, KAFKA_CREATE_TOPIC: 'false' })));
  const count = async () => Number((await pg.query('SELECT count(*) AS n FROM events')).rows[0].n);
  const snapshot = async (n) => ({ t: performance.now(), n, aggCpu: aggs.map((a) => cpuSeconds(a.pid)), pgCpu: await backendCpuSeconds(pg, db.name), jiffies: machineJiffies() });
  const joined = async () => (await Promise.all(aggs.map((a) => fetch(`${a.url}/metrics`).then((r) => r.text()))))
    .every((t) => /^probefleet_consumer_up 1$/m.test(t));
  const deadline = Date.now() + RUN_TIMEOUT_S * 1000;
  let n = 0;
  // Start-up and group join are excluded: the clock starts once every member has joined (a member's
  // join completes the rebalance the broker starts at once, group.initial.rebalance.delay.ms=0) and
  // events are being stored; what the first member stored alone before that is not counted.
  while ((n = await count()) === 0 || !(await joined())) {
    if (Date.now() > deadline) throw new Error(`no event stored within ${RUN_TIMEOUT_S} s:\n${aggs.map((a) => a.stderr()).join('\n')}`);
    await sleep(50);
  }
  const first = await snapshot(n);
  // Also timed: the middle 80 % of the events, without the first batches nor the tail.
  const marks = {};
  let lastLog = first.t;
  while (n < total && Date.now() < deadline) {
    await sleep(200);
    n = await count();
    if (!marks.p10 && n >= total * 0.1) marks.p10 = { t: performance.now(), n };
    if (!marks.p90 && n >= total * 0.9) marks.p90 = { t: performance.now(), n };
    if (performance.now() - lastLog > 10000) {
      lastLog = performance.now();
      log(`  ${n}/${total} stored, ${Math.round((n - first.n) / ((lastLog - first.t) / 1000))} events/s`);
    }
  }
  const end = await snapshot(n);
  const seconds = (end.t - first.t) / 1000;
  const metrics = await Promise.all(aggs.map((a) => fetch(`${a.url}/metrics`).then((r) => r.text())));
  const tables = (await pg.query(`SELECT (SELECT count(*) FROM tcp_transitions) AS transitions, (SELECT count(*) FROM tcp_connections) AS connections,
      (SELECT count(*) FROM tcp_connections WHERE closed_at IS NOT NULL) AS closed, pg_database_size(current_database()) AS bytes`)).rows[0];
  await Promise.all(aggs.map((a) => a.stop()));
  const batches = metricSum(metrics, 'probefleet_ingest_batches_total');
  const batchSeconds = metricSum(metrics, 'probefleet_ingest_batch_seconds_sum');
  const aggCpu = end.aggCpu.reduce((a, c, i) => a + c - first.aggCpu[i], 0);
  const run = {
    instances,
    complete: n >= total,
    eventsStored: n,
    storedBeforeClock: first.n,
    seconds: round(seconds, 2),
    eventsPerSecond: Math.round((n - first.n) / seconds),
    steadyEventsPerSecond: marks.p90 ? Math.round((marks.p90.n - marks.p10.n) / ((marks.p90.t - marks.p10.t) / 1000)) : null,
    batches,
    eventsPerBatch: batches > 0 ? Math.round(n / batches) : null,
    meanBatchMs: batches > 0 ? round((batchSeconds / batches) * 1000) : null,
    violations: metricSum(metrics, 'probefleet_model_violations_total'),
    tcpTransitions: Number(tables.transitions),
    tcpConnections: Number(tables.connections),
    tcpConnectionsClosed: Number(tables.closed),
    databaseMB: Math.round(Number(tables.bytes) / 2 ** 20),
    cpu: {
      aggregatorPercent: round((aggCpu / seconds) * 100),
      postgresBackendsPercent: round((cpuDelta(first.pgCpu, end.pgCpu) / seconds) * 100),
      machineBusyPercent: round(((end.jiffies.busy - first.jiffies.busy) / (end.jiffies.total - first.jiffies.total)) * 100),
    },
  };
  if (run.tcpTransitions !== hits && run.complete) throw new Error(`expected ${hits} tcp_transitions, found ${run.tcpTransitions}`);
  log(`  ${instances} instance(s): ${run.eventsPerSecond} events/s (${run.complete ? 'complete' : `TIMED OUT at ${n}`}), aggregator CPU ${run.cpu.aggregatorPercent}%, postgres backends CPU ${run.cpu.postgresBackendsPercent}%`);
  await pg.end();
  await db.drop();
  return run;
}

const csvField = (v) => (v === null ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replaceAll('"', '""')}"` : String(v));

/** The same rows as the aggregator stores in `events`, through psql's \copy into an empty, migrated table. */
async function copyRun(messages, work) {
  const db = await createBenchDb('copy');
  const file = join(work, 'events.csv');
  const lines = [];
  for (const m of messages) {
    for (const e of m.events) {
      lines.push([e.v, e.type, e.host, e.bootId, e.instance, e.seq, new Date(e.time).toISOString(), e.time, e.monoNs, JSON.stringify(e.data), m.partition, m.offset].map(csvField).join(','));
    }
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
  const t0 = performance.now();
  const out = spawnSync('psql', [db.url, '-v', 'ON_ERROR_STOP=1', '-qc',
    `\\copy events(v, type, host, boot_id, instance, seq, time, time_text, mono_ns, data, kafka_partition, kafka_offset) FROM '${file}' WITH (FORMAT csv)`], { encoding: 'utf8' });
  const seconds = (performance.now() - t0) / 1000;
  if (out.status !== 0) throw new Error(`COPY failed: ${out.stderr}`);
  const pg = await connectDb(db);
  const stored = Number((await pg.query('SELECT count(*) AS n FROM events')).rows[0].n);
  await pg.end();
  await db.drop();
  log(`COPY: ${stored} rows in ${seconds.toFixed(2)} s`);
  return { rows: stored, seconds: round(seconds, 2), rowsPerSecond: Math.round(stored / seconds) };
}

/** Where a profiled function lives, by package: the unit the suggestions talk about. */
function owner(url, fn) {
  if (url === '') return fn.startsWith('(') ? fn : 'native';
  if (url.startsWith('wasm://')) return 'prisma query compiler (wasm)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] === '@prisma/client' ? '@prisma/client runtime' : pkg[1];
  if (url.includes('/generated/prisma/')) return 'generated prisma client';
  const lib = /\/(libs\/[^/]+|apps\/aggregator)\/dist\/(.*)$/.exec(url);
  if (lib) return lib[1] === 'apps/aggregator' ? `aggregator ${lib[2]}` : lib[1];
  return url.startsWith('node:') ? 'node internals' : url;
}

/** Self time per owner and the top functions, from a V8 CPU profile. */
function summarise(cpuProfile) {
  const nodes = new Map(cpuProfile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  cpuProfile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (cpuProfile.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byOwner = new Map();
  const byFn = new Map();
  for (const [id, us] of self) {
    const { url, functionName, lineNumber } = nodes.get(id).callFrame;
    const o = owner(url, functionName);
    byOwner.set(o, (byOwner.get(o) ?? 0) + us);
    const f = `${functionName || '(anonymous)'} ${o}${url ? `:${lineNumber + 1}` : ''}`;
    byFn.set(f, (byFn.get(f) ?? 0) + us);
  }
  const top = (m, k) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, us]) => ({ name, share: round((us / total) * 100) }));
  return { byOwner: top(byOwner, 12), topFunctions: top(byFn, 12) };
}

/**
 * ingest() in-process on the same messages, in batches shaped like the consumer's (one partition,
 * up to its maxBytesPerPartition of 4 MiB), with Prisma's query events (time per statement kind) and a V8
 * CPU profile (where the aggregator's CPU goes).
 */
async function profile(messages) {
  const db = await createBenchDb('profile');
  const { PrismaClient } = require(join(root, 'apps/aggregator/dist/generated/prisma/client.js'));
  const { pgAdapter } = require(join(root, 'apps/aggregator/dist/store/prisma.js'));
  const { ingest, decodeRecords } = require(join(root, 'apps/aggregator/dist/store/ingest.js'));
  const prisma = new PrismaClient({ adapter: pgAdapter(db.url), log: [{ emit: 'event', level: 'query' }] });
  onCleanup(() => prisma.$disconnect());
  const byKind = new Map();
  let statements = 0;
  prisma.$on('query', (q) => {
    statements++;
    const kind = q.query.replace(/\s+/g, ' ').replace(/"public"\./g, '').replace(/\$\d+(, )?/g, '').slice(0, 70);
    const k = byKind.get(kind) ?? { count: 0, ms: 0 };
    k.count++;
    k.ms += q.duration;
    byKind.set(kind, k);
  });
  const byPartition = Array.from({ length: PARTITIONS }, () => []);
  for (let p = 0; p < PARTITIONS; p++) {
    let batch = [];
    let bytes = 0;
    for (const m of messages.filter((x) => x.partition === p)) {
      if (bytes + m.value.length > FETCH_BYTES && batch.length > 0) { byPartition[p].push(batch); batch = []; bytes = 0; }
      batch.push({ topic: 'bench', partition: p, offset: String(m.offset), key: Buffer.from(m.key), value: Buffer.from(m.value) });
      bytes += m.value.length;
    }
    if (batch.length > 0) byPartition[p].push(batch);
  }
  // Partitions interleaved like the consumer's fetches; the first batch warms up (connection, JIT).
  const order = [];
  for (let r = 0; byPartition.some((b) => r < b.length); r++) for (const b of byPartition) if (r < b.length) order.push(b[r]);
  await ingest(prisma, order.shift());
  const batches = [];
  let events = 0;
  for (const b of order) {
    if (events >= PROFILE_EVENTS) break;
    batches.push(b);
    events += b.reduce((n, r) => n + JSON.parse(r.value).length, 0);
  }
  let t = performance.now();
  for (const b of batches) decodeRecords(b);
  const decodeMs = performance.now() - t;
  byKind.clear();
  statements = 0;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  const cpu0 = process.cpuUsage();
  t = performance.now();
  for (const b of batches) await ingest(prisma, b);
  const ingestMs = performance.now() - t;
  const cpu = process.cpuUsage(cpu0);
  const { profile: cpuProfile } = await session.post('Profiler.stop');
  session.disconnect();
  const sqlMs = [...byKind.values()].reduce((a, k) => a + k.ms, 0);
  const eventsInsertMs = byKind.get([...byKind.keys()].find((k) => k.startsWith('INSERT INTO "events"')))?.ms;
  await prisma.$disconnect();
  const raw = await rawEventsInsert(db, batches, decodeRecords);
  await db.drop();
  const n = batches.length;
  return {
    events, batches: n, eventsPerBatch: Math.round(events / n),
    eventsPerSecondSequential: Math.round(events / (ingestMs / 1000)),
    msPerBatch: round(ingestMs / n),
    nodeCpuPercent: round(((cpu.user + cpu.system) / 1000 / ingestMs) * 100),
    statementsPerBatch: round(statements / n, 1),
    decodeMsPerBatch: round(decodeMs / n), decodeShare: round((decodeMs / ingestMs) * 100),
    sqlShare: round((sqlMs / ingestMs) * 100),
    statements: [...byKind.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12)
      .map(([statement, k]) => ({ statement, perBatch: round(k.count / n, 2), msPerBatch: round(k.ms / n), share: round((k.ms / ingestMs) * 100) })),
    cpuProfile: summarise(cpuProfile),
    rawEventsInsert: {
      what: 'the same batches\' events rows as one INSERT ... SELECT FROM unnest(12 arrays) ON CONFLICT DO NOTHING RETURNING per batch, over node-postgres (rows built in JS, timed)',
      msPerBatch: round(raw.ms / n),
      eventsPerSecond: Math.round(events / (raw.ms / 1000)),
      prismaCreateManyAndReturnSqlMsPerBatch: eventsInsertMs === undefined ? null : round(eventsInsertMs / n),
    },
  };
}

/** What the events insert costs without Prisma: the rows of the same batches through unnest(). */
async function rawEventsInsert(db, batches, decodeRecords) {
  const pg = await connectDb(db);
  await pg.query('TRUNCATE events');
  const t0 = performance.now();
  for (const batch of batches) {
    const { events } = decodeRecords(batch);
    const cols = Array.from({ length: 12 }, () => []);
    for (const { event: e, partition, offset } of events) {
      const row = [e.v, e.type, e.host, e.bootId, e.instance, String(e.seq), new Date(e.time).toISOString(), e.time, e.monoNs ?? null, JSON.stringify(e.data), partition, String(offset)];
      row.forEach((v, i) => cols[i].push(v));
    }
    await pg.query(`INSERT INTO events (v, type, host, boot_id, instance, seq, time, time_text, mono_ns, data, kafka_partition, kafka_offset)
      SELECT * FROM unnest($1::smallint[], $2::text[], $3::text[], $4::uuid[], $5::uuid[], $6::bigint[], $7::timestamptz[], $8::text[], $9::bigint[], $10::jsonb[], $11::int[], $12::bigint[])
      ON CONFLICT (instance, seq) DO NOTHING RETURNING id, instance, seq, ingested_at`, cols);
  }
  const ms = performance.now() - t0;
  await pg.end();
  return { ms };
}

/** Findings from this run's numbers; suggestions follow from where the time went. */
function notes(runs, copy, prof) {
  const [one, two] = runs;
  const busy = prof.cpuProfile.byOwner.filter((o) => o.name !== '(idle)').slice(0, 4).map((o) => `${o.name} ${o.share}%`).join(', ');
  const idle = prof.cpuProfile.byOwner.find((o) => o.name === '(idle)')?.share ?? 0;
  const top = prof.statements.slice(0, 3).map((st) => `${st.statement.trim().split(' (')[0]} ${st.msPerBatch} ms`).join(', ');
  const out = [
    `1 instance: ${one.eventsPerSecond} events/s (middle 80 %: ${one.steadyEventsPerSecond ?? 'n/a'}); aggregator process ${one.cpu.aggregatorPercent}% CPU, its PostgreSQL backends ${one.cpu.postgresBackendsPercent}%, machine ${one.cpu.machineBusyPercent}% busy (2 cores, shared with the broker and other work).`,
    `2 instances in one group: ${two.eventsPerSecond} events/s (middle 80 %: ${two.steadyEventsPerSecond ?? 'n/a'}), ${round(two.eventsPerSecond / one.eventsPerSecond, 2)}× one instance; machine ${two.cpu.machineBusyPercent}% busy: on 2 cores a second process mostly competes for the same CPU with the first, PostgreSQL and the broker.`,
    `Raw COPY of the same events rows into an empty events table: ${copy.rowsPerSecond} rows/s; ingest reaches ${round(one.eventsPerSecond / copy.rowsPerSecond * 100)}% of it while also writing tcp_transitions (one row per hit) and tcp_connections and updating streams/agents/probes.`,
    `In-process ingest() (${prof.events} events, ${prof.eventsPerBatch} per batch, one batch at a time): ${prof.eventsPerSecondSequential} events/s, ${prof.msPerBatch} ms per batch, ${prof.statementsPerBatch} statements per batch; SQL ${prof.sqlShare}% of the wall time (largest: ${top}), decoding ${prof.decodeShare}%. CPU samples: ${busy}; idle (waiting for PostgreSQL) ${idle}%.`,
    `The events rows alone through one unnest() INSERT per batch: ${prof.rawEventsInsert.eventsPerSecond} events/s (${prof.rawEventsInsert.msPerBatch} ms per batch).`,
  ];
  const { loadAvgAtStart, loadAvgAtEnd, cpus: n } = machine();
  if (Math.max(loadAvgAtStart[0], loadAvgAtEnd[0]) > n) {
    out.push(`The machine was loaded by other work (1-min load ${loadAvgAtStart[0]} at start, ${loadAvgAtEnd[0]} at end, on ${n} cpus): these rates are lower bounds, and the 1-vs-2-instance comparison is noisy.`);
  }
  if (prof.sqlShare >= 50) {
    out.push(
      'Most of the time is SQL, and most of that the two bulk inserts: tcp_transitions (one row per hit, updating 10 btrees — each serves an API filter, see apps/aggregator/test/api-explain.spec.ts) and events (the jsonb parse of data, the unique (instance, seq) check). The levers left trade something away: fewer indexes (slower filtered queries at 10M rows) or data stored as json (no jsonb operators). Batches already travel as one jsonb parameter and up to 3 partitions are stored at once (KAFKA_PARTITIONS_CONCURRENCY).',
    );
  } else {
    out.push('Suggestion: most of the time is CPU in Node, not SQL: see cpuProfile.byOwner and topFunctions for the owner of the hot path before tuning the database.');
  }
  return out;
}

await main(async () => {
  await preflight();
  const started = performance.now();
  const work = mkdtempSync(join(tmpdir(), 'bench-ingest-'));
  onCleanup(() => rmSync(work, { recursive: true, force: true }));
  const topic = `bench-ingest-${randomUUID().slice(0, 8)}`;
  log(`publishing ${EVENTS} events of ${AGENTS} virtual agents (probefleet-sim, seed ${SEED}) to ${topic}`);
  const sim = await publishFleet({ topic, agents: AGENTS, events: EVENTS, partitions: PARTITIONS, seed: SEED });
  const messages = await readFleetTopic(topic, sim.events);
  const total = messages.reduce((n, m) => n + m.events.length, 0);
  if (total !== sim.events) throw new Error(`the topic holds ${total} events, the simulator acked ${sim.events}`);
  const hits = sim.hits;
  const bytes = messages.reduce((n, m) => n + m.value.length, 0);
  log(`  ${total} events (${sim.hosts} hosts, ${sim.streams} streams, ${messages.length} messages of ${Math.round(total / messages.length)} events, ${Math.round(bytes / 2 ** 20)} MiB) at ${sim.eventsPerSecond} events/s`);

  const copy = await copyRun(messages, work);
  const runs = [];
  for (const instances of [1, 2]) runs.push(await ingestRun(topic, instances, total, hits));
  log(`profiling ingest() in-process on ${PROFILE_EVENTS} events`);
  const prof = await profile(messages);
  log(`  ${prof.eventsPerSecondSequential} events/s sequential, ${prof.statementsPerBatch} statements/batch, SQL ${prof.sqlShare}% of the time`);

  const best = Math.max(...runs.map((r) => r.eventsPerSecond));
  const code = codeVersion();
  const m = machine();
  m.postgres = await postgresVersion();
  const result = {
    name: 'ingest',
    events: total,
    hitEvents: hits,
    agents: AGENTS,
    hosts: sim.hosts,
    kprobeHosts: sim.kprobeHosts,
    tracepointHosts: sim.tracepointHosts,
    streams: sim.streams,
    partitions: PARTITIONS,
    messages: messages.length,
    eventsPerMessage: Math.round(total / messages.length),
    simulator: {
      seed: SEED,
      byType: sim.byType,
      restarts: sim.restarts,
      reboots: sim.reboots,
      crashes: sim.crashes,
      eventTimeSeconds: sim.virtualSeconds,
      publishedEventsPerSecond: sim.eventsPerSecond,
      publishSeconds: sim.seconds,
    },
    bytesPerEvent: Math.round(bytes / total),
    eventsPerSecond: best,
    runs,
    copy: { ...copy, ingestToCopyRatio: round(best / copy.rowsPerSecond, 3) },
    profile: prof,
    target: { eventsPerSecond: TARGET, met: best >= TARGET },
    notes: notes(runs, copy, prof),
    benchSeconds: Math.round((performance.now() - started) / 1000),
    code,
    machine: m,
    date: new Date().toISOString(),
  };
  writeResult('ingest.json', result);
  console.log(JSON.stringify({ ...result, profile: { ...prof, statements: prof.statements.slice(0, 5) } }, null, 2));
});
