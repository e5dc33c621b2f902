// Signed fleet policies, for real: the built aggregator signs what it publishes (POLICY_SIGNING_KEY_FILE),
// and the built agent on this machine's kernel (tracepoint mode, real tracefs, as root) applies only
// that. Forged records sent to the control topic with the project's own Kafka client (unsigned,
// signed with another key, altered after signing, an older version replayed) are refused: nothing
// of them reaches the agent's instance, each is counted in its metrics by reason and reported as
// policy.rejected with no version, and the host's status of the real policy is not frozen by one.
// A tampered cache file is refused on load, not applied. Without a key, writes answer 503; a key
// others can read stops the aggregator; `probefleet policy keygen` writes a pair and never overwrites.
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { Event } from '@probefleet/events';
import { PolicySigner } from '@probefleet/signature';
import { brokers, closingServer, freshTopic, ourInstances, readTopic, sleep, startKafkaAgent, tempDir, type KafkaAgent } from '../support/agent-kafka';
import { AGGREGATOR, createMigratedDatabase, eventually, startAggregator, type Aggregator, type TempDatabase } from '../support/aggregator';
import { freePort } from '../support/loopback';
import { policyRecord, publishRecords, readControlRecords, throwawayPolicyKeys, type PolicyKeys } from '../support/policy-keys';
import { probefleet } from '../support/replay';
import { deleteTopic } from '../support/stack';

jest.setTimeout(180_000);

const ADMIN = 'admin-token-signing';
const INSTANCES = '/sys/kernel/tracing/instances';
const suite = `sig-${randomUUID().slice(0, 8)}`;
const HOST = `signing-${suite}`;

let topic: string;
let policyTopic: string;
let db: TempDatabase;
let agg: Aggregator;
let keys: PolicyKeys;
let agent: KafkaAgent | undefined;
let metricsPort: number;
const spool = tempDir('policies-signing-spool-');

async function api(method: string, route: string, body?: unknown, url = agg.url): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${url}/api/v1/${route}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

function startAgent(over: Record<string, unknown> = {}): KafkaAgent {
  agent = startKafkaAgent({
    mode: 'tracepoint', host: HOST, labels: { suite }, kafka: { brokers: brokers(), topic, lingerMs: 5 },
    policies: { enabled: true, topic: policyTopic, publicKeyFile: keys.publicKeyFile }, spool: { dir: spool }, metrics: { host: '127.0.0.1', port: metricsPort }, ...over,
  });
  return agent;
}

/** A file of the agent's own instance (probefleet-<pid>-<instance>). */
function instanceFile(a: KafkaAgent, file: string): string {
  const inst = ourInstances().find((n) => n.startsWith(`probefleet-${a.child.pid}-`));
  if (!inst) throw new Error(`no probefleet instance of pid ${a.child.pid}`);
  return fs.readFileSync(path.join(INSTANCES, inst, file), 'utf8').trim();
}
const tcpFilter = (a: KafkaAgent) => instanceFile(a, 'events/sock/inet_sock_set_state/filter');
const execEnabled = (a: KafkaAgent) => instanceFile(a, 'events/sched/sched_process_exec/enable');

async function refusedCounts(): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^probefleet_agent_policy_records_refused_total\{reason="([a-z-]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

const refusals = (a: KafkaAgent) => a.logs().filter((l) => /^refused \(|^policy cache: record refused/.test(String(l['msg'])));

beforeAll(async () => {
  if (process.geteuid?.() !== 0) throw new Error('needs root (the agent reads tracefs)');
  topic = await freshTopic('policies-signing-e2e');
  policyTopic = `policies-signing-control-${randomUUID().slice(0, 8)}`;
  db = await createMigratedDatabase();
  keys = throwawayPolicyKeys();
  metricsPort = await freePort();
  agg = await startAggregator({ DATABASE_URL: db.url, KAFKA_TOPIC: topic, KAFKA_POLICY_TOPIC: policyTopic, KAFKA_CREATE_TOPIC: 'true', API_ADMIN_TOKENS: ADMIN, POLICY_SIGNING_KEY_FILE: keys.keyFile });
  await eventually(`aggregator up; output:\n${agg.output()}`, 30_000, async () => ((await fetch(`${agg.url}/readyz`)).status === 200 ? true : undefined));
});

afterEach(async () => {
  if (agent && agent.child.exitCode === null) {
    agent.child.kill('SIGTERM');
    await agent.exit;
  }
});

afterAll(async () => {
  await agg?.stop(10_000);
  await db?.drop();
  await deleteTopic(topic);
  await deleteTopic(policyTopic);
  fs.rmSync(spool, { recursive: true, force: true });
  keys?.remove();
});

describe('signed fleet policies', () => {
  let kept: Awaited<ReturnType<typeof closingServer>>;
  let other: Awaited<ReturnType<typeof closingServer>>;

  it('a real agent refuses unsigned, foreign-key, tampered and replayed records: its instance untouched, each counted and reported, the status not frozen', async () => {
    kept = await closingServer();
    other = await closingServer();
    const a = startAgent();
    await a.waitForLog('following the policy topic', 30_000);
    const spec = (port: number) => ({ selector: { labels: { suite } }, filter: { ports: [port] } });
    expect((await api('PUT', 'policies/guarded', spec(other.port))).json).toMatchObject({ version: 1, published: true });
    expect((await api('PUT', 'policies/guarded', spec(kept.port))).json).toMatchObject({ version: 2, published: true });
    await eventually('v2 applied', 10_000, async () => (a.logs().some((l) => l['msg'] === 'policy applied' && l['version'] === 2) ? true : undefined));
    const real = `(sport == ${kept.port} || dport == ${kept.port})`;
    expect(tcpFilter(a)).toBe(real);

    const records = await readControlRecords(policyTopic);
    expect(records.map((r) => [String(r.key), String(r.headers?.['policy-op']), String(r.headers?.['policy-version'])])).toEqual([['guarded', 'put', '1'], ['guarded', 'put', '2']]);
    const v1 = records[0]!;
    // What an attacker wants: a tracepoint of its own and the TCP filter its way, at a version above the real one.
    const evil = { selector: {}, tracepoints: [{ name: 'forged', tracepoint: 'sched:sched_process_exec' }], filter: { ports: [1] } };
    const signedByUs = policyRecord(keys.signer, 'guarded', 60, evil);
    const tampered = { ...signedByUs, value: Buffer.from(String(signedByUs.value).replace('"ports":[1]', '"ports":[2]')) };
    await publishRecords(policyTopic, [
      policyRecord(null, 'guarded', 50, evil), // unsigned
      policyRecord(null, 'intruder', 1, evil), // unsigned, a name of its own
      policyRecord(new PolicySigner(generateKeyPairSync('ed25519').privateKey), 'guarded', 51, evil), // another key
      tampered, // altered after signing
      v1, // an older version the aggregator once signed, re-sent as it was
      policyRecord(null, 'guarded', 52, null), // a bare tombstone, unsigned
    ]);
    await eventually(`6 refusals; agent log:\n${a.stderr().slice(-3000)}`, 10_000, async () => (refusals(a).length >= 6 ? true : undefined));
    expect(refusals(a).map((l) => l['refused'])).toEqual(['unsigned', 'unsigned', 'foreign-key', 'bad-signature', 'replayed', 'unsigned']);
    // Nothing of them in the agent's instance, nor in kprobe_events.
    expect(tcpFilter(a)).toBe(real);
    expect(execEnabled(a)).toBe('0');
    // (kprobe_events, where this kernel has it: a tracepoint-mode host may not.)
    if (fs.existsSync('/sys/kernel/tracing/kprobe_events')) expect(fs.readFileSync('/sys/kernel/tracing/kprobe_events', 'utf8')).not.toContain('forged');
    expect(fs.existsSync(path.join(INSTANCES, ourInstances().find((n) => n.startsWith(`probefleet-${a.child.pid}-`))!, 'events/probefleet/forged'))).toBe(false);
    expect(a.logs().filter((l) => l['msg'] === 'policy applied').map((l) => `${String(l['policy'])}@${String(l['version'])}`)).toEqual(['guarded@1', 'guarded@2']);
    expect(await refusedCounts()).toEqual({ unsigned: 3, 'foreign-key': 1, 'bad-signature': 1, replayed: 1 });

    // A real change still goes through, and the host's status follows it (no forged version froze it).
    expect((await api('PUT', 'policies/guarded', spec(other.port))).json).toMatchObject({ version: 3 });
    await eventually('v3 applied', 10_000, async () => (a.logs().some((l) => l['msg'] === 'policy applied' && l['version'] === 3) ? true : undefined));
    const status = await eventually('status applied v3', 20_000, async () => {
      const d = (await api('GET', 'policies/guarded')).json as { hosts?: { host: string; status: string; version: number }[] };
      return d.hosts?.find((h) => h.host === HOST && h.status === 'applied' && h.version === 3);
    });
    expect(status).toBeDefined();
    // Reported in the agent's stream: policy.rejected with why, and no version.
    const rejected = (d: Event[]) => d.filter((e) => e.type === 'policy.rejected' && e.host === HOST);
    const events = (await readTopic(topic, (d) => rejected(d.map((x) => x.event)).length >= 6, 30_000)).map((x) => x.event);
    expect(rejected(events).map((e) => e.data)).toEqual([
      expect.objectContaining({ policy: 'guarded', refused: 'unsigned' }),
      expect.objectContaining({ policy: 'intruder', refused: 'unsigned' }),
      expect.objectContaining({ policy: 'guarded', refused: 'foreign-key', reason: expect.stringContaining('not by a pinned key') }),
      expect.objectContaining({ policy: 'guarded', refused: 'bad-signature', reason: expect.stringContaining('altered or forged') }),
      expect.objectContaining({ policy: 'guarded', refused: 'replayed', reason: expect.stringContaining('older than version 2') }),
      expect.objectContaining({ policy: 'guarded', refused: 'unsigned' }),
    ]);
    for (const e of rejected(events)) expect(e.data).not.toHaveProperty('version');
    a.child.kill('SIGTERM');
    expect(await a.exit).toBe(0);
  });

  it('a tampered cache file is refused on load, not applied', async () => {
    const file = path.join(spool, 'policies.json');
    const cache = JSON.parse(fs.readFileSync(file, 'utf8')) as { records: { key: string; value: string | null }[] };
    const guarded = cache.records.find((r) => r.key === 'guarded')!;
    const value = JSON.parse(Buffer.from(guarded.value!, 'base64').toString('utf8')) as { spec: { filter: { ports: number[] } } };
    expect(value.spec.filter.ports).toEqual([other.port]);
    value.spec.filter.ports = [kept.port];
    guarded.value = Buffer.from(JSON.stringify(value)).toString('base64');
    fs.writeFileSync(file, JSON.stringify(cache));
    // No broker (nothing listens on port 1): the cache alone.
    const a = startAgent({ kafka: { brokers: ['127.0.0.1:1'], topic, retry: { initialMs: 100, maxMs: 500 } } });
    await a.waitForLog('agent started', 30_000);
    await eventually('the cache refusal', 10_000, async () => (refusals(a).length > 0 ? true : undefined));
    await sleep(1000);
    expect(refusals(a).map((l) => [l['key'], l['refused']])).toEqual([['guarded', 'bad-signature']]);
    expect(a.logs().some((l) => l['msg'] === 'policy applied')).toBe(false);
    expect(tcpFilter(a)).toBe('none');
    expect(await refusedCounts()).toEqual({ 'bad-signature': 1 });
    a.child.kill('SIGTERM');
    await a.exit;
  });

  it('without POLICY_SIGNING_KEY_FILE writes answer 503 naming it and reads still work; a key others can read stops the aggregator', async () => {
    const bare = await startAggregator({ DATABASE_URL: db.url, KAFKA_TOPIC: topic, KAFKA_POLICY_TOPIC: policyTopic, CONSUMER_ENABLED: 'false', API_ADMIN_TOKENS: ADMIN });
    try {
      await eventually(`aggregator up; output:\n${bare.output()}`, 30_000, async () => ((await fetch(`${bare.url}/readyz`)).status === 200 ? true : undefined));
      for (const [method, body] of [['PUT', { filter: { ports: [1] } }], ['DELETE', undefined]] as const) {
        const r = await api(method, 'policies/guarded', body, bare.url);
        expect(r.status).toBe(503);
        expect(String(r.json['message'])).toContain('POLICY_SIGNING_KEY_FILE');
      }
      expect((await api('GET', 'policies/guarded', undefined, bare.url)).json).toMatchObject({ name: 'guarded', version: 3 });
    } finally {
      await bare.stop(10_000);
    }
    const open = path.join(keys.dir, 'open.key');
    fs.copyFileSync(keys.keyFile, open);
    fs.chmodSync(open, 0o644);
    const run = await promisify(execFile)(process.execPath, [AGGREGATOR, 'serve'], { env: { ...process.env, DATABASE_URL: db.url, POLICY_SIGNING_KEY_FILE: open }, timeout: 30_000 }).then(() => null, (e: { code: number; stderr: string }) => e);
    expect(run?.code).toBe(1);
    expect(run?.stderr).toMatch(/POLICY_SIGNING_KEY_FILE: .*open\.key: mode 644, readable by others/);
  });

  it('probefleet policy keygen FILE writes a 0600 key and FILE.pub, and refuses to overwrite', async () => {
    const file = path.join(keys.dir, 'made.key');
    const made = await probefleet(['policy', 'keygen', file], db.url);
    expect(made.code).toBe(0);
    expect(made.stdout.trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(`${file}.pub`, 'utf8')).toContain('-----BEGIN PUBLIC KEY-----');
    const again = await probefleet(['policy', 'keygen', file], db.url);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('exists: refusing to overwrite');
  });
});
