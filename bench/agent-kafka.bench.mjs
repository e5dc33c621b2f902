// Events/s the built agent delivers to Kafka (acked) under loopback connection load, and the
// agent's CPU per event, with the load generator's own CPU beside it (same machine: they compete).
// Zero-loss check: the stream read back from the topic has every seq, and no agent.loss was reported.
// The agent's RSS is sampled during the load (steady state: the median of the second half).
// Needs root, the built agent (`npx nx build @probefleet/agent`) and the local broker (`npm run stack:up`).
//   node bench/agent-kafka.bench.mjs [seconds=20] [parallel=32] [connections/s, 0 = as fast as it goes]
//   → bench/results/agent-kafka.json (one loopback connection = 10 TCP transitions = 10 probe.hit events)
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLoopbackLoad } from './lib/loopback-load.mjs';
import { benchNode, brokers, codeVersion, cpuSeconds, freePort, machine, median, nodeVersion, require, root, sleep } from './lib/stack.mjs';

const { Kafka, logLevel } = require('kafkajs');
const { decodeBatch } = require('@probefleet/events');

const seconds = Number(process.argv[2] ?? 20);
const parallel = Number(process.argv[3] ?? 32);
// Default: 2100 connections/s ≈ 21k events/s, just above the 20k events/s target (0 = unpaced).
const rate = Number(process.argv[4] ?? 2100);

const kafka = new Kafka({ clientId: 'bench-agent-kafka', brokers, logLevel: logLevel.NOTHING });
const topic = `bench-agent-${randomUUID().slice(0, 8)}`;
const admin = kafka.admin();
await admin.connect();
await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
await admin.disconnect();

const work = mkdtempSync(join(tmpdir(), 'bench-agent-kafka-'));
const metricsPort = await freePort();
const config = join(work, 'agent.yaml');
writeFileSync(config, JSON.stringify({ sink: 'kafka', kafka: { brokers, topic }, spool: { dir: join(work, 'spool') }, metrics: { port: metricsPort }, heartbeatIntervalS: 5 }));
// The shipped runtime (the agent binary is Node 24, and its default Kafka client with it): BENCH_NODE.
const agentNode = benchNode();
const agent = spawn(agentNode, [join(root, 'apps/agent/dist/main.js'), 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
let stderr = '';
agent.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
const exited = new Promise((r) => agent.on('close', r));
const logOf = (msg) => stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((l) => l.msg === msg);
for (let i = 0; !logOf('agent started'); i++) {
  if (i > 150) throw new Error(`agent did not start:\n${stderr}`);
  await sleep(100);
}
const instance = logOf('agent started').instance;
const published = async () => {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return Number(/^probefleet_agent_events_published_total (\d+)/m.exec(text)?.[1] ?? 0);
};
await sleep(1000);

const agentCpu0 = cpuSeconds(agent.pid);
const published0 = await published();
const t0 = Date.now();
// The load generator runs in its own process, so its CPU is measured apart from the agent's.
const rss = [];
const rssKb = () => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${agent.pid}/status`, 'utf8'))?.[1] ?? 0);
const sampler = setInterval(() => rss.push({ t: Date.now() - t0, kb: rssKb() }), 250);
const loadResult = await startLoopbackLoad(seconds, parallel, rate).done;
clearInterval(sampler);
const wall = (Date.now() - t0) / 1000;
const agentCpu1 = cpuSeconds(agent.pid);
const published1 = await published();

agent.kill('SIGTERM');
await exited;

// Read the stream back: every seq 1..agent.stopped, and no agent.loss.
const consumer = kafka.consumer({ groupId: `bench-${randomUUID()}` });
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: true });
const seqs = new Set();
let hits = 0;
let lossReported = 0;
let stoppedSeq = 0;
let duplicates = 0;
await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('topic not read back within 120 s')), 120_000);
  consumer.run({
    eachMessage: async ({ message }) => {
      const d = decodeBatch(message.value);
      if (!d.ok) throw new Error(`undecodable message: ${d.reason}`);
      for (const e of d.value) {
        if (e.instance !== instance) continue;
        if (seqs.has(e.seq)) duplicates++;
        seqs.add(e.seq);
        if (e.type === 'probe.hit') hits++;
        if (e.type === 'agent.loss') lossReported += e.data.overruns.reduce((n, o) => n + o.count, 0);
        if (e.type === 'agent.stopped') stoppedSeq = e.seq;
      }
      if (stoppedSeq > 0 && seqs.size >= stoppedSeq) {
        clearTimeout(timer);
        resolve();
      }
    },
  });
});
await consumer.disconnect();
const missing = stoppedSeq - [...seqs].filter((s) => s <= stoppedSeq).length;
rmSync(work, { recursive: true, force: true });

const delivered = published1 - published0;
const result = {
  name: 'agent-kafka',
  mode: logOf('agent started').mode,
  seconds: wall,
  parallelClients: parallel,
  connectionsPerSecondTarget: rate || 'unpaced',
  connectionsPerSecond: Math.round(loadResult.connections / wall),
  eventsPerSecondDelivered: Math.round(delivered / wall),
  agentCpuPercent: Math.round(((agentCpu1 - agentCpu0) / wall) * 1000) / 10,
  agentCpuMicrosPerEvent: Math.round(((agentCpu1 - agentCpu0) / Math.max(delivered, 1)) * 1e7) / 10,
  loadGeneratorCpuPercent: Math.round((loadResult.cpuSeconds / wall) * 1000) / 10,
  agentRssMbSteady: Math.round(median(rss.filter((r) => r.t >= (seconds * 1000) / 2).map((r) => r.kb)) / 102.4) / 10,
  agentRssMbMax: Math.round(Math.max(0, ...rss.map((r) => r.kb)) / 102.4) / 10,
  zeroLoss: missing === 0 && lossReported === 0,
  stream: { events: seqs.size, hits, missingSeqs: missing, duplicates, kernelOverrunsReported: lossReported },
  target: { eventsPerSecond: 20000, met: delivered / wall >= 20000 },
  code: codeVersion(),
  machine: machine(),
  agentNode: nodeVersion(agentNode),
  date: new Date().toISOString(),
};
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/agent-kafka.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
process.exit(0);
