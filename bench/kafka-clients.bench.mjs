// Which Kafka client (libs/kafka): for each of KAFKA_CLIENT=kafkajs and platformatic, on the Node that
// runs this file (run it on Node 24: `PATH="$(bash scripts/node24.sh):$PATH" node bench/kafka-clients.bench.mjs`),
//   1. the delivery and fault specs, each test's result from Jest's JSON report;
//   2. bench/agent-kafka and bench/ingest, the two clients one after the other in each round, so
//      the machine's load falls on both alike; the figures compared as platformatic / kafkajs.
// → bench/results/kafka-clients.json. The two benches' own result files are left as they were.
// Tests that restart the machine's PostgreSQL are left out unless BENCH_PG_RESTART=1 (others share it).
// Knobs: BENCH_ROUNDS (1), BENCH_CLIENTS (kafkajs,platformatic), BENCH_SKIP_TESTS=1, BENCH_SKIP_BENCH=1.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codeVersion, log, machine, root, round } from './lib/stack.mjs';

const CLIENTS = (process.env.BENCH_CLIENTS || 'kafkajs,platformatic').split(',');
const ROUNDS = Number(process.env.BENCH_ROUNDS || 1);
const brokers = process.env.KAFKA_BROKERS || `127.0.0.1:${process.env.KAFKA_PORT || 9092}`;
const SPECS = [
  { tier: 'int', config: 'libs/kafka/jest.config.js', file: 'libs/kafka/src/kafka.int.spec.ts' },
  { tier: 'int', config: 'apps/aggregator/jest.config.js', file: 'apps/aggregator/test/consumer.int.spec.ts' },
  { tier: 'e2e', config: 'test/jest.config.js', file: 'test/e2e/agent-kafka.e2e.spec.ts' },
  { tier: 'e2e', config: 'test/jest.config.js', file: 'test/e2e/faults.e2e.spec.ts' },
];
const env = (client, extra = {}) => ({ ...process.env, KAFKA_CLIENT: client, KAFKA_BROKERS: brokers, ...extra });

function runTests(client) {
  const rows = [];
  for (const spec of SPECS) {
    const dir = mkdtempSync(join(tmpdir(), 'kafka-clients-'));
    const report = join(dir, 'report.json');
    const skipPg = process.env.BENCH_PG_RESTART === '1' ? [] : ['-t', '^(?!.*PostgreSQL restart).*$'];
    log(`${client}: ${spec.file}`);
    const run = spawnSync(process.execPath, [join(root, 'node_modules/jest/bin/jest.js'), '--ci', '--json', `--outputFile=${report}`, '--runInBand', '--forceExit', ...skipPg, '-c', spec.config, spec.file], {
      cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: env(client, { PROBEFLEET_TEST_TIER: spec.tier }),
    });
    const r = existsSync(report) ? JSON.parse(readFileSync(report, 'utf8')) : { testResults: [] };
    rmSync(dir, { recursive: true, force: true });
    for (const file of r.testResults) {
      for (const a of file.assertionResults) {
        rows.push({ client, test: `${spec.file}: ${a.fullName}`, result: a.status === 'pending' ? 'skipped (restarts the shared PostgreSQL)' : a.status, seconds: round((a.duration ?? 0) / 1000) });
      }
    }
    if (run.status !== 0 && !rows.some((x) => x.client === client && x.test.startsWith(spec.file) && x.result === 'failed')) rows.push({ client, test: spec.file, result: `failed (jest exit ${run.status})` });
  }
  return rows;
}

/** Runs one bench with `client`, returns its result JSON (the bench's own file restored afterwards by the caller). */
function runBench(name, client) {
  log(`${client}: bench/${name}.bench.mjs`);
  const run = spawnSync(process.execPath, [join(root, `bench/${name}.bench.mjs`)], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: env(client) });
  if (run.status !== 0) return { failed: `exit ${run.status}` };
  return JSON.parse(readFileSync(join(root, `bench/results/${name}.json`), 'utf8'));
}

const FIGURES = {
  'agent-kafka': (r) => ({ eventsPerSecondDelivered: r.eventsPerSecondDelivered, agentCpuMicrosPerEvent: r.agentCpuMicrosPerEvent, agentRssMbSteady: r.agentRssMbSteady, zeroLoss: r.zeroLoss }),
  ingest: (r) => ({ eventsPerSecond: r.eventsPerSecond, eventsPerSecondByMembers: r.runs?.map((x) => x.eventsPerSecond), publishedEventsPerSecond: r.simulator?.publishedEventsPerSecond }),
};

const tests = process.env.BENCH_SKIP_TESTS === '1' ? [] : CLIENTS.flatMap(runTests);
const benches = [];
if (process.env.BENCH_SKIP_BENCH !== '1') {
  const kept = Object.fromEntries(Object.keys(FIGURES).map((n) => [n, readFileSync(join(root, `bench/results/${n}.json`), 'utf8')]));
  try {
    for (let round_ = 1; round_ <= ROUNDS; round_++) {
      for (const name of Object.keys(FIGURES)) {
        for (const client of CLIENTS) {
          const r = runBench(name, client);
          benches.push({ round: round_, bench: name, client, ...(r.failed ? { failed: r.failed } : FIGURES[name](r)) });
        }
      }
    }
  } finally {
    for (const [n, text] of Object.entries(kept)) writeFileSync(join(root, `bench/results/${n}.json`), text);
  }
}

/** platformatic / kafkajs for each figure, per round (the same run, the same load). */
const ratios = benches.filter((b) => b.client === 'platformatic' && !b.failed).map((p) => {
  const k = benches.find((b) => b.client === 'kafkajs' && b.bench === p.bench && b.round === p.round && !b.failed);
  const out = { round: p.round, bench: p.bench };
  for (const [key, v] of Object.entries(p)) if (typeof v === 'number' && k && typeof k[key] === 'number' && k[key] !== 0 && key !== 'round') out[`${key}Ratio`] = round(v / k[key], 3);
  return out;
});
const result = {
  name: 'kafka-clients',
  node: process.version,
  tests,
  summary: Object.fromEntries(CLIENTS.map((c) => [c, Object.fromEntries(['passed', 'failed', 'skipped'].map((s) => [s, tests.filter((t) => t.client === c && t.result.startsWith(s)).length]))])),
  benches,
  ratios,
  code: codeVersion(),
  machine: machine(),
  date: new Date().toISOString(),
};
writeFileSync(join(root, 'bench/results/kafka-clients.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify({ summary: result.summary, ratios }, null, 2));
