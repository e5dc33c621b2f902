// The built agent against this machine's real kernel in tracepoint mode (it has no kprobe_events):
// loopback connections on ports the test picks must come out of the stdout sink as exactly the
// kernel's transitions, and the agent must leave nothing in tracefs — also after kill -9 + cleanup.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { decodeEvent, encodeEvent, type Event } from '@probefleet/events';
import { replay } from '@probefleet/kprobe-model';
import { ACCEPTED, REFUSED, freePort, refusedConnect } from '../support/loopback';

const REPO = path.resolve(__dirname, '..', '..');
const AGENT = path.join(REPO, 'apps/agent/dist/main.js');
const INSTANCES = '/sys/kernel/tracing/instances';

const debugfsMounted = () => / debugfs /.test(fs.readFileSync('/proc/mounts', 'utf8'));
const ourInstances = () => fs.readdirSync(INSTANCES).filter((n) => n.startsWith('probefleet-'));

interface Agent {
  child: ChildProcess;
  events: Event[];
  stderr: () => string;
  waitFor: (pred: (e: Event) => boolean, ms: number) => Promise<Event>;
  exit: Promise<number | null>;
}

function startAgent(args: string[], env: NodeJS.ProcessEnv = {}): Agent {
  const child = spawn(process.execPath, [AGENT, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const events: Event[] = [];
  const listeners = new Set<() => void>();
  let err = '';
  let partial = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      const r = decodeEvent(l);
      if (!r.ok) throw new Error(`agent printed an invalid event: ${l}`);
      events.push(r.value);
    }
    for (const f of listeners) f();
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const waitFor = (pred: (e: Event) => boolean, ms: number) =>
    new Promise<Event>((resolve, reject) => {
      const check = () => {
        const e = events.find(pred);
        if (!e) return;
        cleanupWait();
        resolve(e);
      };
      const timer = setTimeout(() => { cleanupWait(); reject(new Error(`agent: no such event within ${ms} ms; stderr:\n${err}`)); }, ms);
      const cleanupWait = () => { clearTimeout(timer); listeners.delete(check); };
      listeners.add(check);
      check();
    });
  return { child, events, stderr: () => err, waitFor, exit };
}

/** Server ends each connection at once (active close); the client closes when it sees the FIN. */
function connectOnce(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((c) => c.end());
    server.listen(0, host, () => {
      const port = (server.address() as net.AddressInfo).port;
      const client = net.connect(port, host);
      client.on('error', reject);
      client.resume();
      client.on('close', () => server.close(() => resolve(port)));
    });
  });
}

type Hit = { skaddr: string; family: string; saddr: string; daddr: string; sport: number; dport: number; oldstate: string; newstate: string };
const tcpHits = (events: Event[]): Hit[] =>
  events.flatMap((e) => (e.type === 'probe.hit' ? [e.data.args as unknown as Hit] : []));
const transition = (h: Hit) => `${h.oldstate.replace('TCP_', '')}->${h.newstate.replace('TCP_', '')}`;

/**
 * Groups the hits of one port by role — told apart by the hit, not by skaddr — and checks skaddr:
 * one per socket across all its transitions, different between the port's sockets.
 */
function bySocket(hits: Hit[], port: number): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const skaddrs: Record<string, Set<string>> = {};
  for (const h of hits.filter((x) => x.sport === port || x.dport === port)) {
    const role = h.dport === port ? 'client' : h.dport === 0 ? 'listener' : 'child';
    (out[role] ??= []).push(transition(h));
    (skaddrs[role] ??= new Set()).add(h.skaddr);
  }
  for (const [role, s] of Object.entries(skaddrs)) {
    if (s.size !== 1) throw new Error(`port ${port}: the ${role} transitions carry ${s.size} skaddrs: ${[...s].join(' ')}`);
  }
  const all = Object.values(skaddrs).map((s) => [...s][0] as string);
  if (new Set(all).size !== all.length) throw new Error(`port ${port}: sockets share an skaddr: ${all.join(' ')}`);
  for (const a of all) if (!/^0x[0-9a-f]{8,16}$/.test(a)) throw new Error(`port ${port}: skaddr ${a} is not a kernel address`);
  return out;
}

beforeAll(() => {
  if (!fs.existsSync(AGENT)) throw new Error(`${AGENT} missing: run \`npx nx build @probefleet/agent\` first`);
  if (process.geteuid?.() !== 0) throw new Error('needs root (tracefs)');
});

describe('probefleet-agent run, tracepoint mode, real kernel', () => {
  it('reports exactly the transitions of IPv4, IPv6 and refused loopback connections, then leaves nothing behind', async () => {
    // Picked before the agent starts: finding a free port makes a listener the agent would see.
    const refusedPort = await freePort('127.0.0.1');
    const refused6 = await freePort('::1');
    const debugfsBefore = debugfsMounted();
    const agent = startAgent(['run', '--sink', 'stdout', '--format', 'json', '--duration', '6']);
    await agent.waitFor((e) => e.type === 'probe.armed', 15_000);
    const v4 = await connectOnce('127.0.0.1');
    const v6 = await connectOnce('::1');
    await refusedConnect('127.0.0.1', refusedPort);
    await refusedConnect('::1', refused6);
    expect(await agent.exit).toBe(0);

    const ev = agent.events;
    expect(ev.map((e) => e.seq)).toEqual(ev.map((_, i) => i + 1));
    expect(new Set(ev.map((e) => e.instance)).size).toBe(1);
    expect(ev[0]).toMatchObject({ type: 'agent.started', data: { mode: 'tracepoint' } });
    expect(ev[ev.length - 1]).toMatchObject({ type: 'agent.stopped', data: { reason: 'duration elapsed' } });
    const lifecycle = ev.filter((e) => e.type.startsWith('probe.') && e.type !== 'probe.hit').map((e) => e.type);
    expect(lifecycle).toEqual(['probe.registered', 'probe.armed', 'probe.disarmed', 'probe.unregistered']);
    // A tracepoint has no kprobe: no mechanism nor address on probe.armed, no probe.state (issue 18),
    // and a kernel without kprobes has no kprobes/list to mount debugfs for.
    expect(ev.find((e) => e.type === 'probe.armed')?.data).toEqual({ probe: 'inet_sock_set_state' });
    expect(debugfsMounted()).toBe(debugfsBefore);
    const monos = ev.filter((e) => e.type === 'probe.hit').map((e) => BigInt(e.monoNs as string));
    expect(monos.every((m, i) => i === 0 || m >= (monos[i - 1] as bigint))).toBe(true);

    const hits = tcpHits(ev);
    expect(bySocket(hits, v4)).toEqual(ACCEPTED);
    expect(bySocket(hits, v6)).toEqual(ACCEPTED);
    expect(bySocket(hits, refusedPort)).toEqual({ client: REFUSED });
    expect(bySocket(hits, refused6)).toEqual({ client: REFUSED });
    const est4 = hits.find((h) => h.dport === v4 && h.newstate === 'TCP_ESTABLISHED');
    expect(est4).toMatchObject({ family: 'AF_INET', saddr: '127.0.0.1', daddr: '127.0.0.1' });
    const est6 = hits.find((h) => h.dport === v6 && h.newstate === 'TCP_ESTABLISHED');
    expect(est6).toMatchObject({ family: 'AF_INET6', saddr: '::1', daddr: '::1' });
    // comm from saved_cmdlines: the connect() ran in this process.
    const connect4 = ev.find((e) => e.type === 'probe.hit' && (e.data.args as unknown as Hit).dport === v4 && e.data.args['newstate'] === 'TCP_SYN_SENT');
    expect(connect4?.data).toMatchObject({ pid: process.pid, comm: fs.readFileSync('/proc/self/comm', 'utf8').trim(), ctx: { hardirq: false, softirq: false, nmi: false } });
    expect(ourInstances()).toEqual([]);
  }, 60_000);

  it('kill -9 leaves its instance; cleanup removes it, and a new run starts clean', async () => {
    const agent = startAgent(['run', '--sink', 'stdout', '--format', 'json', '--duration', '30']);
    const started = await agent.waitFor((e) => e.type === 'probe.armed', 15_000);
    agent.child.kill('SIGKILL');
    await agent.exit;
    // Named after its owner: `cleanup` (and the next start) know it is stale once that pid is gone.
    const left = `probefleet-${agent.child.pid}-${started.instance}`;
    expect(ourInstances()).toEqual([left]);

    const cleanup = spawnSync(process.execPath, [AGENT, 'cleanup'], { cwd: REPO, encoding: 'utf8', timeout: 30_000 });
    expect(cleanup.status).toBe(0);
    expect(JSON.parse(cleanup.stdout)).toEqual({ kprobes: [], instances: [left] });
    expect(ourInstances()).toEqual([]);

    // A crashed run's leftovers are also removed by the next start.
    const crashed = startAgent(['run', '--sink', 'stdout', '--duration', '30']);
    await crashed.waitFor((e) => e.type === 'probe.armed', 15_000);
    crashed.child.kill('SIGKILL');
    await crashed.exit;
    // While no agent runs, the dead run's instance still records: the next run reports it.
    const blind = await freePort();
    await refusedConnect('127.0.0.1', blind);
    const next = startAgent(['run', '--sink', 'stdout', '--duration', '1']);
    expect(await next.exit).toBe(0);
    expect(next.stderr()).toContain('removed leftovers of a previous run');
    expect(ourInstances()).toEqual([]);
    // The next run reports those hits, then the crashed run's probe going away, so the host's model
    // state follows: both streams replay without a violation.
    const disarmedAt = next.events.findIndex((e) => e.type === 'probe.disarmed');
    const recovered = next.events.slice(1, disarmedAt).filter((e) => e.type === 'probe.hit' && (e.data.args as unknown as Hit).dport === blind);
    expect(recovered.map((e) => e.type === 'probe.hit' && `${String(e.data.args['oldstate'])}->${String(e.data.args['newstate'])}`)).toEqual(['TCP_CLOSE->TCP_SYN_SENT', 'TCP_SYN_SENT->TCP_CLOSE']);
    expect(next.events.filter((e) => e.type !== 'probe.hit').slice(0, 4).map((e) => `${e.type} ${'probe' in e.data ? e.data.probe : ''}`.trim())).toEqual([
      'agent.started', 'probe.disarmed inet_sock_set_state', 'probe.unregistered inet_sock_set_state', 'probe.registered inet_sock_set_state',
    ]);
    const outcome = replay([...crashed.events, ...next.events].map((e) => encodeEvent(e)));
    expect(outcome).toMatchObject({ ok: true });
  }, 60_000);

  it("spares a live agent's instance: neither cleanup nor another agent's start removes it", async () => {
    const live = startAgent(['run', '--sink', 'stdout', '--format', 'json', '--duration', '30']);
    const started = await live.waitFor((e) => e.type === 'probe.armed', 15_000);
    const mine = `probefleet-${live.child.pid}-${started.instance}`;

    const cleanup = spawnSync(process.execPath, [AGENT, 'cleanup'], { cwd: REPO, encoding: 'utf8', timeout: 30_000 });
    expect(cleanup.status).toBe(0);
    expect(JSON.parse(cleanup.stdout)).toEqual({ kprobes: [], instances: [] });
    // (its own metrics port: the live one holds the default)
    const other = startAgent(['run', '--sink', 'stdout', '--duration', '1'], { PROBEFLEET_METRICS_PORT: '0' });
    expect(await other.exit).toBe(0);
    expect(ourInstances()).toEqual([mine]);

    live.child.kill('SIGTERM');
    expect(await live.exit).toBe(0);
    expect(ourInstances()).toEqual([]);
  }, 60_000);

  it('SIGTERM stops the run cleanly with agent.stopped last', async () => {
    const agent = startAgent(['run', '--sink', 'stdout', '--format', 'json']);
    await agent.waitFor((e) => e.type === 'probe.armed', 15_000);
    agent.child.kill('SIGTERM');
    expect(await agent.exit).toBe(0);
    expect(agent.events[agent.events.length - 1]).toMatchObject({ type: 'agent.stopped', data: { reason: 'signal SIGTERM' } });
    expect(ourInstances()).toEqual([]);
  }, 30_000);
});
