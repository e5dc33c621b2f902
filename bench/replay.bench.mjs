// Replay throughput of probe.hit events through the kprobe model (libs/kprobe-model).
// Run after `npm run build`: node bench/replay.bench.mjs → bench/results/replay.json
// `eventsPerSecond`: NDJSON lines → state (hits read by scanHit, other lines JSON.parse + zod, then
// the model), the path of `probefleet replay`; `modelEventsPerSecond`: decoded events → state (the
// model alone). `loadAverage`: os.loadavg() before and after, since the machine is shared.
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { decodeEvent, scanHit } = require('@probefleet/events');
const { evolve, initialState, replay, snapshot } = require('@probefleet/kprobe-model');

const HOSTS = 8;
const HITS = 200_000;
const PROBE = 'probefleet/tcp_set_state';

/** Realistic interleaved NDJSON: per host one agent registers and arms tcp_set_state, then TCP hits. */
function makeLines() {
  const streams = Array.from({ length: HOSTS }, (_, h) => {
    const hex = h.toString(16).padStart(12, '0');
    return { host: `web-${h}`, bootId: `6c1b2a4e-8f1d-4c7b-9a3e-${hex}`, instance: `0f8e7d6c-5b4a-4392-8170-${hex}`, seq: 0 };
  });
  const line = (s, type, data, extra = {}) => {
    s.seq++;
    const time = `2026-11-25T19:52:${String(s.seq % 60).padStart(2, '0')}.${String(s.seq * 7919).padStart(9, '0').slice(-9)}Z`;
    return JSON.stringify({ v: 1, type, host: s.host, bootId: s.bootId, instance: s.instance, seq: s.seq, time, ...extra, data });
  };
  const lines = [];
  for (const s of streams) {
    lines.push(line(s, 'probe.registered', { probe: PROBE, kind: 'kprobe', symbol: 'tcp_set_state', offset: 0, address: '0xffffffff8206b250', insn: 'f30f1efa' }));
    lines.push(line(s, 'probe.armed', { probe: PROBE }));
  }
  for (let i = 0; i < HITS; i++) {
    const s = streams[i % HOSTS];
    lines.push(
      line(
        s,
        'probe.hit',
        {
          probe: PROBE,
          cpu: i % 4,
          pid: 1000 + (i % 5000),
          comm: 'nginx',
          ctx: { irqsOff: false, needResched: false, hardirq: false, softirq: i % 3 === 0, nmi: false, preemptDepth: 0 },
          args: { skaddr: '0xffff8881234abcd0', family: 'AF_INET', saddr: '10.0.0.1', daddr: '10.0.0.2', sport: 40000 + (i % 20000), dport: 443, oldstate: 'TCP_SYN_SENT', newstate: 'TCP_ESTABLISHED' },
        },
        { monoNs: String(1_000_000_000_000 + i) },
      ),
    );
  }
  return lines;
}

const loadBefore = loadavg();
const lines = makeLines();
// The bench lines are what the agent writes, so every hit should take the fast path.
const scanned = lines.filter((l) => scanHit(l) !== undefined).length;
if (scanned !== HITS) throw new Error(`expected scanHit to read all ${HITS} hits, it read ${scanned}`);
const events = lines.map((l) => {
  const decoded = decodeEvent(l);
  if (!decoded.ok) throw new Error(`bench produced an invalid event: ${decoded.field} ${decoded.reason}`);
  return decoded.value;
});

function replayLines() {
  const t0 = process.hrtime.bigint();
  const outcome = replay(lines);
  const ns = Number(process.hrtime.bigint() - t0);
  if (!outcome.ok) throw new Error(`replay failed at line ${outcome.line}`);
  return { ns, outcome };
}

function evolveEvents() {
  const state = initialState();
  const t0 = process.hrtime.bigint();
  for (const event of events) if (!evolve(state, event).ok) throw new Error('evolve refused a bench event');
  return { ns: Number(process.hrtime.bigint() - t0) };
}

// Warm-up, then best of several trials: on a shared machine the slow ones measure the neighbours.
replayLines();
evolveEvents();
const trials = [];
const modelTrials = [];
let last;
for (let t = 0; t < 7; t++) {
  last = replayLines();
  trials.push(Math.round(lines.length / (last.ns / 1e9)));
  modelTrials.push(Math.round(events.length / (evolveEvents().ns / 1e9)));
}
const hits = Object.values(snapshot(last.outcome.state).hosts).reduce((n, h) => n + h.probes[PROBE].hits, 0);
if (hits !== HITS) throw new Error(`expected ${HITS} hits, replay counted ${hits}`);

const result = {
  name: 'replay',
  eventsPerSecond: Math.max(...trials),
  modelEventsPerSecond: Math.max(...modelTrials),
  events: lines.length,
  hitEvents: HITS,
  bytesPerEvent: Math.round(lines.reduce((n, l) => n + l.length, 0) / lines.length),
  trials,
  modelTrials,
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version },
  loadAverage: { before: loadBefore.map((l) => Number(l.toFixed(2))), after: loadavg().map((l) => Number(l.toFixed(2))) },
  date: new Date().toISOString(),
};
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/replay.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(`replay: ${result.eventsPerSecond} events/s from NDJSON, ${result.modelEventsPerSecond} events/s through the model alone`);
