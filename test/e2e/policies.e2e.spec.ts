// Fleet policies end to end, for real: the built aggregator (its API on a throw-away database, the
// compacted control topic on the real broker) and the built agent on this machine's kernel
// (tracepoint mode, real tracefs, as root). Hostile policies are 400s that never reach the topic
// (read back to check); writes need an admin token; a filter policy takes effect in the agent's own
// instance within 5 s (transitions outside it stop) and is removed again; the kernel's refusal comes
// back as policy.rejected with its error_log message; a restarted agent re-applies the set (also a
// version changed while it was down); an agent without its broker applies its cached set; the store
// exported with its policies replays with no violation. Policies are signed with a throw-away key
// (the aggregator's POLICY_SIGNING_KEY_FILE, the agent's policies.publicKeyFile); forged records are
// policies-signing.e2e.spec.ts's.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Event } from '@probefleet/events';
import { brokers, closingServer, connectOnce, freshTopic, ourInstances, readTopic, sleep, startKafkaAgent, tempDir, type KafkaAgent } from '../support/agent-kafka';
import { createMigratedDatabase, eventually, startAggregator, type Aggregator, type TempDatabase } from '../support/aggregator';
import { probefleet } from '../support/replay';
import { readControlRecords, throwawayPolicyKeys, type PolicyKeys } from '../support/policy-keys';
import { deleteTopic, kafkaClient } from '../support/stack';

jest.setTimeout(180_000);

const ADMIN = 'admin-token-policies';
const READ = 'read-token-policies';
const INSTANCES = '/sys/kernel/tracing/instances';
const suite = `e2e-${randomUUID().slice(0, 8)}`;

let topic: string;
let policyTopic: string;
let db: TempDatabase;
let agg: Aggregator;
let keys: PolicyKeys;
const dirs: string[] = [];
const agents: KafkaAgent[] = [];

async function api(method: string, route: string, token: string | null, body?: unknown, type = 'application/json'): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${agg.url}/api/v1/${route}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': type }) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  // A server error is the aggregator's: say what it logged.
  if (res.status >= 500) throw new Error(`${method} ${route}: ${res.status} ${text}\n${agg.output().slice(-4000)}`);
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** Every message of the control topic: [key, value or null]. */
async function controlTopic(ms = 15_000): Promise<[string, unknown][]> {
  return (await readControlRecords(policyTopic, ms)).map((m) => [m.key.toString(), m.value === null ? null : JSON.parse(m.value.toString())]);
}

function agentConfig(spool: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { mode: 'tracepoint', host: `policies-${suite}`, labels: { suite }, kafka: { brokers: brokers(), topic, lingerMs: 5 }, policies: { enabled: true, topic: policyTopic, publicKeyFile: keys.publicKeyFile }, spool: { dir: spool }, statsIntervalS: 0.5, ...over };
}

function startAgent(spool: string, over: Record<string, unknown> = {}): KafkaAgent {
  const a = startKafkaAgent(agentConfig(spool, over));
  agents.push(a);
  return a;
}

async function stopAgent(a: KafkaAgent): Promise<void> {
  a.child.kill('SIGTERM');
  expect(await a.exit).toBe(0);
}

/** The filter file of the TCP tracepoint in the agent's own instance (probefleet-<pid>-<instance>). */
function tcpFilterFile(agent: KafkaAgent): string {
  const inst = ourInstances().find((n) => n.startsWith(`probefleet-${agent.child.pid}-`));
  if (!inst) throw new Error(`no probefleet instance of pid ${agent.child.pid}`);
  return fs.readFileSync(path.join(INSTANCES, inst, 'events/sock/inet_sock_set_state/filter'), 'utf8').trim();
}

const hitsOn = (events: Event[], port: number) =>
  events.filter((e) => e.type === 'probe.hit' && (e.data.args['sport'] === port || e.data.args['dport'] === port));
const ofPolicy = (events: Event[], type: string, policy: string) =>
  events.filter((e) => e.type === type && (e.data as { policy?: string }).policy === policy);

beforeAll(async () => {
  if (process.geteuid?.() !== 0) throw new Error('needs root (the agent reads tracefs)');
  topic = await freshTopic('policies-e2e');
  policyTopic = `policies-e2e-control-${randomUUID().slice(0, 8)}`;
  db = await createMigratedDatabase();
  keys = throwawayPolicyKeys();
  // The aggregator creates the control topic itself (compacted), the events topic exists.
  agg = await startAggregator({ DATABASE_URL: db.url, KAFKA_TOPIC: topic, KAFKA_POLICY_TOPIC: policyTopic, KAFKA_CREATE_TOPIC: 'true', API_TOKENS: READ, API_ADMIN_TOKENS: ADMIN, POLICY_SIGNING_KEY_FILE: keys.keyFile });
  await eventually(`aggregator up; output:\n${agg.output()}`, 30_000, async () => ((await fetch(`${agg.url}/readyz`)).status === 200 ? true : undefined));
});

afterEach(async () => {
  // One agent at a time (they share a host name): a failed test's is stopped here.
  for (const a of agents) if (a.child.exitCode === null) {
    a.child.kill('SIGTERM');
    await a.exit;
  }
});

afterAll(async () => {
  await agg?.stop(10_000);
  await db?.drop();
  await deleteTopic(topic);
  await deleteTopic(policyTopic);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  keys?.remove();
});

describe('fleet policies', () => {
  it('writes need an admin token: none is 401, a read token 403', async () => {
    const body = { filter: { ports: [443] } };
    expect((await api('PUT', 'policies/no-token', null, body)).status).toBe(401);
    expect((await api('PUT', 'policies/no-token', READ, body)).status).toBe(403);
    expect((await api('DELETE', 'policies/no-token', READ)).status).toBe(403);
    expect((await api('GET', 'policies', null)).status).toBe(401);
    expect((await api('GET', 'policies', READ)).json).toEqual({ items: [] });
  });

  it('the control topic is compacted', async () => {
    const admin = kafkaClient('policies-e2e-admin').admin();
    await admin.connect();
    try {
      const d = await admin.describeConfigs({ resources: [{ type: 2, name: policyTopic, configNames: ['cleanup.policy'] }], includeSynonyms: false });
      expect(d.resources[0]?.configEntries.find((c) => c.configName === 'cleanup.policy')?.configValue).toBe('compact');
    } finally {
      await admin.disconnect();
    }
  });

  it.each([
    ['a newline in a symbol', { probes: [{ name: 'x', symbol: 'tcp_v4_connect\np:evil/x do_exit' }] }, 'probes[0].symbol'],
    ['a second definition in a fetch arg', { probes: [{ name: 'x', symbol: 'tcp_v4_connect', args: [{ name: 'a', fetch: '%di -:probefleet/tcp_set_state', type: 'u8' }] }] }, 'probes[0].args[0].fetch'],
    ['a bad register', { probes: [{ name: 'x', symbol: 'tcp_v4_connect', args: [{ name: 'a', fetch: '%rax', type: 'u64' }] }] }, 'probes[0].args[0].fetch'],
    ['a bad type', { probes: [{ name: 'x', symbol: 'tcp_v4_connect', args: [{ name: 'a', fetch: '%di', type: 'u128' }] }] }, 'probes[0].args[0].type'],
    ['a filter operator smuggled into a value', { filter: { ports: ['443 || 1'] } }, 'filter.ports[0]'],
    ['an operator in a probe filter value', { probes: [{ name: 'x', symbol: 'tcp_v4_connect', args: [{ name: 'a', fetch: '%di', type: 'u64' }] }], filter: { probes: { x: [{ field: 'a', op: '==', value: '1 || a > 0' }] } } }, 'filter.probes.x[0].value'],
    ['a newline in a host glob', { selector: { hosts: ['web\n*'] }, filter: { ports: [80] } }, 'selector.hosts[0]'],
    ['an unknown key', { filter: { ports: [80] }, exec: 'rm -rf /' }, '(policy)'],
  ])('refuses %s with a 400 naming the field', async (_why, body, field) => {
    const r = await api('PUT', 'policies/hostile', ADMIN, body);
    expect(r.status).toBe(400);
    expect(String(r.json['message'])).toContain(`${field}:`);
  });

  it('refuses a hostile YAML body and a bad name alike, and none of them reached the topic', async () => {
    const yaml = 'probes:\n  - name: x\n    symbol: "tcp_v4_connect\\n-:probefleet/tcp_set_state"\n';
    const r = await api('PUT', 'policies/hostile-yaml', ADMIN, yaml, 'application/yaml');
    expect(r.status).toBe(400);
    expect(String(r.json['message'])).toContain('probes[0].symbol:');
    expect((await api('PUT', 'policies/Bad%20Name', ADMIN, { filter: { ports: [1] } })).status).toBe(400);
    expect((await api('PUT', 'policies/other-name', ADMIN, 'name: not-this\nfilter: {ports: [1]}\n', 'application/yaml')).status).toBe(400);
    // A valid one as a marker: the topic holds it, and nothing else.
    const ok = await api('PUT', 'policies/marker', ADMIN, 'name: marker\nselector:\n  hosts: [no-such-host]\nfilter:\n  ports: [9]\n', 'application/yaml');
    expect(ok).toMatchObject({ status: 200, json: { name: 'marker', version: 1, published: true } });
    const messages = await controlTopic();
    expect(messages.map(([k]) => k)).toEqual(['marker']);
    expect(messages[0]?.[1]).toMatchObject({ name: 'marker', version: 1, spec: { selector: { hosts: ['no-such-host'] }, filter: { ports: [9] } } });
    expect((await api('GET', 'policies', READ)).json['items']).toEqual([expect.objectContaining({ name: 'marker', version: 1 })]);
  });

  const spool = tempDir('policies-spool-');
  dirs.push(spool);
  let kept: Awaited<ReturnType<typeof closingServer>>;
  let other: Awaited<ReturnType<typeof closingServer>>;

  it('a filter policy reaches a real agent (tracepoint mode) within 5 s, transitions outside it stop, and a delete removes it', async () => {
    kept = await closingServer();
    other = await closingServer();
    const agent = startAgent(spool);
    await agent.waitForLog('agent started', 30_000);
    await agent.waitForLog('following the policy topic', 30_000);
    expect(tcpFilterFile(agent)).toBe('none');
    await connectOnce(other.port);
    const put = Date.now();
    const r = await api('PUT', `policies/only-kept`, ADMIN, { selector: { labels: { suite }, modes: ['tracepoint'] }, filter: { ports: [kept.port], families: ['AF_INET'] } });
    expect(r).toMatchObject({ status: 200, json: { version: 1, published: true } });
    await eventually('policy applied', 5000, async () => (agent.logs().some((l) => l['msg'] === 'policy applied') ? true : undefined));
    const tookMs = Date.now() - put;
    expect(tookMs).toBeLessThan(5000);
    expect(tcpFilterFile(agent)).toBe(`(sport == ${kept.port} || dport == ${kept.port}) && family == 2`);
    for (let i = 0; i < 3; i++) {
      await connectOnce(other.port);
      await connectOnce(kept.port);
    }
    const del = await api('DELETE', 'policies/only-kept', ADMIN);
    expect(del).toMatchObject({ status: 200, json: { version: 2, deleted: true, published: true } });
    await eventually('policy removed', 5000, async () => (agent.logs().some((l) => l['msg'] === 'policy removed') ? true : undefined));
    // The deleted policy's per-host status: removed once the host has reported it.
    const gone = await eventually('removed in the API', 20_000, async () => {
      const r = await api('GET', 'policies/only-kept', READ);
      return (r.json as { hosts?: { status: string }[] }).hosts?.[0]?.status === 'removed' ? r : undefined;
    });
    expect(gone).toMatchObject({ status: 200, json: { deleted: true, version: 2, spec: null, summary: { removed: 1, pending: 0 } } });
    expect(tcpFilterFile(agent)).toBe('none');
    await connectOnce(other.port);
    await sleep(500);
    // Read until the other port's transitions after the removal are there.
    const afterRemoval = (d: Event[]) => {
      const r = ofPolicy(d, 'policy.removed', 'only-kept')[0];
      return r !== undefined && hitsOn(d.filter((e) => e.instance === r.instance && BigInt(e.monoNs ?? '0') > BigInt(r.monoNs ?? '0')), other.port).length > 0;
    };
    const events = (await readTopic(topic, (d) => afterRemoval(d.map((x) => x.event)), 30_000)).map((d) => d.event);
    const applied = ofPolicy(events, 'policy.applied', 'only-kept')[0]!;
    const removed = ofPolicy(events, 'policy.removed', 'only-kept')[0]!;
    expect(applied.data).toEqual({ policy: 'only-kept', version: 1, definitions: [], filters: [{ event: 'inet_sock_set_state', filter: `(sport == ${kept.port} || dport == ${kept.port}) && family == 2` }] });
    expect(removed.data).toEqual({ policy: 'only-kept', version: 1 });
    // Between the two on the trace clock (hits are read from the ring buffer after the fact, so
    // their seqs may follow a later report): hits on the kept port only.
    const mono = (e: Event) => BigInt(e.monoNs ?? '0');
    const between = events.filter((e) => e.instance === applied.instance && mono(e) > mono(applied) && mono(e) < mono(removed));
    expect(hitsOn(between, kept.port).length).toBeGreaterThanOrEqual(3 * 3);
    expect(hitsOn(between, other.port)).toEqual([]);
    // Before and after, the other port's transitions are recorded.
    const stream = events.filter((e) => e.instance === applied.instance);
    expect(hitsOn(stream.filter((e) => mono(e) < mono(applied)), other.port).length).toBeGreaterThan(0);
    expect(hitsOn(stream.filter((e) => mono(e) > mono(removed)), other.port).length).toBeGreaterThan(0);
    await stopAgent(agent);
    process.stdout.write(`policy applied ${tookMs} ms after the PUT\n`);
  });

  it("the kernel's refusal comes back as policy.rejected with error_log's message and the line, and the status says why", async () => {
    const agent = startAgent(spool);
    await agent.waitForLog('following the policy topic', 30_000);
    const body = { selector: { labels: { suite } }, tracepoints: [{ name: 'execs', tracepoint: 'sched:sched_process_exec' }], filter: { probes: { execs: [{ field: 'no_such_field', op: '==', value: 1 }] } } };
    expect((await api('PUT', 'policies/refused', ADMIN, body)).status).toBe(200);
    await eventually('policy rejected', 10_000, async () => (agent.logs().some((l) => String(l['msg']).startsWith('policy rejected')) ? true : undefined));
    const detail = await eventually('status rejected', 20_000, async () => {
      const d = (await api('GET', 'policies/refused', READ)).json as { hosts?: { host: string; status: string }[] };
      return d.hosts?.some((h) => h.status === 'rejected') ? d : undefined;
    });
    const host = (detail.hosts as { host: string; status: string; reason: string; line: string; kernel: string }[]).find((h) => h.host === `policies-${suite}`)!;
    expect(host).toMatchObject({ status: 'rejected', line: 'no_such_field == 1' });
    expect(host.kernel).toMatch(/field/i);
    expect(host.reason).toContain('the kernel refused a filter');
    // Nothing of it stays: the tracepoint is not enabled in the agent's instance.
    expect(fs.readFileSync(path.join(INSTANCES, ourInstances().find((n) => n.startsWith(`probefleet-${agent.child.pid}-`))!, 'events/sched/sched_process_exec/enable'), 'utf8').trim()).toBe('0');
    expect((await api('DELETE', 'policies/refused', ADMIN)).status).toBe(200);
    await stopAgent(agent);
  });

  it('a restarted agent re-applies the current set, a version changed while it was down included', async () => {
    expect((await api('PUT', 'policies/restart', ADMIN, { selector: { labels: { suite } }, filter: { ports: [kept.port] } })).json).toMatchObject({ version: 1 });
    let agent = startAgent(spool);
    await agent.waitForLog('policy applied', 15_000);
    expect(tcpFilterFile(agent)).toBe(`(sport == ${kept.port} || dport == ${kept.port})`);
    await stopAgent(agent);
    agent = startAgent(spool);
    await agent.waitForLog('policy applied', 15_000);
    expect(tcpFilterFile(agent)).toBe(`(sport == ${kept.port} || dport == ${kept.port})`);
    await stopAgent(agent);
    // Changed while no agent runs: the next start applies version 2.
    expect((await api('PUT', 'policies/restart', ADMIN, { selector: { labels: { suite } }, filter: { ports: [other.port] } })).json).toMatchObject({ version: 2 });
    agent = startAgent(spool);
    await eventually('version 2 applied', 15_000, async () => (agent.logs().some((l) => l['msg'] === 'policy applied' && l['version'] === 2) ? true : undefined));
    expect(tcpFilterFile(agent)).toBe(`(sport == ${other.port} || dport == ${other.port})`);
    await stopAgent(agent);
    const status = await eventually('status applied v2', 20_000, async () => {
      const d = (await api('GET', 'policies/restart', READ)).json as { hosts?: { host: string; status: string; version: number }[] };
      return d.hosts?.find((h) => h.host === `policies-${suite}` && h.status === 'applied' && h.version === 2);
    });
    expect(status).toBeDefined();
  });

  it('an agent without its broker applies its cached set', async () => {
    // The records as signed: puts (their value base64) and the deletes (tombstones) with their versions.
    const cached = JSON.parse(fs.readFileSync(path.join(spool, 'policies.json'), 'utf8')) as { format: number; records: { key: string; value: string | null; headers: Record<string, string> }[] };
    expect(cached.format).toBe(2);
    const puts = cached.records.filter((r) => r.value !== null).map((r) => JSON.parse(Buffer.from(r.value!, 'base64').toString('utf8')) as { name: string; version: number });
    expect(puts.map((r) => `${r.name}@${r.version}`).sort()).toEqual(['marker@1', 'restart@2']);
    expect(cached.records.filter((r) => r.value === null).map((r) => `${r.key}@${r.headers['policy-version']}`).sort()).toEqual(['only-kept@2', 'refused@2']);
    expect(cached.records.every((r) => r.headers['policy-sig-key'] === keys.signer.publicKey)).toBe(true);
    // A broker that is not there: nothing listens on port 1.
    const agent = startAgent(spool, { kafka: { brokers: ['127.0.0.1:1'], topic, retry: { initialMs: 100, maxMs: 500 } } });
    const log = await agent.waitForLog('policy applied', 15_000);
    expect(log).toMatchObject({ policy: 'restart', version: 2 });
    expect(tcpFilterFile(agent)).toBe(`(sport == ${other.port} || dport == ${other.port})`);
    expect(agent.logs().some((l) => l['msg'] === 'following the policy topic')).toBe(false);
    agent.child.kill('SIGTERM');
    await agent.exit;
  });

  it('the CLI applies a file, lists, gets, shows the per-host status and deletes', async () => {
    const cli = (args: string[], token: string) => probefleet(['policy', ...args, '--url', agg.url, '--token', token], db.url);
    const file = path.join(tempDir('policies-cli-'), 'policy.yaml');
    dirs.push(path.dirname(file));
    fs.writeFileSync(file, 'name: cli-policy\nselector:\n  hosts: ["nowhere-*"]\nfilter:\n  ports: [9]\n');
    expect((await cli(['apply', '-f', file], READ)).code).toBe(1);
    const applied = await cli(['apply', '-f', file], ADMIN);
    expect(applied.code).toBe(0);
    expect(JSON.parse(applied.stdout)).toMatchObject({ name: 'cli-policy', version: 1, deleted: false, published: true });
    const list = await cli(['list', '-o', 'json'], READ);
    expect((JSON.parse(list.stdout) as { name: string }[]).map((p) => p.name)).toEqual(['cli-policy', 'marker', 'restart']);
    expect(JSON.parse((await cli(['get', 'cli-policy'], READ)).stdout)).toMatchObject({ name: 'cli-policy', version: 1, spec: { selector: { hosts: ['nowhere-*'] }, filter: { ports: [9] } } });
    const status = await cli(['status', 'restart', '-o', 'json'], READ);
    expect(JSON.parse(status.stdout)).toEqual([expect.objectContaining({ host: `policies-${suite}`, status: 'applied', version: 2 })]);
    expect(JSON.parse((await cli(['delete', 'cli-policy'], ADMIN)).stdout)).toMatchObject({ name: 'cli-policy', version: 2, deleted: true });
    // A deleted policy stays readable (its hosts' removal in `status`): no spec, its version counted on.
    expect(JSON.parse((await cli(['get', 'cli-policy'], READ)).stdout)).toMatchObject({ name: 'cli-policy', version: 2, deleted: true, spec: null });
    expect((await cli(['get', 'no-such-policy'], READ)).code).toBe(1);
    fs.writeFileSync(file, 'name: cli-policy\nfilter:\n  ports: ["1 || 1"]\n');
    const bad = await cli(['apply', '-f', file], ADMIN);
    expect(bad).toMatchObject({ code: 2 });
    expect(bad.stderr).toContain('filter.ports[0]');
  });

  it('the store exported with its policies replays with no violation', async () => {
    await eventually('the agents stored', 20_000, async () => {
      const d = (await api('GET', 'policies/restart', READ)).json as { hosts?: unknown[] };
      return d.hosts?.length ? true : undefined;
    });
    const file = path.join(tempDir('policies-export-'), 'store.ndjson');
    dirs.push(path.dirname(file));
    const exported = await probefleet(['export', '-o', file], db.url);
    expect(exported.code).toBe(0);
    const types = new Set(fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as Event).type));
    for (const t of ['policy.put', 'policy.deleted', 'policy.applied', 'policy.rejected', 'policy.removed']) expect(types).toContain(t);
    const replayed = await probefleet(['replay', file], db.url);
    expect(replayed.stderr).toBe('');
    expect(replayed.code).toBe(0);
  });
});
