#!/usr/bin/env node
// probefleet-sim: wiring only (flags → options, signals → abort, report → stdout). The fleet is
// libs/fleet-sim; publishing mirrors the agent's Kafka sink (publish.ts).
import { AGENT_BATCH_BYTES, AGENT_LINGER_MS, type FleetOptions } from '@probefleet/fleet-sim';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { clientKind, explainKafkaError, kafkaClient, kafkaSecurity, type KafkaClient } from '@probefleet/kafka';
import { loadOrCreateSigner, Signer } from '@probefleet/signature';
import pino from 'pino';
import { simulate } from './simulate';

const log = pino({ name: 'probefleet-sim', level: process.env['PROBEFLEET_LOG_LEVEL'] ?? 'info' }, pino.destination({ fd: 2, sync: true }));

const number =
  (what: string, ok: (n: number) => boolean) =>
  (v: string): number => {
    const n = v === 'never' ? Infinity : Number(v);
    if (!ok(n)) throw new InvalidArgumentError(`expected ${what}, got ${v}`);
    return n;
  };
const positiveInt = number('a positive integer', (n) => Number.isInteger(n) && n > 0);
const nonNegative = number('a number ≥ 0', (n) => Number.isFinite(n) && n >= 0);
const positive = number('a positive number', (n) => n > 0);
const share = number('a share between 0 and 1', (n) => n >= 0 && n <= 1);
const seconds = number('seconds > 0, or "never"', (n) => n > 0);

interface Flags {
  agents: number;
  rate: number;
  duration: number;
  events?: number;
  brokers: string;
  topic: string;
  createTopic?: number;
  seed: number;
  start?: string;
  virtualRate: number;
  tracepointShare: number;
  ipv6Share: number;
  heartbeat: number;
  restartEvery: number;
  rebootEvery: number;
  crashShare: number;
  producers: number;
  batchBytes: number;
  lingerMs: number;
  clientId: string;
  ssl?: boolean;
  sslCaFile?: string;
  saslMechanism?: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  saslUsername?: string;
  sign: boolean;
  identityDir?: string;
  ownership: boolean;
  tcplife?: boolean;
}

const program = new Command('probefleet-sim')
  .version((JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version)
  .description('plays a fleet of virtual probefleet agents into Kafka, published as real agents publish; prints a JSON report')
  .option('--agents <n>', 'virtual agents (one per host)', positiveInt, 200)
  .option('--rate <events/s>', 'events per second of the whole fleet once every agent runs, event times following the wall clock; 0 = as fast as the broker takes them', nonNegative, 20000)
  .option('--duration <seconds>', 'how long to send', positive, 60)
  .option('--events <n>', 'stop after this many events instead of --duration (the agents\' orderly stops add a few)', positiveInt)
  .option('--brokers <list>', 'bootstrap brokers, comma-separated', process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092')
  .option('--topic <name>', 'topic', process.env['KAFKA_TOPIC'] ?? 'probefleet.events.v1')
  .option('--create-topic <partitions>', 'create the topic with this many partitions when it does not exist', positiveInt)
  .option('--seed <n>', 'PRNG seed: the same seed and options give the same events', (v) => number('an integer', (n) => Number.isInteger(n))(v), 1)
  .option('--start <time>', 'wall-clock time of the first event (RFC 3339; default: now)')
  .option('--virtual-rate <events/s>', 'how fast event times advance with --rate 0', positive, 20000)
  .option('--tracepoint-share <0..1>', 'share of hosts whose kernel has no kprobe events (tracepoint mode)', share, 0.25)
  .option('--ipv6-share <0..1>', 'share of connections over IPv6', share, 0.2)
  .option('--heartbeat <seconds>', 'agent.heartbeat interval (event time)', positive, 30)
  .option('--restart-every <seconds>', 'mean time between restarts of one agent (event time), or "never"', seconds, 3600)
  .option('--reboot-every <seconds>', 'mean time between reboots of one host (event time), or "never"', seconds, 14400)
  .option('--crash-share <0..1>', 'share of reboots that are crashes (no agent.stopped)', share, 0.25)
  .option('--producers <n>', 'Kafka producers the virtual agents share (each agent always uses the same one)', positiveInt, 4)
  .option('--batch-bytes <n>', "the agent's kafka.batchBytes", positiveInt, AGENT_BATCH_BYTES)
  .option('--linger-ms <n>', "the agent's kafka.lingerMs", nonNegative, AGENT_LINGER_MS)
  .option('--client-id <id>', 'Kafka client id', 'probefleet-sim')
  .option('--ssl', 'TLS to the brokers (the system CAs unless --ssl-ca-file)')
  .option('--ssl-ca-file <pem>', 'trust this CA for the brokers (implies --ssl)')
  .addOption(new Option('--sasl-mechanism <name>', 'SASL; the password comes from KAFKA_SASL_PASSWORD (not a flag: ps shows flags)').choices(['plain', 'scram-sha-256', 'scram-sha-512']))
  .option('--sasl-username <name>', 'SASL user name')
  .option('--no-sign', "send unsigned messages (agents sign each message with their host's key)")
  .option('--no-ownership', "TCP hits without the socket's owner and attribution (an agent before they were sent)")
  .option('--tcplife', "kprobe-mode TCP_CLOSE hits carry tcplife's counters (data.life)")
  .option('--identity-dir <dir>', 'keep each host\'s key as <dir>/<host>.key (made when missing), to enrol them; default: fresh keys in memory')
  .action(async (f: Flags) => {
    const brokers = f.brokers.split(',').map((b) => b.trim()).filter((b) => b !== '');
    const tls = f.sslCaFile ? { caFile: f.sslCaFile } : f.ssl === true;
    const sasl = f.saslMechanism ? { mechanism: f.saslMechanism, username: f.saslUsername ?? '', password: process.env['KAFKA_SASL_PASSWORD'] ?? '' } : undefined;
    const kafka = kafkaClient(clientKind(), { clientId: f.clientId, brokers, ...kafkaSecurity(tls, sasl), connectionTimeoutMs: 3000, requestTimeoutMs: 30_000, retry: { retries: 3, initialMs: 300, maxMs: 10_000 } });
    await ensureTopic(kafka, brokers, f.topic, f.createTopic).catch((e: unknown) => {
      const cause = explainKafkaError(e, { tls: tls !== false, sasl: sasl !== undefined });
      throw cause ? new Error(`${cause} [${(e as Error).message}]`) : e;
    });
    const fleet: FleetOptions = {
      seed: f.seed,
      agents: f.agents,
      eventsPerSecond: f.rate > 0 ? f.rate : f.virtualRate,
      start: f.start ?? new Date().toISOString(),
      tracepointShare: f.tracepointShare,
      ipv6Share: f.ipv6Share,
      heartbeatIntervalS: f.heartbeat,
      restartMeanS: f.restartEvery,
      rebootMeanS: f.rebootEvery,
      crashShare: f.crashShare,
      ownership: f.ownership,
      tcplife: f.tcplife === true,
    };
    const stop = new AbortController();
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort());
    log.info({ agents: f.agents, rate: f.rate, topic: f.topic, brokers }, 'simulating');
    const report = await simulate(
      kafka,
      { fleet, signerOf: signers(f), topic: f.topic, rate: f.rate, durationS: f.duration, events: f.events, producers: f.producers, batchBytes: f.batchBytes, lingerMs: f.lingerMs, maxBacklog: 200_000 },
      log,
      stop.signal,
    );
    // Infinity (never) is not JSON: spell it as the flag takes it.
    process.stdout.write(`${JSON.stringify(report, (_k, v: unknown) => (v === Infinity ? 'never' : v), 2)}\n`);
  });

/** Per-host signers: on disk under --identity-dir, else new in memory; none with --no-sign. */
function signers(f: Flags): ((host: string) => Signer) | undefined {
  if (!f.sign) return undefined;
  const dir = f.identityDir;
  return dir ? (host) => loadOrCreateSigner(join(dir, `${host}.key`)).signer : () => Signer.generate();
}

/** The agent never creates topics; the simulator can, for benchmarks and tests. */
async function ensureTopic(kafka: KafkaClient, brokers: string[], topic: string, createWith: number | undefined): Promise<void> {
  const admin = kafka.admin();
  let exists: boolean;
  try {
    exists = (await admin.listTopics()).includes(topic);
    if (!exists && createWith !== undefined) {
      await admin.createTopic(topic, createWith);
      exists = true;
    }
  } catch (e) {
    throw new Error(`Kafka at ${brokers.join(',')}: ${(e as Error).message} (npm run stack:up starts the local broker)`, { cause: e });
  } finally {
    await admin.close().catch(() => undefined);
  }
  if (!exists) throw new Error(`topic ${topic} does not exist: create it (npm run stack:up creates probefleet.events.v1), or pass --create-topic <partitions>`);
}

program.parseAsync(process.argv).catch((e: unknown) => {
  log.error((e as Error).message);
  process.exitCode = 1;
});
