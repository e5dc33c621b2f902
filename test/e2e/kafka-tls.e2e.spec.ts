// Kafka over SASL_SSL for real: a broker of the test profile (SCRAM-SHA-512 users made by Kafka's
// StorageTool, certificates of a CA made here with openssl); the agent, the simulator and the
// aggregator connect through it and their events come back through the API. A wrong password, an
// untrusted certificate and plaintext to the TLS port each fail with the cause named, and nothing
// is lost meanwhile (the agent spools); neither is anything lost over a broker restart.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { AGENT, closingServer, connectOnce, REPO, sleep, startKafkaAgent, tempDir } from '../support/agent-kafka';
import { createMigratedDatabase, eventually, startAggregator, whenReady, type Aggregator, type TempDatabase } from '../support/aggregator';
import { makeCa } from '../support/tls';
import { tlsBroker, type TlsBroker } from '../support/tls-broker';

jest.setTimeout(240_000);

const TOPIC = 'probefleet.tls-e2e';
const SIM = path.join(REPO, 'apps/fleet-sim/dist/main.js');
let broker: TlsBroker;
let db: TempDatabase;
let aggregator: Aggregator;

const aggregatorEnv = (overrides: Record<string, string> = {}) => ({
  DATABASE_URL: db.url, KAFKA_TOPIC: TOPIC, KAFKA_BROKERS: broker.saslSsl, KAFKA_SSL_CA_FILE: broker.ca.cert,
  KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'aggregator', KAFKA_SASL_PASSWORD: broker.users['aggregator']!, ...overrides,
});
const agentKafka = (password: string) => ({
  brokers: [broker.saslSsl], topic: TOPIC, lingerMs: 5, flushTimeoutS: 10, retry: { initialMs: 100, maxMs: 1000 },
  ssl: { caFile: broker.ca.cert }, sasl: { mechanism: 'scram-sha-512', username: 'agent', password },
});

interface EventRow { seq: string; type: string }
const oneToN = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
/**
 * Waits until the API has the whole stream, 1..agent.stopped without a hole; then its seqs. A hole
 * left for good fails the wait, and the last reading is what the test then compares.
 */
async function storedStream(instance: string): Promise<number[]> {
  let seqs: number[] = [];
  await eventually(`stream ${instance} stored whole up to agent.stopped`, 60_000, async () => {
    const items = await aggregator.all<EventRow>(`/api/v1/events?instance=${instance}&limit=1000`);
    seqs = items.map((e) => Number(e.seq));
    return items.at(-1)?.type === 'agent.stopped' && seqs.every((s, i) => s === i + 1) ? true : undefined;
  }).catch(() => undefined);
  return seqs;
}

beforeAll(async () => {
  broker = await tlsBroker({ aggregator: 'agg-secret', agent: 'agent-secret', sim: 'sim-secret' });
  broker.start();
  const admin = broker.client('aggregator').admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 3 }], waitForLeaders: true });
  await admin.disconnect();
  db = await createMigratedDatabase();
  aggregator = await startAggregator(aggregatorEnv());
  await whenReady(aggregator, 60_000);
});

afterAll(async () => {
  await aggregator?.stop(15_000);
  await db?.drop();
  broker?.stop();
  broker?.remove();
});

describe('Kafka SASL_SSL (SCRAM-SHA-512, a private CA)', () => {
  it('carries the agent and the simulator to the aggregator and its API', async () => {
    const server = await closingServer();
    const agent = startKafkaAgent({ kafka: agentKafka('agent-secret'), spool: { dir: tempDir('tls-spool-') } }, ['--duration', '4']);
    const started = await agent.waitForLog('agent started', 15_000);
    for (let i = 0; i < 10; i++) await connectOnce(server.port);
    expect(await agent.exit).toBe(0);
    server.close();
    const seqs = await storedStream(started['instance'] as string);
    expect(seqs).toEqual(oneToN(seqs.length));

    const sim = await promisify(execFile)(process.execPath, [SIM, '--brokers', broker.saslSsl, '--topic', TOPIC, '--agents', '3', '--events', '300', '--rate', '0',
      '--ssl-ca-file', broker.ca.cert, '--sasl-mechanism', 'scram-sha-512', '--sasl-username', 'sim'], { env: { ...process.env, KAFKA_SASL_PASSWORD: 'sim-secret' }, timeout: 60_000 });
    const report = JSON.parse(sim.stdout) as { events: number };
    // This host's agent and the three simulated ones.
    await eventually('the simulated hosts in /api/v1/agents', 30_000, async () =>
      (await aggregator.get<{ items: unknown[] }>('/api/v1/agents')).items.length >= 4 ? true : undefined);
    expect(report.events).toBeGreaterThanOrEqual(300);
  });

  it('a wrong password: the agent names it, keeps the events spooled, and delivers them all once the password is right', async () => {
    const spool = tempDir('tls-spool-');
    const server = await closingServer();
    const wrong = startKafkaAgent({ kafka: agentKafka('not-the-password'), spool: { dir: spool } }, ['--duration', '3']);
    const started = await wrong.waitForLog('agent started', 15_000);
    for (let i = 0; i < 5; i++) await connectOnce(server.port);
    await wrong.exit;
    server.close();
    const failure = wrong.logs().find((l) => l['msg'] === `publish failed: retrying, events stay spooled: ${String(l['cause'])}`);
    expect(failure?.['cause']).toMatch(/^Kafka SASL authentication failed: the broker refused the user name or password/);
    // The same spool, the right password: the first run's stream arrives whole.
    const right = startKafkaAgent({ kafka: agentKafka('agent-secret'), spool: { dir: spool } }, ['--duration', '2']);
    expect(await right.exit).toBe(0);
    const seqs = await storedStream(started['instance'] as string);
    expect(seqs).toEqual(oneToN(seqs.length));
    expect(seqs.length).toBeGreaterThan(2);
  });

  it('an untrusted certificate (aggregator) and plaintext to the TLS port (simulator): each refused, the cause named', async () => {
    const otherCa = makeCa(tempDir('tls-other-ca-'), 'not-the-broker-ca');
    const untrusted = await startAggregator(aggregatorEnv({ KAFKA_SSL_CA_FILE: otherCa.cert }));
    const plaintext = promisify(execFile)(process.execPath, [SIM, '--brokers', broker.saslSsl, '--topic', TOPIC, '--agents', '1', '--events', '10', '--rate', '0'], { timeout: 90_000 })
      .then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
    expect(await untrusted.exit).toBe(1);
    expect(untrusted.output()).toMatch(/serve: Kafka TLS: the broker's certificate is not signed by a trusted CA \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)/);
    const sim = await plaintext;
    expect(sim.code).toBe(1);
    expect(sim.stderr).toMatch(/the broker closed the connection before answering: this looks like a TLS listener \(SSL or SASL_SSL\) reached in plaintext; turn TLS on/);
  });

  it('loses nothing over a broker restart', async () => {
    const server = await closingServer();
    const agent = startKafkaAgent({ kafka: agentKafka('agent-secret'), spool: { dir: tempDir('tls-spool-') } }, ['--duration', '25']);
    const started = await agent.waitForLog('agent started', 15_000);
    let traffic = true;
    const load = (async () => {
      while (traffic) {
        await connectOnce(server.port);
        await sleep(50);
      }
    })();
    await sleep(3000);
    broker.stop();
    await sleep(3000);
    broker.start();
    await sleep(3000);
    traffic = false;
    await load;
    expect(await agent.exit).toBe(0);
    server.close();
    expect(agent.logs().some((l) => String(l['msg']).startsWith('publish failed'))).toBe(true);
    const seqs = await storedStream(started['instance'] as string);
    expect(await aggregator.get('/api/v1/dead-letters')).toMatchObject({ items: [] });
    expect(seqs).toEqual(oneToN(seqs.length));
    expect(seqs.length).toBeGreaterThan(50);
  });
});

beforeAll(() => {
  if (process.geteuid?.() !== 0) throw new Error('needs root (the agent reads tracefs)');
  expect(AGENT).toBeTruthy();
});
