// Latency of GET /api/v1/transitions (filtered keyset pages) through the real HTTP API of the built
// aggregator, over tcp_transitions filled with synthetic rows straight in SQL, at 1M and 10M rows.
// Needs the build and PostgreSQL (not Kafka: the server runs with CONSUMER_ENABLED=false).
//   node bench/query.bench.mjs → bench/results/query.json
// Knobs: BENCH_ROWS ("1000000,10000000"), BENCH_QUERIES (150 per filter shape), BENCH_FILL_BUDGET_S (300).
import { join } from 'node:path';
import {
  codeVersion, connectDb, createBenchDb, log, machine, main, percentile, postgresVersion, preflight, require, root, round, startAggregator, writeResult, prng } from './lib/stack.mjs';

const SIZES = (process.env.BENCH_ROWS || '1000000,10000000').split(',').map(Number).sort((a, b) => a - b);
const QUERIES = Number(process.env.BENCH_QUERIES || 150);
const FILL_BUDGET_S = Number(process.env.BENCH_FILL_BUDGET_S || 300);
const CHUNK = 1_000_000;
const TARGET_P99_MS = 50;
const DAY = '2026-11-25';

// Transitions of client (active open/close) and server (passive open/close) sockets, as tcp_set_state sees them.
const PAIRS = [
  ['TCP_CLOSE', 'TCP_SYN_SENT'], ['TCP_SYN_SENT', 'TCP_ESTABLISHED'], ['TCP_ESTABLISHED', 'TCP_FIN_WAIT1'],
  ['TCP_FIN_WAIT1', 'TCP_FIN_WAIT2'], ['TCP_FIN_WAIT2', 'TCP_CLOSE'], ['TCP_LISTEN', 'TCP_SYN_RECV'],
  ['TCP_SYN_RECV', 'TCP_ESTABLISHED'], ['TCP_ESTABLISHED', 'TCP_CLOSE_WAIT'], ['TCP_CLOSE_WAIT', 'TCP_LAST_ACK'], ['TCP_LAST_ACK', 'TCP_CLOSE'],
];
const SERVICE_PORTS = [443, 443, 443, 443, 80, 80, 5432, 6379, 8080, 9092, 22, 3306];
const sqlArray = (xs) => `ARRAY[${xs.map((x) => (typeof x === 'number' ? x : `'${x}'`)).join(',')}]`;

/**
 * Rows lo..hi: 100 hosts with a skew (host-000 busiest), one agent instance per host, times uniform
 * over one day, 30 % server-side sockets (service port as sport), ephemeral ports 32768–60999.
 */
const fillSql = (lo, hi) => `
  INSERT INTO tcp_transitions (host, instance, seq, time, skaddr, family, saddr, daddr, sport, dport,
                               old_state, new_state, ms_in_old_state, pid, comm, cpu, in_irq)
  SELECT 'host-' || lpad(h::text, 3, '0'), md5('host-' || h)::uuid, g,
         timestamptz '${DAY} 00:00:00+00' + r6 * interval '86400 seconds',
         '0xffff8881' || to_hex(33554432 + (g % 1048576) * 256), 'AF_INET',
         '10.1.' || h || '.' || (g % 250 + 1), '10.2.' || (g * 7 % 250) || '.' || (g * 13 % 250 + 1),
         CASE WHEN r5 < 0.3 THEN svc ELSE eph END, CASE WHEN r5 < 0.3 THEN eph ELSE svc END,
         (${sqlArray(PAIRS.map((p) => p[0]))})[st], (${sqlArray(PAIRS.map((p) => p[1]))})[st],
         CASE WHEN st IN (1, 6) THEN NULL ELSE r4 * 2000 END, 1000 + g % 5000, 'nginx', (g % 2)::smallint, st IN (2, 4, 7)
    FROM (SELECT g, floor(100 * power(random(), 1.5))::int AS h, 1 + floor(random() * ${PAIRS.length})::int AS st,
                 (${sqlArray(SERVICE_PORTS)})[1 + floor(random() * ${SERVICE_PORTS.length})::int] AS svc,
                 32768 + floor(random() * 28232)::int AS eph, random() AS r4, random() AS r5, random() AS r6
            FROM generate_series(${lo}, ${hi}) g) x`;


const STATES = ['TCP_ESTABLISHED', 'TCP_ESTABLISHED', 'TCP_SYN_SENT', 'TCP_CLOSE', 'TCP_FIN_WAIT1', 'TCP_CLOSE_WAIT', 'TCP_LAST_ACK'];
const PORTS = [443, 80, 5432, 6379, 8080, 22];
/** The filter shapes measured; parameters drawn at random, rare combinations included (they scan the most). */
const SHAPES = {
  'host+port+newState': (r) => ({ host: host(r), port: pick(r, PORTS), newState: pick(r, STATES) }),
  host: (r) => ({ host: host(r) }),
  'port+newState': (r) => ({ port: pick(r, PORTS), newState: pick(r, STATES) }),
  'newState+1h window': (r) => {
    const from = new Date(Date.parse(`${DAY}T00:00:00Z`) + Math.floor(r() * 23) * 3600_000);
    return { newState: pick(r, STATES), from: from.toISOString(), to: new Date(from.getTime() + 3600_000).toISOString() };
  },
};
const pick = (r, xs) => xs[Math.floor(r() * xs.length)];
const host = (r) => `host-${String(Math.floor(r() * 100)).padStart(3, '0')}`;

async function timedGet(url) {
  const t0 = performance.now();
  const res = await fetch(url);
  const body = await res.json();
  const ms = performance.now() - t0;
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${JSON.stringify(body)}`);
  return { ms, body };
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return { n: 0, p50: null, p99: null, max: null };
  return { n: s.length, p50: round(percentile(s, 50), 2), p99: round(percentile(s, 99), 2), max: round(s[s.length - 1] ?? 0, 2) };
};

/** The API's own SQL for a request (the built transitionsSql), EXPLAIN ANALYZEd and summarised. */
async function explain(pg, params) {
  const { TransitionsQuery, transitionsSql } = require(join(root, 'apps/aggregator/dist/api/transitions.service.js'));
  const sql = transitionsSql(TransitionsQuery.parse(params));
  const values = sql.values.map((v) => (typeof v === 'bigint' ? String(v) : v));
  const [plan] = (await pg.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql.text}`, values)).rows[0]['QUERY PLAN'];
  const nodes = [];
  const walk = (n) => { nodes.push(n); (n.Plans ?? []).forEach(walk); };
  walk(plan.Plan);
  return {
    nodes: nodes.map((n) => n['Node Type'] + (n['Index Name'] ? ` on ${n['Index Name']}` : '')),
    rowsRemovedByFilter: nodes.reduce((a, n) => a + (n['Rows Removed by Filter'] ?? 0), 0),
    sharedBlocksHit: plan.Plan['Shared Hit Blocks'], sharedBlocksRead: plan.Plan['Shared Read Blocks'],
    executionMs: round(plan['Execution Time'], 2),
  };
}

async function measure(api, pg) {
  const out = {};
  let slowest = { ms: 0 };
  for (const [shape, params] of Object.entries(SHAPES)) {
    const r = prng(shape.length * 7919);
    const first = [];
    const second = [];
    let full = 0;
    for (let i = -20; i < QUERIES; i++) { // 20 warm-up requests per shape: JIT, plans, caches
      const q = new URLSearchParams({ ...Object.fromEntries(Object.entries(params(r)).map(([k, v]) => [k, String(v)])), limit: '100' });
      const a = await timedGet(`${api}/api/v1/transitions?${q}`);
      if (i < 0) continue;
      first.push(a.ms);
      if (a.ms > slowest.ms) slowest = { ms: a.ms, shape, page: 1, params: Object.fromEntries(q) };
      if (a.body.items.length === 100) full++;
      if (a.body.nextCursor) {
        q.set('cursor', a.body.nextCursor);
        const b = await timedGet(`${api}/api/v1/transitions?${q}`);
        second.push(b.ms);
        if (b.ms > slowest.ms) slowest = { ms: b.ms, shape, page: 2, params: Object.fromEntries(q) };
      }
    }
    out[shape] = { firstPage: stats(first), secondPage: stats(second), fullFirstPages: full };
    log(`    ${shape}: first page p50 ${out[shape].firstPage.p50} ms p99 ${out[shape].firstPage.p99} ms; second page p50 ${out[shape].secondPage.p50} ms p99 ${out[shape].secondPage.p99} ms`);
  }
  // Explained after the timed requests, so it warms nothing for them.
  return { latencyMs: out, slowest: { ...slowest, ms: round(slowest.ms, 2), plan: await explain(pg, slowest.params) } };
}

/** Per size: which shapes miss the target and why (the slowest request's plan); then what would help. */
function notes(sizes) {
  const out = sizes.map((s) => {
    const over = Object.entries(s.latencyMs).filter(([, l]) => l.firstPage.p99 >= TARGET_P99_MS || (l.secondPage.p99 ?? 0) >= TARGET_P99_MS).map(([k]) => k);
    const p = s.slowest.plan;
    const stall = p.executionMs < s.slowest.ms / 5 ? ` PostgreSQL needs only ${p.executionMs} ms for it when run again: that outlier was the shared machine, not the query.` : '';
    return `${s.rows.toLocaleString('en-US')} rows: p99 at or over ${TARGET_P99_MS} ms for ${over.length ? over.join(', ') : 'no shape'}. Slowest request ${s.slowest.ms} ms (${s.slowest.shape}, page ${s.slowest.page}, ${JSON.stringify(s.slowest.params)}): plan ${p.nodes.join(' → ')}, ${p.rowsRemovedByFilter} rows filtered out, ${p.executionMs} ms in PostgreSQL.${stall}`;
  });
  const slowShapes = new Set(sizes.flatMap((s) => Object.entries(s.latencyMs).filter(([, l]) => l.firstPage.p99 >= TARGET_P99_MS).map(([k]) => k)));
  if (slowShapes.has('host+port+newState')) {
    out.push('host+port+newState has no index giving both its filter and its order: PostgreSQL either walks (host, time) backwards checking port and state on every heap row, or ANDs bitmaps of the host and sport/dport indexes and sorts every match; both grow with the rows of the host (the fill gives busy hosts up to ~5 % of all rows), and a rare port/state combination reads all of them. Suggestions for the schema/API owner: an index on (host, new_state, time, id), so the walk visits only that state\'s rows in order; and for the port, (sport = $p OR dport = $p) as a UNION ALL of two branches, each ORDER BY time DESC, id DESC LIMIT n+1 over (host, sport, time) / (host, dport, time) (the second with sport <> $p), merged and cut to n+1, so each branch stops after n+1 matches.');
  }
  return out;
}

await main(async () => {
  await preflight({ kafka: false });
  const started = performance.now();
  const db = await createBenchDb('query');
  const pg = await connectDb(db);
  // Indexes are built once per size after the fill (much faster than maintaining them row by row);
  // their definitions come from the migration, so they are exactly the production ones.
  const indexes = (await pg.query(`SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tcp_transitions' AND indexname <> 'tcp_transitions_pkey'`)).rows;
  const server = await startAggregator({ DATABASE_URL: db.url, CONSUMER_ENABLED: 'false' });
  const fillDeadline = performance.now() + FILL_BUDGET_S * 1000;
  const sizes = [];
  let rows = 0;
  for (const target of SIZES) {
    const t0 = performance.now();
    for (const { indexname } of indexes) await pg.query(`DROP INDEX IF EXISTS ${indexname}`);
    while (rows < target && performance.now() < fillDeadline) {
      const hi = Math.min(rows + CHUNK, target);
      await pg.query(fillSql(rows + 1, hi));
      rows = hi;
      log(`  filled ${rows.toLocaleString('en-US')} rows (${Math.round((performance.now() - t0) / 1000)} s)`);
    }
    const fillSeconds = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    await pg.query(`SET maintenance_work_mem = '256MB'`);
    for (const { indexdef } of indexes) await pg.query(indexdef);
    await pg.query('ANALYZE tcp_transitions');
    const indexSeconds = (performance.now() - t1) / 1000;
    const size = (await pg.query(`SELECT pg_total_relation_size('tcp_transitions') AS bytes`)).rows[0].bytes;
    log(`${rows.toLocaleString('en-US')} rows: filled in ${fillSeconds.toFixed(0)} s, indexes + ANALYZE in ${indexSeconds.toFixed(0)} s; measuring`);
    sizes.push({
      rows,
      complete: rows >= target,
      fillSeconds: round(fillSeconds),
      indexSeconds: round(indexSeconds),
      tableMB: Math.round(Number(size) / 2 ** 20),
      ...(await measure(server.url, pg)),
    });
    if (rows < target) {
      log(`fill budget of ${FILL_BUDGET_S} s spent at ${rows} rows (target ${target}): measured what was filled`);
      break;
    }
  }
  const worstP99 = Math.max(...sizes.flatMap((s) => Object.values(s.latencyMs).flatMap((l) => [l.firstPage.p99, l.secondPage.p99 ?? 0])));
  const code = codeVersion();
  const m = machine();
  m.postgres = await postgresVersion();
  const result = {
    name: 'query',
    endpoint: 'GET /api/v1/transitions (limit=100, order=desc; second page via nextCursor)',
    queriesPerShape: QUERIES,
    sizes,
    target: { p99Ms: TARGET_P99_MS, worstP99Ms: worstP99, met: worstP99 < TARGET_P99_MS && sizes.every((s) => s.complete) },
    notes: notes(sizes),
    benchSeconds: Math.round((performance.now() - started) / 1000),
    code,
    machine: m,
    date: new Date().toISOString(),
  };
  await server.stop();
  await pg.end();
  await db.drop();
  writeResult('query.json', result);
  console.log(JSON.stringify(result, null, 2));
});
