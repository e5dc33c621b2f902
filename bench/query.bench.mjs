// Latency of GET /api/v1/transitions (filtered keyset pages) and /api/v1/stats/transitions through the
// real HTTP API of the built aggregator, over the store v2 layout filled with synthetic rows straight
// in SQL: tcp_transitions (day partitions over a week) at 1M and 10M rows, and 30 days of tcp_rollups
// for a 100-host fleet. Needs the build and PostgreSQL (not Kafka: CONSUMER_ENABLED=false).
//   node bench/query.bench.mjs → bench/results/query.json
// Knobs: BENCH_ROWS ("1000000,10000000"), BENCH_QUERIES (150 per filter shape), BENCH_STATS_QUERIES
// (40 per stats shape), BENCH_ROLLUP_HOSTS (100), BENCH_FILL_BUDGET_S (300), BENCH_CANDIDATES (1: also time
// candidate indexes).
import { join } from 'node:path';
import {
  codeVersion, connectDb, createBenchDb, log, machine, main, percentile, postgresVersion, preflight, require, root, round, startAggregator, writeResult, prng } from './lib/stack.mjs';

const SIZES = (process.env.BENCH_ROWS || '1000000,10000000').split(',').map(Number).sort((a, b) => a - b);
const QUERIES = Number(process.env.BENCH_QUERIES || 150);
const FILL_BUDGET_S = Number(process.env.BENCH_FILL_BUDGET_S || 300);
const STATS_QUERIES = Number(process.env.BENCH_STATS_QUERIES || 40);
const CANDIDATES = process.env.BENCH_CANDIDATES !== '0';
const CHUNK = 1_000_000;
const TARGET_P99_MS = 50;
const STATS_TARGET_P99_MS = 300;
const DAY = '2026-11-25';
const DAYS = 7; // transitions spread over a week of day partitions (retention keeps 14)
const ROLLUP_DAYS = 30;
const HOSTS = 100;
const ROLLUP_HOSTS = Number(process.env.BENCH_ROLLUP_HOSTS || HOSTS);

// Transitions of client (active open/close) and server (passive open/close) sockets, as tcp_set_state sees them.
const PAIRS = [
  ['TCP_CLOSE', 'TCP_SYN_SENT'], ['TCP_SYN_SENT', 'TCP_ESTABLISHED'], ['TCP_ESTABLISHED', 'TCP_FIN_WAIT1'],
  ['TCP_FIN_WAIT1', 'TCP_FIN_WAIT2'], ['TCP_FIN_WAIT2', 'TCP_CLOSE'], ['TCP_LISTEN', 'TCP_SYN_RECV'],
  ['TCP_SYN_RECV', 'TCP_ESTABLISHED'], ['TCP_ESTABLISHED', 'TCP_CLOSE_WAIT'], ['TCP_CLOSE_WAIT', 'TCP_LAST_ACK'], ['TCP_LAST_ACK', 'TCP_CLOSE'],
];
const SERVICE_PORTS = [443, 443, 443, 443, 80, 80, 5432, 6379, 8080, 9092, 22, 3306];
const sqlArray = (xs) => `ARRAY[${xs.map((x) => (typeof x === 'number' ? x : `'${x}'`)).join(',')}]`;

/**
 * The owner dictionary: OWNERS owners per host (id h * OWNERS + k + 1), as ownerK spreads the rows
 * over them: k 0 nginx in a frontend pod (50 % of a host's rows), 1 java in a shop pod (25 %), 2
 * postgres as a systemd unit (10 %), 3–9 python3 workers in batch pods (10 %), 10–49 short-lived
 * curls outside any pod (5 %); 5 % of the rows have no owner (attribution unknown).
 */
const OWNERS = 50;
const ownerComm = (k) => (k === 0 ? 'nginx' : k === 1 ? 'java' : k === 2 ? 'postgres' : k < 10 ? 'python3' : 'curl');
const ownerNamespace = (k) => (k === 0 ? 'frontend' : k === 1 ? 'shop' : k >= 3 && k < 10 ? 'batch' : null);
const ownerPid = (h, k) => 1000 + h * 100 + k;
const ownersSql = `
  INSERT INTO tcp_owners (host, id, key, pid, comm, cgroup, container_id, container_runtime, pod_namespace, pod_name, pod_uid, last_day)
  SELECT host, h * ${OWNERS} + k + 1, probefleet_owner_key(pid, comm, cgroup, container_id, container_runtime, pod_namespace, pod_name, pod_uid),
         pid, comm, cgroup, container_id, container_runtime, pod_namespace, pod_name, pod_uid, date '${DAY}' + ${DAYS - 1}
    FROM (SELECT h, k, 'host-' || lpad(h::text, 3, '0') AS host, 1000 + h * 100 + k AS pid, c.comm, c.ns AS pod_namespace,
                 CASE WHEN c.ns IS NOT NULL THEN c.comm || '-' || h || '-' || k END AS pod_name,
                 CASE WHEN c.ns IS NOT NULL THEN md5('pod' || h || '/' || k)::uuid END AS pod_uid,
                 CASE WHEN c.ns IS NOT NULL THEN md5('c' || h || '/' || k) || md5('d' || h || '/' || k) WHEN k = 2 THEN 'postgresql.service' END AS container_id,
                 CASE WHEN c.ns IS NOT NULL THEN 'containerd' WHEN k = 2 THEN 'systemd' END AS container_runtime,
                 CASE WHEN c.ns IS NOT NULL THEN '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod' || replace(md5('pod' || h || '/' || k)::uuid::text, '-', '_')
                        || '.slice/cri-containerd-' || md5('c' || h || '/' || k) || md5('d' || h || '/' || k) || '.scope'
                      WHEN k = 2 THEN '/system.slice/postgresql.service' ELSE '/user.slice/user-1000.slice/session-3.scope' END AS cgroup
            FROM generate_series(0, ${HOSTS - 1}) h, generate_series(0, ${OWNERS - 1}) k,
                 LATERAL (SELECT (${sqlArray(Array.from({ length: OWNERS }, (_, k) => ownerComm(k)))})[k + 1] AS comm,
                                 (${sqlArray(Array.from({ length: OWNERS }, (_, k) => ownerNamespace(k) ?? ''))})[k + 1] AS ns0) c0,
                 LATERAL (SELECT c0.comm, nullif(c0.ns0, '') AS ns) c) o`;
/** One source per host (id h + 1): its agent instance and the TCP probe. */
const sourcesSql = `INSERT INTO tcp_sources (id, host, instance, probe)
  SELECT h + 1, 'host-' || lpad(h::text, 3, '0'), md5('host-' || h)::uuid, 'tcp_set_state' FROM generate_series(0, ${HOSTS - 1}) h`;
/** A row's owner k from a uniform draw (see OWNERS); -1: none. */
const ownerK = (r) => `CASE WHEN ${r} < 0.05 THEN -1 WHEN ${r} < 0.525 THEN 0 WHEN ${r} < 0.7625 THEN 1 WHEN ${r} < 0.8575 THEN 2
  WHEN ${r} < 0.9525 THEN 3 + floor((${r} - 0.8575) / 0.095 * 7)::int ELSE 10 + floor((${r} - 0.9525) / 0.0475 * 40)::int END`;

/**
 * Rows lo..hi: 100 hosts with a skew (host-000 busiest), one agent instance per host, times uniform
 * over a week, 30 % server-side sockets (service port as sport), ephemeral ports 32768–60999; 30 %
 * IPv6 (saddr fd00:0:<host>::<n>, daddr 2001:db8:<a>::<b>), the rest IPv4 (10.1.<host>.<n> →
 * 10.2.<a>.<b>); ctx bits as the kernel gives them (softirq for a third of the rows); sources and
 * owners from the dictionaries (sourcesSql, ownersSql).
 */
const fillSql = (lo, hi) => `
  INSERT INTO tcp_transitions (id, host, source_id, seq, time, time_ns, mono_ns, cpu, pid, comm, ctx, skaddr, family, saddr, daddr,
                               sport, dport, old_state, new_state, ms_in_old_state, owner_id, attribution)
  SELECT g, 'host-' || lpad(h::text, 3, '0'), h + 1, g,
         timestamptz '${DAY} 00:00:00+00' + r6 * interval '${DAYS * 86400} seconds', (g % 1000)::smallint, g::bigint * 1000,
         (g % 2)::smallint, 1000 + g % 5000, 'nginx', CASE WHEN st IN (2, 4, 7) THEN 8 ELSE 0 END,
         -123349791571968 + (g % 1048576) * 256, CASE WHEN v6 THEN 'AF_INET6' ELSE 'AF_INET' END::address_family,
         CASE WHEN v6 THEN ('fd00:0:' || to_hex(h) || '::' || to_hex(g % 250 + 1))::inet ELSE ('10.1.' || h || '.' || (g % 250 + 1))::inet END,
         CASE WHEN v6 THEN ('2001:db8:' || to_hex(g * 7 % 250) || '::' || to_hex(g * 13 % 250 + 1))::inet
              ELSE ('10.2.' || (g * 7 % 250) || '.' || (g * 13 % 250 + 1))::inet END,
         CASE WHEN r5 < 0.3 THEN svc ELSE eph END, CASE WHEN r5 < 0.3 THEN eph ELSE svc END,
         (${sqlArray(PAIRS.map((p) => p[0]))})[st]::tcp_state, (${sqlArray(PAIRS.map((p) => p[1]))})[st]::tcp_state,
         CASE WHEN st IN (1, 6) THEN NULL ELSE r4 * 2000 END,
         CASE WHEN ok >= 0 THEN h * ${OWNERS} + ok + 1 END, CASE WHEN ok < 0 THEN 'unknown' WHEN st IN (1, 3, 9) THEN 'direct' ELSE 'socket' END::attribution
    FROM (SELECT *, ${ownerK('r7')} AS ok FROM (SELECT g, floor(${HOSTS} * power(random(), 1.5))::int AS h, 1 + floor(random() * ${PAIRS.length})::int AS st,
                 (${sqlArray(SERVICE_PORTS)})[1 + floor(random() * ${SERVICE_PORTS.length})::int] AS svc,
                 32768 + floor(random() * 28232)::int AS eph, random() AS r4, random() AS r5, random() AS r6, random() < 0.3 AS v6, random() AS r7
            FROM generate_series(${lo}, ${hi}) g) x0) x`;

/**
 * 30 days of rollups for the same fleet: per host, hour and (old, new, service port) the counts of
 * a host serving its own port and calling three others (every pair of PAIRS each hour), and per
 * minute one port per pair for the last 7 days (a 1m bucket spans at most 10000 buckets, ~7 days).
 */
const rollupSql = (resolution, from, to, ports) => `
  INSERT INTO tcp_rollups (resolution, bucket, host, old_state, new_state, service_port, count)
  SELECT ${resolution}, b, 'host-' || lpad(h::text, 3, '0'), (${sqlArray(PAIRS.map((p) => p[0]))})[st]::tcp_state,
         (${sqlArray(PAIRS.map((p) => p[1]))})[st]::tcp_state, (${sqlArray(ROLLUP_PORTS)})[1 + (h + k) % ${ROLLUP_PORTS.length}],
         1 + floor(random() * 50)::int
    FROM generate_series(timestamptz '${from}', timestamptz '${to}' - interval '${resolution} seconds', interval '${resolution} seconds') b,
         generate_series(0, ${ROLLUP_HOSTS - 1}) h, generate_series(1, ${PAIRS.length}) st, generate_series(0, ${ports - 1}) k`;
const ROLLUP_PORTS = [443, 80, 5432, 6379, 8080, 9092, 22, 3306]; // distinct: one rollup row per port
const ROLLUP_END = new Date(Date.parse(`${DAY}T00:00:00Z`) + DAYS * 86400_000).toISOString();

const STATES = ['TCP_ESTABLISHED', 'TCP_ESTABLISHED', 'TCP_SYN_SENT', 'TCP_CLOSE', 'TCP_FIN_WAIT1', 'TCP_CLOSE_WAIT', 'TCP_LAST_ACK'];
const PORTS = [443, 80, 5432, 6379, 8080, 22];
const hourIn = (r, days) => new Date(Date.parse(`${DAY}T00:00:00Z`) + Math.floor(r() * (days * 24 - 1)) * 3600_000);
/** The filter shapes measured; parameters drawn at random, rare combinations included (they scan the most). */
const SHAPES = {
  'host+port+newState': (r) => ({ host: host(r), port: pick(r, PORTS), newState: pick(r, STATES) }),
  host: (r) => ({ host: host(r) }),
  'port+newState': (r) => ({ port: pick(r, PORTS), newState: pick(r, STATES) }),
  'newState+1h window': (r) => {
    const from = hourIn(r, DAYS);
    return { newState: pick(r, STATES), from: from.toISOString(), to: new Date(from.getTime() + 3600_000).toISOString() };
  },
  // One host's IPv4 sources (~1 % of rows for an average host).
  'saddr /24 (IPv4)': (r) => ({ saddr: `10.1.${Math.floor(r() * HOSTS)}.0/24` }),
  'saddr exact (IPv4)': (r) => ({ saddr: `10.1.${Math.floor(r() * HOSTS)}.${1 + Math.floor(r() * 250)}` }),
  // 1/250 of the IPv4 destinations.
  'daddr /24 (IPv4)': (r) => ({ daddr: `10.2.${Math.floor(r() * 250)}.0/24` }),
  // Every IPv4 destination (70 % of rows).
  'daddr /16 (IPv4, broad)': () => ({ daddr: '10.2.0.0/16' }),
  // One host's IPv6 sources.
  'saddr /48 (IPv6)': (r) => ({ saddr: `fd00:0:${Math.floor(r() * HOSTS).toString(16)}::/48` }),
  'daddr /48 (IPv6)': (r) => ({ daddr: `2001:db8:${Math.floor(r() * 250).toString(16)}::/48` }),
  // Every IPv6 destination (30 % of rows).
  'daddr /32 (IPv6, broad)': () => ({ daddr: '2001:db8::/32' }),
  'host+daddr /24 (IPv4)': (r) => ({ host: host(r), daddr: `10.2.${Math.floor(r() * 250)}.0/24` }),
  // A client's ephemeral port (a few hundred rows in all): the plain port indexes, not the time order.
  'port (ephemeral)': (r) => ({ port: 32768 + Math.floor(r() * 28232) }),
  'oldState+family': (r) => ({ oldState: pick(r, STATES), family: r() < 0.5 ? 'AF_INET' : 'AF_INET6' }),
  // The socket's owner (issue 15), through the dictionary: a common comm (half the rows), a pod's
  // namespace (10 %), one host's java, and rare owners — a worker's pod by name or uid, a
  // container id prefix, a short-lived process's pid (a few rows in 10k).
  'comm (common)': () => ({ comm: 'nginx' }),
  'namespace': () => ({ namespace: 'batch' }),
  'host+comm': (r) => ({ host: host(r), comm: 'java' }),
  'pod name (rare)': (r) => ({ pod: `python3-${Math.floor(r() * HOSTS)}-${3 + Math.floor(r() * 7)}` }),
  'pod uid (rare)': (r) => ({ pod: podUid(Math.floor(r() * HOSTS), 3 + Math.floor(r() * 7)) }),
  'container prefix (rare)': (r) => ({ container: containerId(Math.floor(r() * HOSTS), 3 + Math.floor(r() * 7)).slice(0, 12) }),
  'pid (short-lived, rare)': (r) => ({ pid: ownerPid(Math.floor(r() * HOSTS), 10 + Math.floor(r() * 40)) }),
  'comm+port': (r) => ({ comm: 'postgres', port: pick(r, PORTS) }),
};
/** Stats shapes: long ranges from the rollups (hour ones for whole hours, minute ones otherwise), one from raw rows. */
const rollupFrom = (days) => new Date(Date.parse(ROLLUP_END) - days * 86400_000).toISOString();
const STATS_SHAPES = {
  'fleet, 30 days, 1h (hour rollups)': () => ({ from: rollupFrom(30), to: ROLLUP_END, bucket: '1h' }),
  'fleet, 30 days, 1d (hour rollups)': () => ({ from: rollupFrom(30), to: ROLLUP_END, bucket: '1d' }),
  'host, 30 days, 1h (hour rollups)': (r) => ({ host: host(r), from: rollupFrom(30), to: ROLLUP_END, bucket: '1h' }),
  'newState, 30 days, 6h (hour rollups)': (r) => ({ newState: pick(r, STATES), from: rollupFrom(30), to: ROLLUP_END, bucket: '6h' }),
  'fleet, 7 days, 15m (minute rollups)': () => ({ from: rollupFrom(7), to: ROLLUP_END, bucket: '15m' }),
  'fleet, 1 day, 1m (minute rollups)': (r) => {
    const from = new Date(Date.parse(rollupFrom(7)) + Math.floor(r() * 6) * 86400_000);
    return { from: from.toISOString(), to: new Date(from.getTime() + 86400_000).toISOString(), bucket: '1m' };
  },
  'host, 7 days, 1h (hour rollups)': (r) => ({ host: host(r), from: rollupFrom(7), to: ROLLUP_END, bucket: '1h' }),
  'port, 1 hour, 1m (raw rows)': (r) => {
    const from = hourIn(r, DAYS);
    return { port: pick(r, PORTS), from: from.toISOString(), to: new Date(from.getTime() + 3600_000).toISOString(), bucket: '1m' };
  },
};
const pick = (r, xs) => xs[Math.floor(r() * xs.length)];
const md5 = (s) => require('node:crypto').createHash('md5').update(s).digest('hex');
const podUid = (h, k) => md5(`pod${h}/${k}`).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
const containerId = (h, k) => md5(`c${h}/${k}`) + md5(`d${h}/${k}`);
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

/** The API's own SQL for a request (the built transitionsSql / statsSql), EXPLAIN ANALYZEd and summarised. */
async function explain(pg, params, kind = 'transitions') {
  let sql;
  if (kind === 'transitions') {
    const { TransitionsQuery, transitionsSql } = require(join(root, 'apps/aggregator/dist/api/transitions.service.js'));
    const { hasOwnerFilter, ownerIdsSql } = require(join(root, 'apps/aggregator/dist/api/owner-fields.js'));
    const q = TransitionsQuery.parse(params);
    // The owners first, as the API resolves them (resolveOwners).
    if (hasOwnerFilter(q)) {
      const o = ownerIdsSql(q);
      q.ownerIds = (await pg.query(o.text, o.values)).rows.map((r) => r.id);
    }
    sql = transitionsSql(q);
  } else {
    const { StatsQuery, statsSql } = require(join(root, 'apps/aggregator/dist/api/stats.service.js'));
    sql = statsSql(StatsQuery.parse(params)).sql;
  }
  const values = sql.values.map((v) => (typeof v === 'bigint' ? String(v) : v));
  const [plan] = (await pg.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql.text}`, values)).rows[0]['QUERY PLAN'];
  const nodes = [];
  const walk = (n) => { nodes.push(n); (n.Plans ?? []).forEach(walk); };
  walk(plan.Plan);
  // Partitions repeat the same nodes: each distinct node once, in plan order, with its count.
  const names = nodes.map((n) => n['Node Type'] + (n['Index Name'] ? ` on ${n['Index Name'].replace(/_p\d{6,8}_/, '_p*_')}` : (n['Relation Name'] ? ` on ${n['Relation Name'].replace(/_p\d{6,8}$/, '_p*')}` : '')));
  const summary = [];
  for (const n of names) {
    const seen = summary.find((x) => x.name === n);
    if (seen) seen.n++;
    else summary.push({ name: n, n: 1 });
  }
  return {
    nodes: summary.map((x) => (x.n > 1 ? `${x.name} ×${x.n}` : x.name)),
    rowsRemovedByFilter: nodes.reduce((acc, n) => acc + (n['Rows Removed by Filter'] ?? 0), 0),
    sharedBlocksHit: plan.Plan['Shared Hit Blocks'], sharedBlocksRead: plan.Plan['Shared Read Blocks'],
    executionMs: round(plan['Execution Time'], 2),
  };
}

const query = (params) => new URLSearchParams(Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])));

/** Transitions: first and second page per shape; the slowest request of each shape explained. */
async function measure(api, pg, shapes = SHAPES) {
  const out = {};
  for (const [shape, params] of Object.entries(shapes)) {
    const r = prng(shape.length * 7919);
    const first = [];
    const second = [];
    let full = 0;
    let slowest = { ms: 0 };
    for (let i = -20; i < QUERIES; i++) { // 20 warm-up requests per shape: JIT, plans, caches
      const q = query({ ...params(r), limit: 100 });
      const a = await timedGet(`${api}/api/v1/transitions?${q}`);
      if (i < 0) continue;
      first.push(a.ms);
      if (a.ms > slowest.ms) slowest = { ms: a.ms, page: 1, params: Object.fromEntries(q) };
      if (a.body.items.length === 100) full++;
      if (a.body.nextCursor) {
        q.set('cursor', a.body.nextCursor);
        const b = await timedGet(`${api}/api/v1/transitions?${q}`);
        second.push(b.ms);
        if (b.ms > slowest.ms) slowest = { ms: b.ms, page: 2, params: Object.fromEntries(q) };
      }
    }
    out[shape] = { firstPage: stats(first), secondPage: stats(second), fullFirstPages: full, slowest: { ...slowest, ms: round(slowest.ms, 2) } };
    log(`    ${shape}: first page p50 ${out[shape].firstPage.p50} ms p99 ${out[shape].firstPage.p99} ms; second page p50 ${out[shape].secondPage.p50} ms p99 ${out[shape].secondPage.p99} ms`);
  }
  // Explained after the timed requests, so it warms nothing for them.
  for (const l of Object.values(out)) l.slowest.plan = await explain(pg, l.slowest.params);
  return out;
}

/** Stats: each shape's latency and which source answered, its slowest request explained. */
async function measureStats(api, pg) {
  const { StatsQuery, statsSql } = require(join(root, 'apps/aggregator/dist/api/stats.service.js'));
  const out = {};
  for (const [shape, params] of Object.entries(STATS_SHAPES)) {
    const r = prng(shape.length * 104729);
    const ms = [];
    let slowest = { ms: 0 };
    let items = 0;
    for (let i = -3; i < STATS_QUERIES; i++) {
      const q = query(params(r));
      const a = await timedGet(`${api}/api/v1/stats/transitions?${q}`);
      if (i < 0) continue;
      ms.push(a.ms);
      items = Math.max(items, a.body.items.length);
      if (a.ms > slowest.ms) slowest = { ms: a.ms, params: Object.fromEntries(q) };
    }
    const source = statsSql(StatsQuery.parse(slowest.params)).source;
    out[shape] = { source, latency: stats(ms), maxItems: items, slowest: { ...slowest, ms: round(slowest.ms, 2) } };
    log(`    stats ${shape} (${source}): p50 ${out[shape].latency.p50} ms p99 ${out[shape].latency.p99} ms, up to ${items} items`);
  }
  for (const l of Object.values(out)) l.slowest.plan = await explain(pg, l.slowest.params, 'stats');
  return out;
}

/**
 * Indexes that are not in the migration, timed on the bench DB only (then dropped): each with the
 * shapes it is meant for, measured again with it in place.
 */
const CANDIDATE_INDEXES = [
  // None at the moment: the earlier ones ((host, new_state, time, id), (new_state, time, id)) lost to
  // the migration's set (bench/results/query.json of 2026-12-02 09:23 and its successor's notes).
];

async function measureCandidates(api, pg) {
  const out = [];
  for (const c of CANDIDATE_INDEXES) {
    const t0 = performance.now();
    await pg.query(c.def);
    await pg.query('ANALYZE tcp_transitions');
    const buildSeconds = round((performance.now() - t0) / 1000);
    const bytes = (await pg.query(`SELECT sum(pg_relation_size(i.indexrelid))::bigint AS b FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                                     WHERE c.relname LIKE $1`, [`%${c.name.slice(6, 40)}%`])).rows[0].b;
    log(`  candidate ${c.def} (${buildSeconds} s)`);
    const latency = await measure(api, pg, Object.fromEntries(c.shapes.map((k) => [k, SHAPES[k]])));
    await pg.query(`DROP INDEX ${c.name}`);
    out.push({ index: c.def, buildSeconds, indexMB: Math.round(Number(bytes ?? 0) / 2 ** 20), latencyMs: latency });
  }
  return out;
}

const overTarget = (latencyMs) => Object.entries(latencyMs)
  .filter(([, l]) => l.firstPage.p99 >= TARGET_P99_MS || (l.secondPage.p99 ?? 0) >= TARGET_P99_MS).map(([k]) => k);

/** Per size: which shapes miss the target and why (their slowest request's plan). */
function notes(sizes, statsResult, candidates) {
  const out = sizes.map((s) => {
    const over = overTarget(s.latencyMs);
    const why = over.map((k) => {
      const { slowest } = s.latencyMs[k];
      const p = slowest.plan;
      const stall = p.executionMs < slowest.ms / 5 ? ' (PostgreSQL needs only that when run again: the outlier was the shared machine, not the query)' : '';
      return `${k}: slowest ${slowest.ms} ms (page ${slowest.page}, ${JSON.stringify(slowest.params)}), plan ${p.nodes.join(' → ')}, ${p.rowsRemovedByFilter} rows filtered out, ${p.executionMs} ms in PostgreSQL${stall}`;
    });
    return `${s.rows.toLocaleString('en-US')} rows: p99 at or over ${TARGET_P99_MS} ms for ${over.length ? over.join(', ') : 'no shape'}.${why.length ? ` ${why.join('. ')}.` : ''}`;
  });
  if (statsResult) {
    const slow = Object.entries(statsResult.latencyMs).filter(([, l]) => l.latency.p99 >= STATS_TARGET_P99_MS);
    out.push(`stats (${statsResult.rollupRows.toLocaleString('en-US')} rollup rows: ${statsResult.hourRows.toLocaleString('en-US')} hour, ${statsResult.minuteRows.toLocaleString('en-US')} minute): p99 at or over ${STATS_TARGET_P99_MS} ms for ${slow.length ? slow.map(([k, l]) => `${k} (${l.latency.p99} ms; ${l.slowest.plan.nodes.join(' → ')}, ${l.slowest.plan.executionMs} ms in PostgreSQL)`).join(', ') : 'no shape'}.`);
  }
  for (const c of candidates ?? []) {
    const shapes = Object.entries(c.latencyMs).map(([k, l]) => `${k} first page p99 ${l.firstPage.p99} ms, second ${l.secondPage.p99} ms (${l.slowest.plan.nodes.join(' → ')})`);
    out.push(`candidate ${c.index} (${c.indexMB} MB, built in ${c.buildSeconds} s at the largest size): ${shapes.join('; ')}.`);
  }
  return out;
}

/** The day partitions for the transitions and the month ones for the rollups, as the aggregator makes them. */
async function partitions(pg) {
  for (let d = 0; d < DAYS; d++) await pg.query(`SELECT probefleet_partition('tcp_transitions', $1)`, [new Date(Date.parse(`${DAY}T00:00:00Z`) + d * 86400_000)]);
  for (let d = 0; d <= ROLLUP_DAYS; d += 1) await pg.query(`SELECT probefleet_partition('tcp_rollups', $1)`, [new Date(Date.parse(ROLLUP_END) - d * 86400_000)]);
}

/** 30 days of hour rollups and 7 of minute ones, keys built after the fill. */
async function fillRollups(pg) {
  const t0 = performance.now();
  const keys = (await pg.query(`SELECT indexname, replace(indexdef, ' ON ONLY ', ' ON ') AS indexdef FROM pg_indexes WHERE tablename = 'tcp_rollups'`)).rows;
  await pg.query('ALTER TABLE tcp_rollups DROP CONSTRAINT tcp_rollups_pkey');
  for (const { indexname } of keys.filter((k) => k.indexname !== 'tcp_rollups_pkey')) await pg.query(`DROP INDEX ${indexname}`);
  await pg.query(rollupSql(3600, rollupFrom(ROLLUP_DAYS), ROLLUP_END, 4));
  for (let day = 7; day > 0; day--) await pg.query(rollupSql(60, rollupFrom(day), rollupFrom(day - 1), 1));
  await pg.query(`ALTER TABLE tcp_rollups ADD CONSTRAINT tcp_rollups_pkey PRIMARY KEY (host, resolution, bucket, old_state, new_state, service_port)`);
  for (const { indexdef } of keys.filter((k) => k.indexname !== 'tcp_rollups_pkey')) await pg.query(indexdef);
  // The fleet rollups: what Rollups keeps beside the host rows, the same counts summed over hosts and ports.
  await pg.query(`INSERT INTO tcp_rollups_fleet (resolution, bucket, old_state, new_state, count)
                  SELECT resolution, bucket, old_state, new_state, sum(count) FROM tcp_rollups GROUP BY 1, 2, 3, 4`);
  await pg.query('ANALYZE tcp_rollups');
  await pg.query('ANALYZE tcp_rollups_fleet');
  const counts = (await pg.query(`SELECT count(*) FILTER (WHERE resolution = 3600)::int AS hour, count(*) FILTER (WHERE resolution = 60)::int AS minute,
                                         pg_total_relation_size('tcp_rollups_p202611') + pg_total_relation_size('tcp_rollups_p202612') AS bytes FROM tcp_rollups`)).rows[0];
  const fleet = (await pg.query(`SELECT count(*)::int AS n, pg_total_relation_size('tcp_rollups_fleet_p202611') + pg_total_relation_size('tcp_rollups_fleet_p202612') AS bytes
                                   FROM tcp_rollups_fleet`)).rows[0];
  log(`rollups: ${counts.hour} hour rows, ${counts.minute} minute rows, ${fleet.n} fleet rows in ${Math.round((performance.now() - t0) / 1000)} s`);
  return { hourRows: counts.hour, minuteRows: counts.minute, rollupRows: counts.hour + counts.minute, rollupMB: Math.round(Number(counts.bytes) / 2 ** 20),
    fleetRows: fleet.n, fleetMB: round(Number(fleet.bytes) / 2 ** 20), fillSeconds: round((performance.now() - t0) / 1000) };
}

await main(async () => {
  await preflight({ kafka: false });
  const started = performance.now();
  const db = await createBenchDb('query');
  const pg = await connectDb(db);
  await partitions(pg);
  await pg.query(sourcesSql);
  await pg.query(ownersSql);
  await pg.query('ANALYZE tcp_owners');
  // Indexes are built once per size after the fill (much faster than maintaining them row by row);
  // their definitions come from the migration, so they are exactly the production ones (the
  // partitioned parent's definitions; PostgreSQL creates each partition's own).
  // pg_indexes prints a partitioned index as CREATE INDEX ... ON ONLY parent, which would not recurse.
  const indexes = (await pg.query(`SELECT indexname, replace(indexdef, ' ON ONLY ', ' ON ') AS indexdef FROM pg_indexes
                                    WHERE tablename = 'tcp_transitions' AND indexname <> 'tcp_transitions_pkey'`)).rows;
  // The primary key too (it is the host-leading index), added back after the fill.
  const [{ def: pkey }] = (await pg.query(`SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = 'tcp_transitions_pkey'`)).rows;
  // Its week of partitions has ended, and its indexes are built packed after each fill: sealing
  // (store/seals.ts) would only REINDEX them again under the fill, so its grace is set past them.
  const server = await startAggregator({ DATABASE_URL: db.url, CONSUMER_ENABLED: 'false', PARTITION_SEAL_AFTER_HOURS: String(24 * 366) });
  const fillDeadline = performance.now() + FILL_BUDGET_S * 1000;
  const sizes = [];
  let rows = 0;
  for (const target of SIZES) {
    const t0 = performance.now();
    for (const { indexname } of indexes) await pg.query(`DROP INDEX IF EXISTS ${indexname}`);
    await pg.query('ALTER TABLE tcp_transitions DROP CONSTRAINT IF EXISTS tcp_transitions_pkey');
    while (rows < target && performance.now() < fillDeadline) {
      const hi = Math.min(rows + CHUNK, target);
      await pg.query(fillSql(rows + 1, hi));
      rows = hi;
      log(`  filled ${rows.toLocaleString('en-US')} rows (${Math.round((performance.now() - t0) / 1000)} s)`);
    }
    const fillSeconds = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    await pg.query(`SET maintenance_work_mem = '256MB'`);
    await pg.query(`ALTER TABLE tcp_transitions ADD CONSTRAINT tcp_transitions_pkey ${pkey}`);
    for (const { indexdef } of indexes) await pg.query(indexdef);
    await pg.query('ANALYZE tcp_transitions');
    // Every partition (the bench's days and those the aggregator made ahead) has every index.
    const { n: partitionIndexes, partitions: partitionCount } = (await pg.query(`SELECT count(i.indexrelid)::int AS n, count(DISTINCT h.inhrelid)::int AS partitions
                                       FROM pg_inherits h LEFT JOIN pg_index i ON i.indrelid = h.inhrelid WHERE h.inhparent = 'tcp_transitions'::regclass`)).rows[0];
    if (partitionIndexes !== partitionCount * (indexes.length + 1)) throw new Error(`expected ${indexes.length + 1} indexes on each of ${partitionCount} partitions, found ${partitionIndexes} in all`);
    const indexSeconds = (performance.now() - t1) / 1000;
    const size = (await pg.query(`SELECT sum(pg_total_relation_size(inhrelid))::bigint AS bytes, sum(pg_relation_size(inhrelid))::bigint AS heap
                                    FROM pg_inherits WHERE inhparent = 'tcp_transitions'::regclass`)).rows[0];
    // Each index of the parent, its partitions' sizes summed, per row.
    const indexBytes = (await pg.query(`SELECT p.relname AS name, sum(pg_relation_size(c.indexrelid))::bigint AS bytes
                                          FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent JOIN pg_index c ON c.indexrelid = i.inhrelid
                                         WHERE p.relkind = 'I' AND c.indrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'tcp_transitions'::regclass)
                                         GROUP BY p.relname ORDER BY p.relname`)).rows;
    const indexBytesPerRow = Object.fromEntries(indexBytes.map((x) => [x.name, round(Number(x.bytes) / rows, 1)]));
    const indexTotal = round(indexBytes.reduce((n, x) => n + Number(x.bytes), 0) / rows, 1);
    log(`index bytes per row: ${JSON.stringify(indexBytesPerRow)}, ${indexTotal} in all; heap ${round(Number(size.heap) / rows, 1)}`);
    log(`${rows.toLocaleString('en-US')} rows: filled in ${fillSeconds.toFixed(0)} s, indexes + ANALYZE in ${indexSeconds.toFixed(0)} s; measuring`);
    sizes.push({
      rows,
      complete: rows >= target,
      fillSeconds: round(fillSeconds),
      indexSeconds: round(indexSeconds),
      tableMB: Math.round(Number(size.bytes) / 2 ** 20),
      heapBytesPerRow: round(Number(size.heap) / rows, 1),
      indexBytesPerRow: { ...indexBytesPerRow, total: indexTotal },
      latencyMs: await measure(server.url, pg),
    });
    if (rows < target) {
      log(`fill budget of ${FILL_BUDGET_S} s spent at ${rows} rows (target ${target}): measured what was filled`);
      break;
    }
  }
  const candidates = CANDIDATES ? await measureCandidates(server.url, pg) : [];
  const rollups = await fillRollups(pg);
  const statsResult = { ...rollups, latencyMs: await measureStats(server.url, pg) };
  const worstP99 = Math.max(...sizes.flatMap((s) => Object.values(s.latencyMs).flatMap((l) => [l.firstPage.p99, l.secondPage.p99 ?? 0])));
  const worstStatsP99 = Math.max(...Object.values(statsResult.latencyMs).map((l) => l.latency.p99));
  const code = codeVersion();
  const m = machine();
  m.postgres = await postgresVersion();
  const result = {
    name: 'query',
    endpoint: 'GET /api/v1/transitions (limit=100, order=desc; second page via nextCursor) and GET /api/v1/stats/transitions',
    layout: `store v2: tcp_transitions in ${DAYS} day partitions (${HOSTS} hosts), tcp_rollups over ${ROLLUP_DAYS} days (monthly partitions, ${ROLLUP_HOSTS} hosts)`,
    queriesPerShape: QUERIES,
    statsQueriesPerShape: STATS_QUERIES,
    sizes,
    stats: statsResult,
    candidateIndexes: candidates,
    target: {
      p99Ms: TARGET_P99_MS, worstP99Ms: worstP99, met: worstP99 < TARGET_P99_MS && sizes.every((s) => s.complete),
      statsP99Ms: STATS_TARGET_P99_MS, worstStatsP99Ms: worstStatsP99, statsMet: worstStatsP99 < STATS_TARGET_P99_MS,
    },
    notes: notes(sizes, statsResult, candidates),
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
