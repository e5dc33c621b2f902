// Trace line parser throughput on the recorded traces (test/fixtures/traces).
// Run after `npm run build`: node bench/parser.bench.mjs → bench/results/parser.json
import { createRequire } from 'node:module';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { parseTraceLine } = require('@probefleet/tracefs');

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'test/fixtures/traces');
const lines = readdirSync(dir)
  .filter((f) => f.endsWith('.txt') && !/^(error_log|kprobe_events|kprobe_profile)/.test(f))
  .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n'))
  .filter((l) => l.length > 0 && !l.trimStart().startsWith('#'));

function run(rounds) {
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < lines.length; i++) sink += parseTraceLine(lines[i]).pid;
  }
  const ns = Number(process.hrtime.bigint() - t0);
  return { ns, sink };
}

run(200); // warm-up: let the JIT settle
// Best of several trials: on a shared machine the slow ones measure the neighbours.
const rounds = 1000;
const total = rounds * lines.length;
const trials = [];
let sink = 0;
for (let t = 0; t < 5; t++) {
  const r = run(rounds);
  sink += r.sink;
  trials.push(Math.round(total / (r.ns / 1e9)));
}
const result = {
  name: 'parser',
  linesPerSecond: Math.max(...trials),
  lines: total,
  trials,
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version },
  date: new Date().toISOString(),
};
if (sink === 0) throw new Error('parser produced nothing');
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/parser.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(`parser: ${result.linesPerSecond.toLocaleString('en-US')} lines/s over ${total} lines (${lines.length} distinct)`);
