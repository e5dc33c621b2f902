// Fleet policies live, through the whole pipeline, on real kernels with kprobes (stock Debian 6.1 and
// 6.12 under qemu): a real aggregator on this host (its API, a throw-away database, the control topic
// on the real broker) and the built agent in each guest (kprobe mode), reaching the broker through
// the lab's network (BootOptions.network: the host's Kafka port served at the guest's 127.0.0.1).
// A kprobe policy PUT through the API is applied by the guest's agent (policy.applied with its
// definition and filter; its hits on the events topic); one the kernel refuses is policy.rejected
// with error_log's message in the API's per-host status; a DELETE removes the probe from the guest's
// tracefs and the host's status turns removed; the exported store replays with no violation. The
// aggregator signs the policies with a throw-away key whose public half the guests' agents pin.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Event } from '@probefleet/events';
import { freshTopic, readTopic, tempDir } from '../support/agent-kafka';
import { createMigratedDatabase, eventually, startAggregator, whenReady } from '../support/aggregator';
import { throwawayPolicyKeys } from '../support/policy-keys';
import { probefleet } from '../support/replay';
import { checkKafka, checkPostgres, deleteTopic, kafkaBrokers } from '../support/stack';
import { CHROOT_SHARE, KERNEL_SERIES, type KernelSeries } from './lab';
import { bootLive, type LiveGuest } from './live';

/** Boot, agent start under TCG and every step below, per guest (both boot at once). */
const BOOT_TIMEOUT_MS = 480_000;
const ADMIN = 'admin-token-lab-live';
const READ = 'read-token-lab-live';
const CONNECTIONS = 3;
const PORT = 41402;
const LINE = 'p:probefleet/policy_connect tcp_v4_connect addrlen=%dx:s32';
const REFUSED_LINE = 'p:probefleet/policy_missing probefleet_no_such_function sk=%di:x64';
const T = '/sys/kernel/tracing';

const tag = (series: KernelSeries) => series.replace('.', '-');
const hostOf = (series: KernelSeries) => `lab-live-${tag(series)}`;

type Stack = Awaited<ReturnType<typeof startStack>>;

/**
 * The aggregator on the host and the agents' configuration, in one place: the control topic, tokens,
 * database and Kafka as both sides see them (the guest's 127.0.0.1:PORT is the host's, forwarded).
 */
async function startStack() {
  // The kernel tier's global set-up checks only qemu & co: name a missing service here.
  await checkKafka();
  await checkPostgres();
  const brokers = kafkaBrokers();
  const ports = brokers.map((b) => {
    const m = /^(?:127\.0\.0\.1|localhost):(\d+)$/.exec(b);
    if (!m) throw new Error(`KAFKA_BROKERS: the lab forwards the host's loopback only, not ${b}`);
    return Number(m[1]);
  });
  const topic = await freshTopic('lab-live');
  const policyTopic = `lab-live-control-${randomUUID().slice(0, 8)}`;
  const db = await createMigratedDatabase();
  const keys = throwawayPolicyKeys();
  const agg = await startAggregator({ DATABASE_URL: db.url, KAFKA_TOPIC: topic, KAFKA_POLICY_TOPIC: policyTopic, KAFKA_CREATE_TOPIC: 'true', API_TOKENS: READ, API_ADMIN_TOKENS: ADMIN, POLICY_SIGNING_KEY_FILE: keys.keyFile });
  await whenReady(agg, 30_000);
  const agentConfig = (host: string) => ({
    host, mode: 'kprobe', sink: 'kafka', metrics: { port: 0 }, statsIntervalS: 1,
    kafka: { brokers, topic, lingerMs: 5 }, policies: { enabled: true, topic: policyTopic, publicKeyFile: `${CHROOT_SHARE}/policy.pub` }, spool: { dir: '/tmp/agent-spool' },
  });
  /** The files of a guest's share: its agent's config and the policy public key it names. */
  const agentFiles = (host: string) => ({ 'agent.yaml': JSON.stringify(agentConfig(host)), 'policy.pub': fs.readFileSync(keys.publicKeyFile, 'utf8') });
  return {
    topic, db, agg, ports, agentFiles,
    async stop() {
      await agg.stop(10_000);
      await db.drop();
      await deleteTopic(topic);
      await deleteTopic(policyTopic);
      keys.remove();
    },
  };
}

const CONNECT = `const net = require('node:net');
const s = net.createServer((c) => c.end()).listen(${PORT}, '127.0.0.1', async () => {
  for (let i = 0; i < ${CONNECTIONS}; i++) await new Promise((r) => { const c = net.connect(${PORT}, '127.0.0.1'); c.resume(); c.on('close', r); c.on('error', r); });
  s.close();
});
`;
const GUEST_SCRIPT = `set -u
inhost "$NODE" apps/agent/dist/main.js run --config "$CHROOT_SHARE/agent.yaml" > /share/agent.out 2> /share/agent.log &
AGENT_PID=$!
`;
const TEARDOWN = `kill -INT $AGENT_PID; wait $AGENT_PID; echo $? > /share/agent.rc
cat ${T}/kprobe_events > /share/kprobe_events.after
`;
/** The guest's tracefs as the agent left it: global kprobe_events, then its instance's probe events. */
const TRACEFS_DUMP = `cat ${T}/kprobe_events; echo ---; ls -d ${T}/instances/probefleet-*/events/probefleet/* 2>/dev/null; true`;

let stack: Stack;
const guests = new Map<KernelSeries, Promise<LiveGuest>>();
const dirs: string[] = [];

async function api(method: string, route: string, token: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${stack.agg.url}/api/v1/${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (res.status >= 500) throw new Error(`${method} ${route}: ${res.status} ${text}\n${stack.agg.output().slice(-4000)}`);
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

interface HostStatus { host: string; status: string; version: number | null; reason: string | null; line: string | null; kernel: string | null; definitions: unknown; filters: unknown }
const hostStatus = async (policy: string, host: string, status: string): Promise<HostStatus | undefined> => {
  const r = await api('GET', `policies/${policy}`, READ);
  return (r.json['hosts'] as HostStatus[] | undefined)?.find((h) => h.host === host && h.status === status);
};

beforeAll(async () => {
  stack = await startStack();
  for (const series of KERNEL_SERIES) {
    const g = bootLive({
      series, guestScript: GUEST_SCRIPT, teardownScript: TEARDOWN, timeoutMs: BOOT_TIMEOUT_MS, network: { forward: stack.ports },
      files: { ...stack.agentFiles(hostOf(series)), 'connect.js': CONNECT },
    });
    g.catch(() => undefined); // reported by the tests that await it
    guests.set(series, g);
  }
}, 120_000);

// The finally of every test: guests stopped (killed when they do not power off), then the host side.
afterAll(async () => {
  for (const g of guests.values()) await g.then((x) => x.shutdown(60_000)).then((r) => r.cleanup(), () => undefined);
  await stack?.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
}, 180_000);

describe.each(KERNEL_SERIES)('a live kprobe policy on the Debian %s generic kernel', (series) => {
  const host = hostOf(series);
  const policy = `live-connect-${tag(series)}`;
  const refused = `live-refused-${tag(series)}`;
  const ofHost = (events: Event[]) => events.filter((e) => e.host === host);
  let guest: LiveGuest;

  beforeAll(async () => {
    guest = await guests.get(series)!;
    await guest.waitFor('agent.log', (t) => t.includes('following the policy topic'), BOOT_TIMEOUT_MS - 60_000);
  }, BOOT_TIMEOUT_MS);

  it('a PUT through the API reaches the agent over Kafka: applied with its definition and filter, and its hits arrive', async () => {
    const put = await api('PUT', `policies/${policy}`, ADMIN, {
      selector: { hosts: [host], modes: ['kprobe'] },
      probes: [{ name: 'policy_connect', symbol: 'tcp_v4_connect', args: [{ name: 'addrlen', fetch: '%dx', type: 's32' }] }],
      filter: { probes: { policy_connect: [{ field: 'addrlen', op: '==', value: 16 }] } },
    });
    expect(put).toMatchObject({ status: 200, json: { version: 1, published: true } });
    await guest.waitFor('agent.log', (t) => t.includes('"msg":"policy applied"'), 60_000);
    const tracefs = await guest.exec(`${TRACEFS_DUMP}; cat ${T}/instances/probefleet-*/events/probefleet/policy_connect/filter`);
    expect(tracefs.out).toContain('p:probefleet/policy_connect tcp_v4_connect');
    expect(tracefs.out).toContain('addrlen == 16');
    expect(await guest.exec('inhost "$NODE" "$CHROOT_SHARE/connect.js"')).toEqual({ code: 0, out: '' });
    const hitsOf = (events: Event[]) => ofHost(events).filter((e) => e.type === 'probe.hit' && e.data.probe === 'policy_connect');
    const events = (await readTopic(stack.topic, (d) => hitsOf(d.map((x) => x.event)).length >= CONNECTIONS, 60_000)).map((d) => d.event);
    expect(ofHost(events).filter((e) => e.type === 'policy.applied').map((e) => e.data)).toEqual([
      { policy, version: 1, definitions: [LINE], filters: [{ event: 'policy_connect', filter: 'addrlen == 16' }] },
    ]);
    const hits = hitsOf(events);
    expect(hits.length).toBeGreaterThanOrEqual(CONNECTIONS);
    expect(hits.every((h) => h.type === 'probe.hit' && h.data.args['addrlen'] === 16)).toBe(true);
    // The store has it too: the API's per-host status.
    const status = await eventually('status applied', 20_000, () => hostStatus(policy, host, 'applied'));
    expect(status).toMatchObject({ version: 1, definitions: [LINE], filters: [{ event: 'policy_connect', filter: 'addrlen == 16' }] });
  });

  it("a policy the kernel refuses comes back as policy.rejected with error_log's message, in the API's per-host status", async () => {
    const put = await api('PUT', `policies/${refused}`, ADMIN, {
      selector: { hosts: [host] },
      probes: [{ name: 'policy_missing', symbol: 'probefleet_no_such_function', args: [{ name: 'sk', fetch: '%di', type: 'x64' }] }],
    });
    expect(put).toMatchObject({ status: 200, json: { version: 1 } });
    const status = await eventually('status rejected', 60_000, () => hostStatus(refused, host, 'rejected'));
    expect(status).toMatchObject({ version: 1, line: REFUSED_LINE });
    expect(status.reason).toContain('the kernel refused a probe');
    expect(status.kernel).toContain('Invalid probed address or symbol'); // both kernels' error_log
    expect((await guest.exec(TRACEFS_DUMP)).out).not.toContain('policy_missing');
  });

  it("a live DELETE removes the probe from the guest's tracefs and the host's status turns removed", async () => {
    expect(await api('DELETE', `policies/${policy}`, ADMIN)).toMatchObject({ status: 200, json: { version: 2, deleted: true, published: true } });
    await guest.waitFor('agent.log', (t) => t.includes('"msg":"policy removed"'), 60_000);
    const tracefs = await guest.exec(TRACEFS_DUMP);
    expect(tracefs.code).toBe(0);
    expect(tracefs.out).not.toContain('policy_connect');
    expect(tracefs.out).toContain('---'); // the dump ran
    // The deleted policy's per-host status in the API: removed once the guest has reported it.
    const detail = await eventually('removed in the API', 20_000, async () => {
      const r = await api('GET', `policies/${policy}`, READ);
      const hosts = (r.json as { hosts?: { host: string; status: string }[] }).hosts ?? [];
      return hosts.some((h) => h.host === host && h.status === 'removed') ? r.json : undefined;
    });
    expect(detail).toMatchObject({ deleted: true, version: 2, spec: null });
  });
});

describe('after both guests', () => {
  it('the agents stop cleanly, and the exported store replays with no violation', async () => {
    for (const [series, g] of guests) {
      const r = await (await g).shutdown(90_000);
      expect(`${series}: ${r.read('agent.rc').trim()}`).toBe(`${series}: 0`);
      expect(r.read('kprobe_events.after')).not.toContain('policy_');
      r.cleanup();
    }
    // Every agent's stop stored: the stream is whole.
    await eventually('agents stopped in the store', 30_000, async () => {
      const { items } = await stack.agg.get<{ items: { host: string; stoppedAt: string | null }[] }>('/api/v1/agents');
      const ours = items.filter((a) => KERNEL_SERIES.some((s) => a.host === hostOf(s)));
      return ours.length === KERNEL_SERIES.length && ours.every((a) => a.stoppedAt) ? true : undefined;
    });
    const file = path.join(tempDir('lab-live-export-'), 'store.ndjson');
    dirs.push(path.dirname(file));
    expect((await probefleet(['export', '-o', file], stack.db.url)).code).toBe(0);
    const types = new Set(fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as Event).type));
    for (const t of ['policy.put', 'policy.deleted', 'policy.applied', 'policy.rejected', 'policy.removed', 'probe.hit']) expect(types).toContain(t);
    const replayed = await probefleet(['replay', file], stack.db.url);
    expect(replayed.stderr).toBe('');
    expect(replayed.code).toBe(0);
  }, 240_000);
});
