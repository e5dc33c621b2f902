// Retention soak (issue 12, bench/retention): BENCH_DAYS (30) days of fleet time published in fast
// time by the fleet simulator (--rate 0 --virtual-rate, one run per simulated day, each --start at
// its UTC midnight) into a fresh topic, consumed by the built aggregator (`probefleet serve`) with
// RETENTION_DAYS=7, RETENTION_CLOCK=data (the store's clock follows the event time stored: the
// oldest partition's progress, store-clock.ts) and RETENTION_INTERVAL_S=1.
// Each time the store's clock enters a simulated day, right after retention dropped the day that
// left the window, the database size and the per-table sizes (every partition of tcp_transitions,
// events, tcp_connections, tcp_rollups; the other tables together) are sampled; in the first week
// (nothing to drop) as the newest stored event passes midday. The bound checked: after the first
// simulated week (samples at days 8..BENCH_DAYS-1) every pg_database_size sample is within ±10 % of
// their mean; the same for the database less tcp_rollups (kept ROLLUP_RETENTION_DAYS, 400).
// Needs the build and the local stack (`npm run stack:up`).
//   node bench/retention.bench.mjs → bench/results/retention.json
// Knobs: BENCH_DAYS (30), BENCH_HITS_PER_DAY (25000), BENCH_AGENTS (20), BENCH_SEED (1),
// BENCH_PARTITIONS (6), BENCH_BATCH_BYTES (1 MiB, KAFKA_MAX_BYTES_PER_PARTITION), BENCH_RUN_TIMEOUT_S (900).
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import {
  brokers, codeVersion, connectDb, createBenchDb, log, machine, main, postgresVersion, preflight, round, sleep, startAggregator, writeResult } from './lib/stack.mjs';
import { publishFleet, simCli } from './lib/fleet.mjs';

const DAYS = Number(process.env.BENCH_DAYS || 30);
const HITS_PER_DAY = Number(process.env.BENCH_HITS_PER_DAY || 25_000);
const AGENTS = Number(process.env.BENCH_AGENTS || 20);
const SEED = Number(process.env.BENCH_SEED || 1);
const PARTITIONS = Number(process.env.BENCH_PARTITIONS || 6);
const RUN_TIMEOUT_S = Number(process.env.BENCH_RUN_TIMEOUT_S || 900);
const BATCH_BYTES = Number(process.env.BENCH_BATCH_BYTES || 1 << 20);
const RETENTION_DAYS = 7;
const BOUND = 0.1;
const DAY_MS = 86_400_000;
// A UTC midnight, so simulated days are the store's day partitions.
const START = '2026-01-01T00:00:00.000000000Z';
const START_MS = Date.parse(START);
// Lifecycle and timers of the virtual agents, in event time: a heartbeat every 10 min, a restart a
// day on average (a new instance, whose lifecycle events are kept); each simulated day is a run of
// its own, so the fleet reboots every midnight.
const HEARTBEAT_S = 600;
const RESTART_S = 86_400;
// Besides the hits, per agent: heartbeats, agent.loss (every 900 s) and probe.missed (every 600 s,
// kprobe hosts); --events counts them all.
const TIMERS_PER_DAY = AGENTS * (86_400 / HEARTBEAT_S + 86_400 / 900 + 0.6 * (86_400 / 600));
const EVENTS_PER_DAY = Math.round(HITS_PER_DAY + TIMERS_PER_DAY);

const TABLES = ['tcp_transitions', 'events', 'tcp_connections', 'tcp_rollups'];

async function sizes(pg) {
  const { rows } = await pg.query(`
    WITH leaf AS (
      SELECT r.root, t.relid FROM unnest($1::text[]) AS r(root), pg_partition_tree(r.root::regclass) t WHERE t.isleaf)
    SELECT root, count(*)::int AS partitions, sum(pg_total_relation_size(relid))::bigint AS bytes FROM leaf GROUP BY root
    UNION ALL
    SELECT 'other', count(*)::int, coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'm') AND NOT c.relispartition
    UNION ALL
    SELECT 'open', 1, pg_total_relation_size('tcp_connections_open')
    UNION ALL
    SELECT 'kept', 1, pg_total_relation_size('events_kept')
    UNION ALL
    SELECT 'database', 0, pg_database_size(current_database())`, [TABLES]);
  const out = {};
  for (const r of rows) out[r.root] = { partitions: r.partitions, bytes: Number(r.bytes) };
  return out;
}

/** One more simulated day into the topic publishFleet created (and deletes at cleanup). */
// The broker is shared and others restart it: a failed run is tried again (a run that failed half
// way publishes its events again, same seed, same events: the store counts them as duplicates).
async function publishDay({ topic, start, seed, args }, tries = 4) {
  for (let i = 1; ; i++) {
    try {
      return await publishDayOnce({ topic, start, seed, args });
    } catch (err) {
      if (i >= tries) throw err;
      log(`  ${err.message.split('\n')[0].slice(0, 200)}: again in 10 s`);
      await sleep(10_000);
    }
  }
}

async function publishDayOnce({ topic, start, seed, args }) {
  const { stdout } = await promisify(execFile)(process.execPath, [simCli, '--agents', String(AGENTS), '--events', String(EVENTS_PER_DAY), '--rate', '0',
    '--topic', topic, '--brokers', brokers.join(','), '--seed', String(seed), '--start', start, ...args], { maxBuffer: 1 << 26, env: { ...process.env, PROBEFLEET_LOG_LEVEL: 'warn' } })
    .catch((err) => { throw new Error(`probefleet-sim failed: ${err.stderr || err.message}`); });
  return JSON.parse(stdout);
}

const mb = (b) => round(b / 2 ** 20, 2);

await main(async () => {
  await preflight();
  const started = performance.now();
  const db = await createBenchDb('retention');
  const pg = await connectDb(db);
  const topic = `bench-retention-${randomUUID().slice(0, 8)}`;
  const emptyBytes = (await sizes(pg)).database.bytes;
  log(`aggregator on ${db.name}, topic ${topic}: RETENTION_DAYS=${RETENTION_DAYS}, RETENTION_CLOCK=data`);
  const agg = await startAggregator({
    DATABASE_URL: db.url, KAFKA_TOPIC: topic, KAFKA_GROUP_ID: `bench-retention-${randomUUID()}`, KAFKA_CREATE_TOPIC: 'true',
    KAFKA_TOPIC_PARTITIONS: String(PARTITIONS), RETENTION_DAYS: String(RETENTION_DAYS), RETENTION_CLOCK: 'data', RETENTION_INTERVAL_S: '1',
    // Every partition in each round, each batch a small slice of fleet time: the data clock (the
    // oldest partition's progress) then moves in small steps (see store-clock.ts).
    KAFKA_PARTITIONS_CONCURRENCY: String(PARTITIONS), KAFKA_MAX_BYTES_PER_PARTITION: String(BATCH_BYTES),
  });

  // One simulator run per simulated day (--start at that midnight, a seed of its own: new boots and
  // instances, the same host names), the next one published once less than half a day of events is
  // left unconsumed. One run for all 30 days would put the whole month in the topic at once; the
  // consumer then reads it byte by byte per partition, and partitions with more bytes per day of
  // fleet time fall days behind the others (the store's clock follows the oldest partition): the
  // store would hold far more than RETENTION_DAYS while the backlog lasts, which is no steady state.
  const virtualRate = HITS_PER_DAY / 86_400;
  const chunks = [];
  let publishedEvents = 0;
  let publishSeconds = 0;
  const consumed = async () => {
    const { rows: [r] } = await pg.query(`SELECT (SELECT coalesce(sum(rows), 0) FROM store_batches)::bigint AS stored,
      (SELECT coalesce(sum(substring(reason FROM '^[0-9]+ of ([0-9]+) events')::int), 0) FROM dead_letters)::bigint AS letters`);
    return Number(r.stored) + Number(r.letters);
  };
  log(`publishing ${DAYS} simulated days of ${AGENTS} agents from ${START}, ~${EVENTS_PER_DAY} events a day (${HITS_PER_DAY} TCP hits + timers)`);
  const publisher = (async () => {
    for (let d = 0; d < DAYS; d++) {
      while (publishedEvents - (await consumed()) > EVENTS_PER_DAY / 2) await sleep(200);
      const start = new Date(START_MS + d * DAY_MS).toISOString().replace('.000Z', '.000000000Z');
      const args = ['--virtual-rate', String(virtualRate), '--heartbeat', String(HEARTBEAT_S), '--restart-every', String(RESTART_S), '--reboot-every', 'never'];
      const t0 = performance.now();
      const r = d === 0
        ? await publishFleet({ topic, agents: AGENTS, events: EVENTS_PER_DAY, partitions: PARTITIONS, seed: SEED * 1000 + d, start, extraArgs: args })
        : await publishDay({ topic, start, seed: SEED * 1000 + d, args });
      publishSeconds += (performance.now() - t0) / 1000;
      chunks.push(r);
      publishedEvents += r.events;
    }
  })();
  let publishError;
  let publishing = true;
  publisher.then(() => (publishing = false), (err) => { publishError = err; publishing = false; });

  const clock = async () => {
    const { rows: [r] } = await pg.query(`SELECT extract(epoch FROM max(max_time)) * 1000 AS ms, coalesce(sum(rows), 0)::bigint AS stored,
      (SELECT count(*) FROM retention_drops)::int AS drops FROM store_batches`);
    return { ms: Number(r.ms ?? 0), stored: Number(r.stored), drops: r.drops };
  };
  const deadLetters = async () => {
    const { rows } = await pg.query(`SELECT kind, count(*)::int AS messages,
      sum(coalesce(substring(reason FROM '^[0-9]+ of ([0-9]+) events')::int, 0))::int AS events,
      sum(coalesce(substring(reason FROM '^([0-9]+) of')::int, 0))::int AS older FROM dead_letters GROUP BY kind`);
    return Object.fromEntries(rows.map((r) => [r.kind, { messages: r.messages, events: r.events, olderThanHorizon: r.older }]));
  };

  // The latest day the store's clock entered, as retention shows it: once the clock is in day d,
  // the day partitions ending at d - RETENTION_DAYS are dropped, one of each raw table.
  const droppedThrough = async () => {
    const { rows } = await pg.query(`SELECT extract(epoch FROM range_to) * 1000 AS ms FROM retention_drops
      WHERE table_name IN ('tcp_transitions', 'events', 'tcp_connections') GROUP BY range_to HAVING count(DISTINCT table_name) = 3
      ORDER BY range_to DESC LIMIT 1`);
    return rows.length > 0 ? Number(rows[0].ms) : null;
  };
  const sample = async (day, how, c) => {
    const s = await sizes(pg);
    const series = {
      databaseMB: mb(s.database.bytes),
      databaseLessRollupsMB: mb(s.database.bytes - s.tcp_rollups.bytes),
      liveRelationsMB: mb(TABLES.reduce((n, t) => n + s[t].bytes, 0) + s.other.bytes),
      // What retention governs: the day partitions of raw rows (kept lifecycle events and open
      // lifetimes, in partitions no time range ends, left out).
      retainedRawMB: mb(s.tcp_transitions.bytes + s.events.bytes - s.kept.bytes + s.tcp_connections.bytes - s.open.bytes),
    };
    samples.push({ day, how, newestStored: new Date(c.ms).toISOString(), stored: c.stored, drops: c.drops, ...series,
      tables: Object.fromEntries([...TABLES, 'other'].map((t) => [t, { partitions: s[t].partitions, MB: mb(s[t].bytes) }])),
      openConnectionsMB: mb(s.open.bytes), keptEventsMB: mb(s.kept.bytes) });
    log(`  day ${day} (${how}; newest stored ${new Date(c.ms).toISOString().slice(0, 16)}): ${c.stored} stored, database ${series.databaseMB} MB ` +
      `(less rollups ${series.databaseLessRollupsMB}), tcp_transitions ${s.tcp_transitions.partitions} partitions ${mb(s.tcp_transitions.bytes)} MB, ` +
      `events ${mb(s.events.bytes)} (kept ${mb(s.kept.bytes)}), tcp_connections ${mb(s.tcp_connections.bytes)} (open ${mb(s.open.bytes)}), rollups ${mb(s.tcp_rollups.bytes)}, ` +
      `other ${mb(s.other.bytes)} MB, ${c.drops} drops`);
  };

  const samples = [];
  const deadline = Date.now() + RUN_TIMEOUT_S * 1000;
  let nextDay = 0;
  let first;
  let last;
  let lastLog = 0;
  let stall = { stored: -1, t: Date.now() };
  for (;;) {
    if (Date.now() > deadline) throw new Error(`timed out after ${RUN_TIMEOUT_S} s:\n${agg.stderr()}`);
    const c = await clock();
    if (c.stored > 0 && !first) first = { t: performance.now(), stored: c.stored };
    if (c.stored > (last?.stored ?? 0)) last = { t: performance.now(), stored: c.stored };
    const through = await droppedThrough();
    if (through !== null) {
      // Right after the drop of the day that left the window: the same point of each day's sawtooth.
      const day = Math.round((through - START_MS) / DAY_MS) + RETENTION_DAYS;
      if (day >= nextDay) {
        await sample(day, 'after the drop', c);
        nextDay = day + 1;
      }
    } else if (c.ms > 0 && (c.ms - START_MS) / DAY_MS >= nextDay + 0.5 && nextDay <= RETENTION_DAYS) {
      // The first week has nothing to drop: sampled as the newest stored event passes midday.
      const day = Math.floor((c.ms - START_MS) / DAY_MS - 0.5);
      await sample(day, 'newest stored past midday', c);
      nextDay = day + 1;
    }
    if (publishError) throw publishError;
    if (c.stored !== stall.stored) stall = { stored: c.stored, t: Date.now() };
    else if (Date.now() - stall.t > 120_000) {
      throw new Error(`nothing stored for 120 s (${c.stored} stored, ${publishedEvents} published in ${chunks.length} runs, publishing: ${publishing}; ` +
        `dead letters ${JSON.stringify(await deadLetters())}):\n${agg.stderr()}`);
    }
    if (!publishing && (await consumed()) >= publishedEvents) break;
    if (performance.now() - lastLog > 15000) {
      lastLog = performance.now();
      log(`  ${c.stored} stored, newest ${c.ms ? new Date(c.ms).toISOString().slice(0, 16) : '-'}, load ${machine().loadAvgAtEnd.join(' ')}`);
    }
    await sleep(250);
  }
  const sum = (k) => chunks.reduce((n, r) => n + r[k], 0);
  const byType = {};
  for (const r of chunks) for (const [t, n] of Object.entries(r.byType)) byType[t] = (byType[t] ?? 0) + n;
  const sim = { events: publishedEvents, byType, restarts: sum('restarts'), reboots: sum('reboots'), crashes: sum('crashes'), virtualSeconds: sum('virtualSeconds'),
    wallSeconds: publishSeconds, eventsPerSecond: Math.round(publishedEvents / publishSeconds) };
  // Every source falls silent now: within IDLE_SOURCE_MS (30 s) the clock reaches the newest event
  // stored and retention drops the last days; those are sampled too, then the final state.
  for (const until = Date.now() + 45_000; Date.now() < until; ) {
    const through = await droppedThrough();
    const day = through === null ? -1 : Math.round((through - START_MS) / DAY_MS) + RETENTION_DAYS;
    if (day >= nextDay) {
      await sample(day, 'after the drop, all consumed', await clock());
      nextDay = day + 1;
    }
    if (day >= DAYS - 1) break;
    await sleep(500);
  }
  await sleep(2500);
  const end = await clock();
  const final = await sizes(pg);
  const dl = await deadLetters();
  const metrics = await fetch(`${agg.url}/metrics`).then((r) => r.text());
  const metric = (name) => [...metrics.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
  const drops = (await pg.query(`SELECT table_name, count(*)::int AS n, sum(rows)::bigint AS rows, min(range_from) AS first, max(range_to) AS last
    FROM retention_drops GROUP BY 1 ORDER BY 1`)).rows;
  const dropRows = (await pg.query(`SELECT table_name, partition, range_from, range_to, rows, dropped_at FROM retention_drops ORDER BY id`)).rows;
  const remaining = (await pg.query(`SELECT (SELECT count(*) FROM tcp_transitions)::bigint AS transitions, (SELECT count(*) FROM events)::bigint AS events,
    (SELECT count(*) FROM events_kept)::bigint AS kept, (SELECT count(*) FROM tcp_connections_open)::bigint AS open_connections,
    (SELECT min(time) FROM tcp_transitions) AS oldest`)).rows[0];
  await pg.query('VACUUM');
  const vacuumed = await sizes(pg);
  await agg.stop();

  // The bound: samples after the first simulated week.
  const after = samples.filter((s) => s.day >= RETENTION_DAYS + 1);
  const bound = (key) => {
    const v = after.map((s) => s[key]);
    if (v.length === 0) return null;
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const min = Math.min(...v);
    const max = Math.max(...v);
    return { samples: v.length, meanMB: round(mean, 2), minMB: min, maxMB: max, maxDeviationPercent: round(Math.max(max / mean - 1, 1 - min / mean) * 100, 1),
      maxOverMin: round(max / min, 3), withinBound: max <= mean * (1 + BOUND) && min >= mean * (1 - BOUND) };
  };
  const databaseBound = bound('databaseMB');
  const lessRollupsBound = bound('databaseLessRollupsMB');
  const retainedBound = bound('retainedRawMB');
  // Growth per simulated day over days 8..end of what no retention removes (MB/day, least squares).
  const slope = (f) => {
    const pts = after.map((x) => [x.day, f(x)]);
    if (pts.length < 2) return null;
    const mx = pts.reduce((a, [x]) => a + x, 0) / pts.length;
    const my = pts.reduce((a, [, y]) => a + y, 0) / pts.length;
    return round(pts.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / pts.reduce((a, [x]) => a + (x - mx) ** 2, 0), 2);
  };
  const growthPerDay = {
    database: slope((x) => x.databaseMB), tcp_rollups: slope((x) => x.tables.tcp_rollups.MB), tcp_connections_open: slope((x) => x.openConnectionsMB),
    events_kept: slope((x) => x.keptEventsMB), other: slope((x) => x.tables.other.MB), retainedRaw: slope((x) => x.retainedRawMB),
  };
  const seconds = (last.t - first.t) / 1000;
  const expired = dl.expired ?? { messages: 0, events: 0, olderThanHorizon: 0 };
  const m = machine();
  m.postgres = await postgresVersion();
  const result = {
    name: 'retention',
    days: DAYS,
    retentionDays: RETENTION_DAYS,
    agents: AGENTS,
    partitions: PARTITIONS,
    hitsPerSimulatedDay: HITS_PER_DAY,
    simulator: {
      runs: chunks.length, seeds: `${SEED * 1000}..${SEED * 1000 + DAYS - 1}`, start: START, virtualRate: round(virtualRate, 4), heartbeatS: HEARTBEAT_S, restartEveryS: RESTART_S,
      byType: sim.byType, restarts: sim.restarts, reboots: sim.reboots, crashes: sim.crashes,
      simulatedDays: round(sim.virtualSeconds / 86_400, 2), publishSeconds: round(sim.wallSeconds, 1), publishedEventsPerSecond: sim.eventsPerSecond,
    },
    eventsPublished: sim.events,
    eventsStored: end.stored,
    deadLetters: dl,
    expiredEvents: expired.events,
    unaccounted: sim.events - end.stored - Object.values(dl).reduce((n, k) => n + k.events, 0),
    eventsPerSecond: Math.round((last.stored - first.stored) / seconds),
    consumeSeconds: round(seconds, 1),
    dataClockEnd: new Date(end.ms).toISOString(),
    partitionsDropped: Object.fromEntries(drops.map((d) => [d.table_name, { partitions: d.n, rows: Number(d.rows), from: d.first.toISOString(), to: d.last.toISOString() }])),
    partitionsDroppedMetric: metric('probefleet_retention_partitions_dropped_total'),
    retentionFailuresMetric: metric('probefleet_retention_failures_total'),
    remaining: { transitions: Number(remaining.transitions), events: Number(remaining.events), keptLifecycleEvents: Number(remaining.kept),
      openConnections: Number(remaining.open_connections), oldestTransition: remaining.oldest?.toISOString() ?? null },
    emptyDatabaseMB: mb(emptyBytes),
    criterion: `every pg_database_size sample taken right after retention dropped the day leaving the window (the store's clock entering simulated days ${after[0]?.day}..${after.at(-1)?.day}) within ±${BOUND * 100} % of their mean`,
    bound: databaseBound,
    boundLessRollups: lessRollupsBound,
    boundRetainedRaw: retainedBound,
    growthMBPerSimulatedDay: growthPerDay,
    boundLiveRelations: bound('liveRelationsMB'),
    samples,
    final: Object.fromEntries(Object.entries(final).map(([k, v]) => [k, { partitions: v.partitions, MB: mb(v.bytes) }])),
    afterVacuum: Object.fromEntries(Object.entries(vacuumed).map(([k, v]) => [k, { partitions: v.partitions, MB: mb(v.bytes) }])),
    drops: dropRows.map((d) => ({ table: d.table_name, partition: d.partition, rows: Number(d.rows), droppedAt: d.dropped_at.toISOString() })),
    benchSeconds: Math.round((performance.now() - started) / 1000),
    code: codeVersion(),
    machine: m,
    date: new Date().toISOString(),
  };
  result.notes = [
    `${result.eventsPublished} events published over ${result.simulator.simulatedDays} simulated days (${AGENTS} agents, ${HITS_PER_DAY} TCP hits a day), ${result.eventsStored} stored at ${result.eventsPerSecond} events/s, ${expired.events} dead-lettered as expired (${expired.messages} messages).`,
    databaseBound ? `Database size at days ${after[0].day}..${after.at(-1).day}: ${databaseBound.minMB}–${databaseBound.maxMB} MB, mean ${databaseBound.meanMB} MB, largest deviation ${databaseBound.maxDeviationPercent} % (bound ±${BOUND * 100} %: ${databaseBound.withinBound ? 'met' : 'NOT met'}).` : 'too few simulated days for the bound',
    lessRollupsBound ? `Database less tcp_rollups: ${lessRollupsBound.minMB}–${lessRollupsBound.maxMB} MB, largest deviation ${lessRollupsBound.maxDeviationPercent} % (${lessRollupsBound.withinBound ? 'within' : 'NOT within'} ±${BOUND * 100} %). ` +
      `Day partitions of raw rows (what retention drops): ${retainedBound.minMB}–${retainedBound.maxMB} MB, largest deviation ${retainedBound.maxDeviationPercent} % (${retainedBound.withinBound ? 'within' : 'NOT within'} ±${BOUND * 100} %).` : '',
    `Growth per simulated day after day ${RETENTION_DAYS}: ${Object.entries(growthPerDay).map(([k, v]) => `${k} ${v} MB`).join(', ')}.`,
    `Dropped: ${drops.map((d) => `${d.table_name} ${d.n}`).join(', ') || 'nothing'}.`,
  ];
  if (Math.max(m.loadAvgAtStart[0], m.loadAvgAtEnd[0]) > m.cpus) {
    result.notes.push(`The machine was loaded by other work (1-min load ${m.loadAvgAtStart[0]} at start, ${m.loadAvgAtEnd[0]} at end, on ${m.cpus} cpus): events/s is a lower bound.`);
  }
  writeResult('retention.json', result);
  console.log(JSON.stringify({ ...result, samples: samples.map((s) => [s.day, s.databaseMB]), drops: undefined }, null, 2));
  if (!databaseBound?.withinBound) log('the size bound was NOT met');
});
