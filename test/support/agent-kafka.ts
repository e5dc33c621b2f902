// Helpers for the agent → Kafka e2e tests: run the built agent with the kafka sink on a fresh
// topic, make loopback TCP traffic, read the topic back as events, stop/start the local broker.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeBatch, type Event } from '@probefleet/events';
import { kafkaBrokers, kafkaClient } from './stack';

export const REPO = path.resolve(__dirname, '..', '..');
export const AGENT = path.join(REPO, 'apps/agent/dist/main.js');
const INSTANCES = '/sys/kernel/tracing/instances';
export const ourInstances = (): string[] => fs.readdirSync(INSTANCES).filter((n) => n.startsWith('probefleet-'));

export async function freshTopic(prefix: string): Promise<string> {
  const topic = `${prefix}-${randomUUID().slice(0, 8)}`;
  const admin = kafkaClient('agent-e2e-admin').admin();
  await admin.connect();
  try {
    // Not waitForLeaders: it asks for the topic's metadata at once, which Kafka 4 may not have yet
    // (just after a broker restart it answers UNKNOWN_TOPIC_OR_PARTITION and kafkajs gives up).
    await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: false });
    for (let i = 0; ; i++) {
      const ok = await admin.fetchTopicMetadata({ topics: [topic] }).then((m) => m.topics[0]?.partitions.every((p) => p.leader >= 0) ?? false, () => false);
      if (ok) break;
      if (i > 150) throw new Error(`topic ${topic}: no leaders after 15 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await admin.disconnect();
  }
  return topic;
}

export const tempDir = (prefix: string): string => fs.mkdtempSync(path.join(os.tmpdir(), prefix));

export interface KafkaAgent {
  child: ChildProcess;
  stderr: () => string;
  /** pino log lines parsed. */
  logs: () => Record<string, unknown>[];
  waitForLog: (msg: string, ms: number) => Promise<Record<string, unknown>>;
  exit: Promise<number | null>;
}

/** Starts `probefleet-agent run` (kafka sink) with `config` written as its YAML file (JSON is YAML). */
export function startKafkaAgent(config: Record<string, unknown>, args: string[] = []): KafkaAgent {
  const file = path.join(tempDir('agent-kafka-cfg-'), 'agent.json.yaml');
  fs.writeFileSync(file, JSON.stringify({ sink: 'kafka', metrics: { port: 0 }, ...config }));
  const child = spawn(process.execPath, [AGENT, 'run', '--config', file, ...args], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const logs = () =>
    err
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const waitForLog = async (msg: string, ms: number) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = logs().find((l) => l['msg'] === msg);
      if (hit) return hit;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`agent: no log "${msg}" within ${ms} ms; stderr:\n${err}`);
      await sleep(100);
    }
  };
  return { child, stderr: () => err, logs, waitForLog, exit };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Delivered {
  event: Event;
  partition: number;
  offset: string;
  headers: Record<string, string>;
}

/** Reads the whole topic from the beginning until `done(events)` holds; rejects after `ms`. */
export async function readTopic(topic: string, done: (d: Delivered[]) => boolean, ms: number): Promise<Delivered[]> {
  const consumer = kafkaClient(`agent-e2e-${randomUUID().slice(0, 8)}`).consumer({ groupId: `agent-e2e-${randomUUID()}` });
  const out: Delivered[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let resolveDone!: () => void;
    const finished = new Promise<void>((r) => (resolveDone = r));
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const decoded = decodeBatch(message.value ?? new Uint8Array());
        if (!decoded.ok) throw new Error(`undecodable message at ${partition}/${message.offset}: ${decoded.reason}`);
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
        if (message.key?.toString() !== decoded.value[0]?.host) throw new Error(`message key ${message.key?.toString()} is not the host`);
        for (const event of decoded.value) out.push({ event, partition, offset: message.offset, headers });
        if (done(out)) resolveDone();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`topic ${topic}: condition not met within ${ms} ms (${out.length} events read)`)), ms);
    });
    try {
      await Promise.race([finished, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return out;
  } finally {
    await consumer.disconnect();
  }
}

/** The events of one stream in delivery order. */
export const streamOf = (d: Delivered[], instance: string): Event[] => d.filter((x) => x.event.instance === instance).map((x) => x.event);

/** Seqs 1..last with none missing (duplicates reported separately). */
export function seqCoverage(events: Event[]): { last: number; missing: number[]; duplicates: number; inOrder: boolean } {
  const seen = new Set<number>();
  let duplicates = 0;
  let inOrder = true;
  let max = 0;
  for (const e of events) {
    if (seen.has(e.seq)) duplicates++;
    else if (e.seq < max) inOrder = false;
    seen.add(e.seq);
    max = Math.max(max, e.seq);
  }
  const missing: number[] = [];
  for (let s = 1; s <= max; s++) if (!seen.has(s)) missing.push(s);
  return { last: max, missing, duplicates, inOrder };
}

/** A listener on `port` that closes each accepted connection at once. */
export function closingServer(host = '127.0.0.1'): Promise<net.Server & { port: number }> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((c) => c.end());
    server.on('error', reject);
    server.listen(0, host, () => resolve(Object.assign(server, { port: (server.address() as net.AddressInfo).port })));
  });
}

/** One client connection to `port` that closes after the server's FIN. */
export function connectOnce(port: number, host = '127.0.0.1'): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, host);
    c.on('error', reject);
    c.resume();
    c.on('close', () => resolve());
  });
}

/** Connections to `port` from `parallel` loops until `stop` says so; returns how many completed. */
export async function loadConnections(port: number, parallel: number, stop: () => boolean): Promise<number> {
  let n = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (!stop()) {
        await connectOnce(port).catch(() => undefined);
        n++;
      }
    }),
  );
  return n;
}

const KAFKA_SH = path.join(REPO, 'deploy/kafka/kafka.sh');
export const stopBroker = (): void => void execFileSync('bash', [KAFKA_SH, 'stop'], { stdio: 'ignore', timeout: 60_000 });
export const startBroker = (): void => void execFileSync('bash', [KAFKA_SH, 'start'], { stdio: 'ignore', timeout: 120_000 });
export const brokers = kafkaBrokers;

/** Hits whose connection used `port` (either end). */
export const hitsOnPort = (events: Event[], port: number): Event[] =>
  events.filter((e) => e.type === 'probe.hit' && ((e.data.args['sport'] as number) === port || (e.data.args['dport'] as number) === port));
