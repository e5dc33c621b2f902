// Signed batches for real: the built agent makes its key (`probefleet-agent identity`) and signs
// every message; the aggregator (AGENT_IDENTITY=tofu, then strict) stores what the host's key
// signed and dead-letters as bad-signature what another agent's key signed for this host (published
// with the project's own Kafka client, libs/publish), and in strict what is unsigned; a key
// rotation through the API (admin token) is accepted; a redelivered message stays a duplicate.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Event } from '@probefleet/events';
import { agentMessages } from '@probefleet/fleet-sim';
import { clientKind, kafkaClient as projectKafka } from '@probefleet/kafka';
import { Publisher } from '@probefleet/publish';
import { Signer } from '@probefleet/signature';
import { AGENT, brokers, closingServer, connectOnce, freshTopic, readTopic, startKafkaAgent, streamOf, tempDir } from '../support/agent-kafka';
import { createMigratedDatabase, eventually, startAggregator, whenReady, type Aggregator, type TempDatabase } from '../support/aggregator';
import { deleteTopic } from '../support/stack';

jest.setTimeout(120_000);

const ADMIN = 'admin-token-e2e';
const READ = 'read-token-e2e';
const auth = (token: string) => ({ authorization: `Bearer ${token}` });

let topic: string;
let db: TempDatabase;
const dirs: string[] = [];
/** The real agent's stream (its events as the topic has them) and its key file. */
let agentEvents: Event[];
let agentKeyFile: string;
let host: string;

const keyFileOf = (dir: string) => path.join(dir, 'identity.key');
const identityOf = (spoolDir: string): string =>
  execFileSync(process.execPath, [AGENT, 'identity', '--config', configFile({ spool: { dir: spoolDir } })], { encoding: 'utf8' }).trim();
function configFile(config: Record<string, unknown>): string {
  const dir = tempDir('identity-cfg-');
  dirs.push(dir);
  const file = path.join(dir, 'agent.json.yaml');
  fs.writeFileSync(file, JSON.stringify({ sink: 'kafka', kafka: { brokers: brokers(), topic }, ...config }));
  return file;
}

/** The agent's events again, as a new stream of the same host (so not duplicates), signed by `signer` (or not). */
function restream(signer: Signer | null): { key: string; value: Buffer; headers: Record<string, string> }[] {
  const instance = randomUUID();
  return agentMessages(agentEvents.map((e) => ({ ...e, instance }))).map((m) => {
    const value = Buffer.from(m.value.buffer, m.value.byteOffset, m.value.byteLength);
    const headers: Record<string, string> = { ...m.headers };
    return { key: m.key, value, headers: signer ? { ...headers, ...signer.headers({ key: m.key, value, headers }) } : headers };
  });
}

async function publish(messages: { key: string; value: Buffer; headers: Record<string, string> }[]): Promise<void> {
  const publisher = new Publisher(projectKafka(clientKind(), { clientId: 'identity-e2e', brokers: brokers(), connectionTimeoutMs: 3000, requestTimeoutMs: 30_000 }), topic, { initialMs: 100, maxMs: 1000 }, { failed: () => undefined, acked: () => undefined });
  try {
    expect(await publisher.sendUntilAcked(messages, AbortSignal.timeout(30_000))).toBe(true);
  } finally {
    await publisher.dropProducer();
  }
}

interface DeadLetter { kind: string; reason: string; key: string | null }
const badSignatures = async (agg: Aggregator) =>
  (await agg.all<DeadLetter>('/api/v1/dead-letters?limit=1000')).filter((d) => d.kind === 'bad-signature');
const storedCount = async (agg: Aggregator) =>
  Number((await agg.get<{ items: { host: string; events: string }[] }>(`/api/v1/agents?host=${encodeURIComponent(host)}`)).items[0]?.events ?? 0);
const metric = async (agg: Aggregator, line: RegExp) => Number(line.exec(await (await fetch(`${agg.url}/metrics`)).text())?.[1] ?? 0);

beforeAll(async () => {
  if (process.geteuid?.() !== 0) throw new Error('needs root (the agent reads tracefs)');
  topic = await freshTopic('identity-e2e');
  db = await createMigratedDatabase();
  // The real agent: its key made by `identity` before the first run, then used by the run.
  const spool = tempDir('identity-spool-');
  dirs.push(spool);
  agentKeyFile = keyFileOf(spool);
  const printed = identityOf(spool);
  expect(printed).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(fs.statSync(agentKeyFile).mode & 0o777).toBe(0o600);
  const server = await closingServer();
  const agent = startKafkaAgent({ kafka: { brokers: brokers(), topic, lingerMs: 5 }, spool: { dir: spool } }, ['--duration', '2']);
  const started = await agent.waitForLog('agent started', 15_000);
  for (let i = 0; i < 3; i++) await connectOnce(server.port);
  expect(await agent.exit).toBe(0);
  server.close();
  expect(agent.logs().find((l) => String(l['msg']).startsWith('identity:'))?.['publicKey']).toBe(printed);
  const instance = started['instance'] as string;
  const delivered = await readTopic(topic, (d) => streamOf(d, instance).some((e) => e.type === 'agent.stopped'), 30_000);
  expect(delivered.every((d) => d.headers['sig-key'] === printed && /^v2:[A-Za-z0-9+/]{86}==$/.test(d.headers['sig'] ?? ''))).toBe(true);
  agentEvents = streamOf(delivered, instance);
  host = agentEvents[0]!.host;
});

afterAll(async () => {
  await db?.drop();
  await deleteTopic(topic);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('AGENT_IDENTITY=tofu', () => {
  it("pins the agent's key, stores its stream, and dead-letters the same host signed with another agent's key", async () => {
    const agg = await startAggregator({ DATABASE_URL: db.url, KAFKA_TOPIC: topic, AGENT_IDENTITY: 'tofu', API_TOKENS: READ, API_ADMIN_TOKENS: ADMIN });
    try {
      await whenReady(agg);
      await eventually('the agent stream stored', 30_000, async () => ((await storedCount(agg)) >= agentEvents.length ? true : undefined));
      const key = await (await fetch(`${agg.url}/api/v1/agents/${host}/key`, { headers: auth(READ) })).json();
      expect(key).toEqual({ host, publicKey: identityOf(path.dirname(agentKeyFile)), source: 'tofu' });

      const attacker = Signer.generate();
      const forged = restream(attacker);
      await publish(forged);
      const letters = await eventually('forged messages dead-lettered', 30_000, async () => {
        const b = await badSignatures(agg);
        return b.length >= forged.length ? b : undefined;
      });
      expect(letters[0]).toMatchObject({ key: host, reason: expect.stringMatching(/^signed by .*, not by the tofu key of host/) });
      expect(await storedCount(agg)).toBe(agentEvents.length);
      expect(await metric(agg, /^probefleet_ingest_dead_letters_total\{kind="bad-signature"\} (\d+)/m)).toBe(forged.length);
    } finally {
      await agg.stop(15_000);
    }
  });
});

describe('AGENT_IDENTITY=strict', () => {
  it('stores only what the enrolled key signed; unsigned and foreign-signed are bad-signature; rotation through the API; redelivery a duplicate', async () => {
    const agg = await startAggregator({ DATABASE_URL: db.url, KAFKA_TOPIC: topic, AGENT_IDENTITY: 'strict', API_TOKENS: READ, API_ADMIN_TOKENS: ADMIN });
    try {
      await whenReady(agg);
      const agentKey = identityOf(path.dirname(agentKeyFile));
      const put = (publicKey: string, token: string) =>
        fetch(`${agg.url}/api/v1/agents/${host}/key`, { method: 'PUT', headers: { ...auth(token), 'content-type': 'application/json' }, body: JSON.stringify({ publicKey }) });
      // A read token cannot enrol; a bad key is a 400 naming publicKey.
      expect((await put(agentKey, READ)).status).toBe(403);
      const bad = await put('not-a-key', ADMIN);
      expect([bad.status, ((await bad.json()) as { message: string }).message]).toEqual([400, expect.stringMatching(/^publicKey: expected an Ed25519 public key/)]);
      expect(await (await put(agentKey, ADMIN)).json()).toEqual({ host, publicKey: agentKey, source: 'enrolled', replaced: false });

      const before = (await badSignatures(agg)).length;
      const own = restream(Signer.fromPem(fs.readFileSync(agentKeyFile, 'utf8')));
      const unsigned = restream(null);
      const foreign = restream(Signer.generate());
      await publish([...own, ...unsigned, ...foreign]);
      // Redelivery of what was stored: absorbed as duplicates.
      await publish(own);
      await eventually('own stored, unsigned and foreign dead-lettered', 30_000, async () =>
        (await badSignatures(agg)).length - before >= unsigned.length + foreign.length && (await storedCount(agg)) >= 2 * agentEvents.length ? true : undefined);
      const reasons = (await badSignatures(agg)).slice(0, unsigned.length + foreign.length).map((d) => d.reason);
      expect(reasons).toEqual(expect.arrayContaining([expect.stringMatching(/^unsigned \(AGENT_IDENTITY=strict/), expect.stringMatching(/not by the enrolled key of host/)]));
      await eventually('the redelivery counted as duplicates', 30_000, async () =>
        (await metric(agg, /^probefleet_ingest_events_total\{result="duplicate"\} (\d+)/m)) >= agentEvents.length ? true : undefined);
      expect(await storedCount(agg)).toBe(2 * agentEvents.length);

      // Rotation: the new key is enrolled; what it signs is stored, what the old key signs is not.
      const rotated = Signer.generate();
      expect(await (await put(rotated.publicKey, ADMIN)).json()).toMatchObject({ publicKey: rotated.publicKey, replaced: true });
      const afterRotation = (await badSignatures(agg)).length;
      const stale = restream(Signer.fromPem(fs.readFileSync(agentKeyFile, 'utf8')));
      await publish([...restream(rotated), ...stale]);
      await eventually('the rotated key accepted, the old one refused', 30_000, async () =>
        (await storedCount(agg)) >= 3 * agentEvents.length && (await badSignatures(agg)).length - afterRotation >= stale.length ? true : undefined);
      expect(await storedCount(agg)).toBe(3 * agentEvents.length);
    } finally {
      await agg.stop(15_000);
    }
  });
});
