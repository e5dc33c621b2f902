// Which Kafka client (libs/kafka): for each of KAFKA_CLIENT=kafkajs and platformatic, on the Node that
// runs this file (run it on Node 24: `PATH="$(bash scripts/node24.sh):$PATH" node bench/kafka-clients.bench.mjs`),
//   1. the delivery, fault and chaos specs (broker restart, kill -9 of the agent and of the
//      aggregator, PostgreSQL restart on a private cluster, a paused consumer past its session),
//      each test's result and seconds from Jest's JSON report;
//   2. bench/agent-kafka and bench/ingest, the two clients one after the other in each round, so
//      the machine's load falls on both alike; the figures compared as platformatic / kafkajs;
//   3. the choice, by the rule below (CHOICE), from what 1 and 2 measured.
// → bench/results/kafka-clients.json. The two benches' own result files are left as they were.
// Needs the build, root (tracefs) and the local broker (KAFKA_PORT, or KAFKA_BROKERS).
// Knobs: BENCH_ROUNDS (2), BENCH_CLIENTS (kafkajs,platformatic), BENCH_SKIP_TESTS=1, BENCH_SKIP_BENCH=1;
// BENCH_RECHOOSE=1 measures nothing: it applies CHOICE again to the tests and benches of the result file;
// BENCH_NOTE: a note on the run (the machine's state), kept in the result.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codeVersion, log, machine, root, round } from './lib/stack.mjs';

const CLIENTS = (process.env.BENCH_CLIENTS || 'kafkajs,platformatic').split(',');
const ROUNDS = Number(process.env.BENCH_ROUNDS || 2);
const brokers = process.env.KAFKA_BROKERS || `127.0.0.1:${process.env.KAFKA_PORT || 9092}`;
const SPECS = [
  { tier: 'int', config: 'libs/kafka/jest.config.js', file: 'libs/kafka/src/kafka.int.spec.ts' },
  { tier: 'int', config: 'apps/aggregator/jest.config.js', file: 'apps/aggregator/test/consumer.int.spec.ts' },
  { tier: 'e2e', config: 'test/jest.config.js', file: 'test/e2e/agent-kafka.e2e.spec.ts' },
  { tier: 'e2e', config: 'test/jest.config.js', file: 'test/e2e/faults.e2e.spec.ts' },
  { tier: 'e2e', config: 'test/jest.config.js', file: 'test/e2e/pipeline.e2e.spec.ts' },
];
/**
 * The maintained client becomes the default where it runs if it passes every test and is not slower:
 * each speed figure's mean ratio over the rounds within the machine's noise (5%) or better — rates
 * (events/s) >= 0.95, the agent's CPU µs per event <= 1.05 — and its agent bench lost nothing in
 * a round where kafkajs lost nothing (on an overloaded machine the kernel drops events for either
 * client: that is the machine, and the rates say which client kept up better). The agent's RSS is
 * recorded beside them, not ruled on: memory, not speed.
 */
const CHOICE = { noise: 0.05, rates: ['eventsPerSecondDelivered', 'eventsPerSecond', 'publishedEventsPerSecond'], costs: ['agentCpuMicrosPerEvent'] };
const [major, minor] = process.versions.node.split('.').map(Number);
if (CLIENTS.includes('platformatic') && (major < 22 || (major === 22 && minor < 22))) {
  console.error(`kafka-clients: platformatic needs Node >= 22.22, this is ${process.version}: PATH="$(bash scripts/node24.sh):$PATH" node bench/kafka-clients.bench.mjs`);
  process.exit(2);
}
const env = (client, extra = {}) => ({ ...process.env, KAFKA_CLIENT: client, KAFKA_BROKERS: brokers, ...extra });

/** Per client and spec file: Jest's exit and the file's wall seconds. */
const specRuns = [];
function runTests(client) {
  const rows = [];
  for (const spec of SPECS) {
    const t0 = Date.now();
    const dir = mkdtempSync(join(tmpdir(), 'kafka-clients-'));
    const report = join(dir, 'report.json');
    log(`${client}: ${spec.file}`);
    const run = spawnSync(process.execPath, [join(root, 'node_modules/jest/bin/jest.js'), '--ci', '--json', `--outputFile=${report}`, '--runInBand', '--forceExit', '-c', spec.config, spec.file], {
      cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: env(client, { PROBEFLEET_TEST_TIER: spec.tier }),
    });
    specRuns.push({ client, file: spec.file, jestExit: run.status, seconds: round((Date.now() - t0) / 1000) });
    const r = existsSync(report) ? JSON.parse(readFileSync(report, 'utf8')) : { testResults: [] };
    rmSync(dir, { recursive: true, force: true });
    for (const file of r.testResults) {
      for (const a of file.assertionResults) {
        rows.push({ client, test: `${spec.file}: ${a.fullName}`, result: a.status === 'pending' ? 'skipped' : a.status, seconds: round((a.duration ?? 0) / 1000), ...(a.status === 'failed' ? { error: a.failureMessages.join('\n').split('\n').slice(0, 3).join(' ').slice(0, 400) } : {}) });
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

const RESULT = join(root, 'bench/results/kafka-clients.json');
const rechoose = process.env.BENCH_RECHOOSE === '1';
const stored = rechoose ? JSON.parse(readFileSync(RESULT, 'utf8')) : undefined;
if (stored) specRuns.push(...stored.specRuns);
const tests = stored ? stored.tests : process.env.BENCH_SKIP_TESTS === '1' ? [] : CLIENTS.flatMap(runTests);
const benches = stored ? stored.benches : [];
if (!stored && process.env.BENCH_SKIP_BENCH !== '1') {
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
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Per bench and figure: the mean platformatic / kafkajs ratio over the rounds, and whether it is within the rule. */
const verdicts = [...new Set(ratios.map((r) => r.bench))].flatMap((bench) =>
  [...CHOICE.rates, ...CHOICE.costs].flatMap((figure) => {
    const xs = ratios.filter((r) => r.bench === bench && typeof r[`${figure}Ratio`] === 'number').map((r) => r[`${figure}Ratio`]);
    if (xs.length === 0) return [];
    const m = round(mean(xs), 3);
    return [{ bench, figure, meanRatio: m, rounds: xs.length, notSlower: CHOICE.rates.includes(figure) ? m >= 1 - CHOICE.noise : m <= 1 + CHOICE.noise }];
  }),
);
const passedAll = (c) => tests.some((t) => t.client === c) && tests.filter((t) => t.client === c).every((t) => t.result === 'passed');
const peerOf = (b) => benches.find((k) => k.client === 'kafkajs' && k.bench === b.bench && k.round === b.round);
const benchesRan =
  benches.some((b) => b.client === 'platformatic' && !b.failed) &&
  benches.filter((b) => b.client === 'platformatic').every((b) => !b.failed && (b.zeroLoss !== false || peerOf(b)?.zeroLoss === false));
const platformaticWins = passedAll('platformatic') && benchesRan && verdicts.length > 0 && verdicts.every((v) => v.notSlower);
const result = {
  name: 'kafka-clients',
  node: process.version,
  tests,
  specRuns,
  summary: Object.fromEntries(CLIENTS.map((c) => [c, Object.fromEntries(['passed', 'failed', 'skipped'].map((s) => [s, tests.filter((t) => t.client === c && t.result.startsWith(s)).length]))])),
  benches,
  ratios,
  choice: {
    rule: `platformatic passes every test, each speed figure's mean ratio is within ${CHOICE.noise * 100}% or better (rates >= ${1 - CHOICE.noise}, agent CPU per event <= ${1 + CHOICE.noise}), and its agent bench loses nothing where kafkajs's loses nothing`,
    verdicts,
    platformaticPassesAll: passedAll('platformatic'),
    kafkajsPassesAll: passedAll('kafkajs'),
    platformaticMeetsRule: platformaticWins,
  },
  code: stored ? stored.code : codeVersion(),
  machine: stored ? stored.machine : machine(),
  date: stored ? stored.date : new Date().toISOString(),
  ...((process.env.BENCH_NOTE ?? stored?.note) ? { note: process.env.BENCH_NOTE ?? stored.note } : {}),
  ...(stored ? { chosenAgain: { at: new Date().toISOString(), code: codeVersion() } } : {}),
};
writeFileSync(RESULT, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify({ summary: result.summary, ratios, choice: result.choice }, null, 2));
