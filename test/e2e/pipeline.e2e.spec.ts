// The real pipeline end to end on this machine: the built agent (tracepoint mode, kafka sink) → a
// fresh topic → the built aggregator → a fresh database → the query API. Loopback connections on
// ports the test picks must come out of /api/v1/transitions as exactly the kernel's transitions per
// socket, and out of /api/v1/connections as one closed lifetime per socket.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { AGENT, brokers, freshTopic, startKafkaAgent, tempDir, type KafkaAgent } from '../support/agent-kafka';
import { AGGREGATOR, createMigratedDatabase, eventually, startAggregator, whenReady, type Aggregator, type TempDatabase } from '../support/aggregator';
import { REFUSED, echoThenCloseServer, exchangeOnce, freePort, refusedConnect } from '../support/loopback';
import { expectedAccepted, short, socketOf, tracingInstancesOf, transitionsBySocket, type AgentItem, type Connection, type Transition } from '../support/pipeline';
import { deleteTopic } from '../support/stack';

jest.setTimeout(30_000);

const N = 5; // accepted connections per family
const M = 3; // refused connects per family
const HOST = os.hostname();

let topic: string | undefined;
let db: TempDatabase | undefined;
let aggregator: Aggregator | undefined;
let agent: KafkaAgent | undefined;
let instance = '';
const spoolDir = tempDir('pipeline-spool-');
// Refused ports are picked before the agent starts: picking one makes a listener it would see.
let refused4 = 0;
let refused6 = 0;
let accepted4 = 0;
let accepted6 = 0;

beforeAll(async () => {
  for (const f of [AGENT, AGGREGATOR]) if (!fs.existsSync(f)) throw new Error(`${f} missing: run \`npm run build\` first`);
  if (process.geteuid?.() !== 0) throw new Error('needs root (tracefs)');
  [refused4, refused6] = [await freePort('127.0.0.1'), await freePort('::1')];
  topic = await freshTopic('pipeline-e2e');
  db = await createMigratedDatabase();
  aggregator = await startAggregator({ DATABASE_URL: db.url, KAFKA_TOPIC: topic });
  await whenReady(aggregator);
}, 45_000);

afterAll(async () => {
  agent?.child.kill('SIGKILL');
  await aggregator?.stop(5000);
  await db?.drop();
  if (topic !== undefined) await deleteTopic(topic);
  fs.rmSync(spoolDir, { recursive: true, force: true });
}, 20_000);

describe('agent → Kafka → aggregator → query API, real kernel', () => {
  it('the agent registers: agent.started reaches /api/v1/agents with mode tracepoint', async () => {
    agent = startKafkaAgent({ kafka: { brokers: brokers(), topic, lingerMs: 5 }, spool: { dir: spoolDir }, heartbeatIntervalS: 1 });
    instance = (await agent.waitForLog('agent started', 15_000))['instance'] as string;
    const agg = aggregator!;
    const me = await eventually('agent.started in /api/v1/agents', 15_000, async () =>
      (await agg.get<{ items: AgentItem[] }>(`/api/v1/agents?host=${encodeURIComponent(HOST)}`)).items.find((a) => a.instance === instance),
    );
    expect(me).toMatchObject({ host: HOST, instance, mode: 'tracepoint', stoppedAt: null });
    expect(me.startedAt).not.toBeNull();
  });

  it('every transition of IPv4, IPv6 and refused loopback sockets, nothing extra, one skaddr per socket', async () => {
    const agg = aggregator!;
    const [server4, server6] = [await echoThenCloseServer('127.0.0.1'), await echoThenCloseServer('::1')];
    [accepted4, accepted6] = [server4.port, server6.port];
    for (let i = 0; i < N; i++) {
      await exchangeOnce('127.0.0.1', accepted4, `ping ${i}`);
      await exchangeOnce('::1', accepted6, `ping ${i}`);
    }
    await Promise.all([server4.stop(), server6.stop()]);
    for (let i = 0; i < M; i++) {
      await refusedConnect('127.0.0.1', refused4);
      await refusedConnect('::1', refused6);
    }
    // Everything is in once every socket's lifetime is closed (the listener's close comes last).
    await eventually('the workload in /api/v1/connections', 20_000, async () => {
      const counts = await Promise.all([accepted4, accepted6, refused4, refused6].map(async (p) =>
        (await agg.all<Connection>(`/api/v1/connections?port=${p}&state=closed&limit=500`)).length));
      return counts.join() === [2 * N + 1, 2 * N + 1, M, M].join() ? true : undefined;
    });

    for (const [port, family, addr] of [[accepted4, 'AF_INET', '127.0.0.1'], [accepted6, 'AF_INET6', '::1']] as const) {
      // Small pages: the keyset cursor must walk them without loss or repetition.
      const items = await agg.all<Transition>(`/api/v1/transitions?port=${port}&limit=7`);
      expect(new Set(items.map((t) => t.id)).size).toBe(items.length);
      expect(items.every((t) => t.instance === instance && t.family === family && t.saddr === addr)).toBe(true);
      // The listener has no peer.
      expect(new Set(items.map((t) => t.daddr))).toEqual(new Set([addr, family === 'AF_INET' ? '0.0.0.0' : '::']));
      const asc = [...items].reverse(); // newest first by default
      const { seqs, skaddr } = transitionsBySocket(asc, port);
      expect(Object.keys(seqs).filter((s) => s.startsWith('client:'))).toHaveLength(N);
      expect(Object.keys(seqs).filter((s) => s.startsWith('child:'))).toHaveLength(N);
      expect(seqs).toEqual(expectedAccepted(seqs));
      expect(Object.values(skaddr).every((a) => /^0x[0-9a-f]{8,16}$/.test(a))).toBe(true);
      // Both ends of one connection are alive together: different sockets, different skaddrs.
      for (const s of Object.keys(seqs).filter((k) => k.startsWith('client:'))) {
        expect(skaddr[s]).not.toBe(skaddr[`child:${s.slice('client:'.length)}`]);
      }
    }
    for (const [port, family] of [[refused4, 'AF_INET'], [refused6, 'AF_INET6']] as const) {
      const items = await agg.all<Transition>(`/api/v1/transitions?port=${port}&limit=4&order=asc`);
      expect(items.every((t) => t.instance === instance && t.family === family)).toBe(true);
      const { seqs } = transitionsBySocket(items, port);
      expect(Object.values(seqs)).toEqual(Array.from({ length: M }, () => REFUSED));
    }
  });

  it('one closed lifetime per socket: states in order, durationMs the sum of the time in each', async () => {
    const agg = aggregator!;
    for (const port of [accepted4, accepted6, refused4, refused6]) {
      const conns = await agg.all<Connection>(`/api/v1/connections?port=${port}&limit=4`);
      const transitions = await agg.all<Transition>(`/api/v1/transitions?port=${port}&limit=500&order=asc`);
      const { seqs, skaddr } = transitionsBySocket(transitions, port);
      expect(conns.map((c) => socketOf(port, c)).sort()).toEqual(Object.keys(seqs).sort());
      for (const c of conns) {
        const s = socketOf(port, c);
        const visited = [(seqs[s] as string[])[0]!.split('->')[0], ...(seqs[s] as string[]).map((t) => t.split('->')[1])];
        expect({ socket: s, states: c.states.map((v) => short(v.state)) }).toEqual({ socket: s, states: visited });
        expect(c).toMatchObject({ skaddr: skaddr[s], lastState: 'TCP_CLOSE', closedAt: expect.any(String) });
        expect(c.durationMs).toBeGreaterThan(0);
        // First state: entered before the socket was seen; last: CLOSE, where it stays. Between: all timed.
        const timed = c.states.slice(1, -1).map((v) => v.ms);
        expect(timed.every((ms) => ms !== null && ms >= 0)).toBe(true);
        expect(c.durationMs).toBeCloseTo(timed.reduce<number>((a, b) => a + (b ?? 0), 0), 3);
      }
    }
  });

  it('SIGTERM: the agent exits 0, agent.stopped reaches the API, no open gap, nothing left in tracefs', async () => {
    const agg = aggregator!;
    agent!.child.kill('SIGTERM');
    expect(await agent!.exit).toBe(0);
    const me = await eventually('agent.stopped in /api/v1/agents', 15_000, async () =>
      (await agg.get<{ items: AgentItem[] }>(`/api/v1/agents?host=${encodeURIComponent(HOST)}`)).items.find((a) => a.instance === instance && a.stoppedAt !== null),
    );
    expect(Date.parse(me.stoppedAt!)).toBeGreaterThanOrEqual(Date.parse(me.startedAt!));
    const gaps = await agg.all<{ instance: string }>(`/api/v1/gaps?host=${encodeURIComponent(HOST)}&open=true`);
    expect(gaps.filter((g) => g.instance === instance)).toEqual([]);
    // Nothing for the workload's ports arrived after the checks above.
    const after = await Promise.all([accepted4, accepted6, refused4, refused6].map(async (p) => (await agg.all<Transition>(`/api/v1/transitions?port=${p}&limit=500`)).length));
    expect(after).toEqual([2 + 10 * N, 2 + 10 * N, 2 * M, 2 * M]);
    expect(tracingInstancesOf([instance])).toEqual([]);
  });
});
