// The cost of signed batches, per event, beside in-run peers doing the per-event work of the same
// messages: on the agent's side, building the messages from the spooled lines (frames → messagesOf,
// libs/publish, what every event goes through after parsing), signed or not; on the aggregator's
// side, decoding the messages (decodeRecords, the first step of ingest) with and without the
// Verifier (AGENT_IDENTITY=tofu, keys cached). Messages hold N events of one stream, N swept: an
// agent at a low rate sends ~1 event per message (linger 20 ms), a loaded one hundreds; the sign
// and verify cost is per message, so per event it falls as 1/N.
// Run after `npm run build`: node bench/signature.bench.mjs → bench/results/signature.json
// Context not measured here: agent-vs-bpftrace.json (agent CPU µs per transition), ingest.json.
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { generateFleet } = require('@probefleet/fleet-sim');
const { encodeEvent } = require('@probefleet/events');
const { encodeLineFrames, messagesOf, scanFrame, streamTag } = require('@probefleet/publish');
const { Signer, Verifier } = require('@probefleet/signature');
const { decodeRecords } = require(join(root, 'apps/aggregator/dist/store/decode.js'));

const EVENTS = Number(process.env.BENCH_EVENTS || 60_000);
// One agent's stream (nearly all probe hits), seqs contiguous as a real agent's.
const events = generateFleet({ seed: 1, agents: 1, eventsPerSecond: 5000, start: new Date().toISOString(), restartMeanS: Infinity, rebootMeanS: Infinity }, EVENTS).slice(0, EVENTS);
const lines = events.map((e) => ({ line: encodeEvent(e), tag: streamTag(e), seq: e.seq }));
const frames = encodeLineFrames(lines);
const records = [];
for (let at = 0; at < frames.length; ) {
  const f = scanFrame(frames, at, false);
  records.push({ payload: f.payload, tag: f.tag, seq: f.seq, end: f.next });
  at = f.next;
}
const signer = Signer.generate();
const book = { get: async () => ({ publicKey: signer.publicKey, source: 'tofu' }), pinFirst: async () => ({ publicKey: signer.publicKey, source: 'tofu' }) };
const policy = { policy: { days: { tcp_transitions: 36500, events: 36500, tcp_connections: 36500, tcp_rollups: 36500 } }, maxMessageBytes: 64 << 20, now: () => Date.now() };

const perEvent = (fn) => {
  fn(); // warm-up
  const trials = [];
  for (let t = 0; t < 5; t++) {
    const t0 = process.hrtime.bigint();
    fn();
    trials.push(Number(process.hrtime.bigint() - t0) / 1000 / EVENTS);
  }
  return Math.min(...trials); // best of five: the slow ones measure the neighbours
};
const asyncPerEvent = async (fn) => {
  await fn();
  const trials = [];
  for (let t = 0; t < 5; t++) {
    const t0 = process.hrtime.bigint();
    await fn();
    trials.push(Number(process.hrtime.bigint() - t0) / 1000 / EVENTS);
  }
  return Math.min(...trials);
};

const runs = [];
for (const n of [1, 10, 100, 1000]) {
  const chunks = [];
  for (let i = 0; i < records.length; i += n) chunks.push(records.slice(i, i + n));
  const build = (s) => () => { for (const c of chunks) messagesOf(c, () => {}, s); };
  const buildUs = perEvent(build(undefined));
  const buildSignedUs = perEvent(build(signer));
  const signed = chunks.flatMap((c) => messagesOf(c, () => {}, signer));
  const kafkaRecords = signed.map((m, i) => ({ topic: 't', partition: 0, offset: String(i), key: Buffer.from(m.key), value: m.value, headers: m.headers }));
  const decodeUs = perEvent(() => decodeRecords(kafkaRecords, policy));
  const verifier = new Verifier('tofu', book);
  // As the consumer screens a fetched batch: checkAll over a batch of ~4 MiB of messages at once.
  const batches = [];
  for (let i = 0, per = Math.max(1, Math.floor(10_000 / n)); i < kafkaRecords.length; i += per) batches.push(kafkaRecords.slice(i, i + per));
  const verifyAll = async () => { for (const b of batches) if ((await verifier.checkAll(b)).some((r) => r !== null)) throw new Error('refused'); };
  const verifyUs = await asyncPerEvent(verifyAll);
  // CPU of every thread (the Ed25519 checks run on libuv's pool) and of the consumer's own thread.
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  await verifyAll();
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  const verifyCpuUs = (cpu.user + cpu.system) / EVENTS;
  const verifyMainUs = (elu.active * 1000) / EVENTS;
  runs.push({
    eventsPerMessage: n,
    agent: { buildMicrosPerEvent: +buildUs.toFixed(3), buildSignedMicrosPerEvent: +buildSignedUs.toFixed(3), signMicrosPerEvent: +(buildSignedUs - buildUs).toFixed(3) },
    aggregator: {
      decodeMicrosPerEvent: +decodeUs.toFixed(3), verifyMicrosPerEvent: +verifyUs.toFixed(3), verifyOverDecode: +(verifyUs / decodeUs).toFixed(4),
      verifyCpuMicrosPerEvent: +verifyCpuUs.toFixed(3), verifyConsumerThreadMicrosPerEvent: +verifyMainUs.toFixed(3),
    },
  });
}

const stored = (f) => { try { return JSON.parse(readFileSync(join(root, 'bench/results', f), 'utf8')); } catch { return null; } };
const agentRun = stored('agent-vs-bpftrace.json')?.runs?.find((r) => r.sink === 'kafka') ?? stored('agent-vs-bpftrace.json')?.runs?.[0];
const ingest = stored('ingest.json');
const result = {
  name: 'signature',
  events: EVENTS,
  cpus: cpus().length,
  loadavg: loadavg().map((x) => +x.toFixed(2)),
  runs,
  context: {
    note: 'stored results of other benchmarks (not this run): the per-event CPU the signing and verifying costs compare to',
    agentCpuMicrosPerTransition: agentRun?.agent?.cpuMicrosPerTransition ?? null,
    ingestMicrosPerEvent: ingest?.eventsPerSecond ? +(1e6 / ingest.eventsPerSecond).toFixed(2) : null,
    ingestEventsPerMessage: ingest?.eventsPerMessage ?? null,
  },
};
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/signature.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
