// Replay end to end on this machine: the built agent (tracepoint mode) → a fresh topic → the built
// aggregator → a fresh database, with loopback traffic. Two agent runs on this host: the first stops
// cleanly (SIGTERM), the second is killed (SIGKILL) while its probe is armed, so the final state is
// not empty. Then `probefleet export` must give back what the agents sent, `probefleet replay` must
// fold it without a violation into the state the `probes` projection holds, and `probefleet rebuild`
// must reproduce every projection.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { AGENT, brokers, closingServer, freshTopic, loadConnections, ourInstances, REPO, sleep, startKafkaAgent, tempDir, type KafkaAgent } from '../support/agent-kafka';
import { AGGREGATOR, createMigratedDatabase, eventually, startAggregator, whenReady, type Aggregator, type TempDatabase } from '../support/aggregator';
import { echoThenCloseServer, exchangeOnce, freePort, refusedConnect } from '../support/loopback';
import { probefleet, probesAsReplayState, projectionRows, PROJECTIONS, storedCount, topicEvents } from '../support/replay';
import { deleteTopic } from '../support/stack';

jest.setTimeout(60_000);

const HOST = os.hostname();

let topic: string | undefined;
let db: TempDatabase | undefined;
let aggregator: Aggregator | undefined;
const agents: KafkaAgent[] = [];
const dir = tempDir('replay-e2e-');

/** One agent run on this host: started, a loopback workload on ports picked here, then `stop`. */
async function agentRun(name: string, stop: (agent: KafkaAgent) => Promise<void>): Promise<{ instance: string; ports: number[] }> {
  const refused = await freePort('127.0.0.1'); // picked before the agent starts: picking makes a listener
  const agent = startKafkaAgent({ mode: 'tracepoint', kafka: { brokers: brokers(), topic, lingerMs: 5 }, spool: { dir: path.join(dir, `spool-${name}`) }, heartbeatIntervalS: 1 });
  agents.push(agent);
  const instance = (await agent.waitForLog('agent started', 15_000))['instance'] as string;
  const server = await echoThenCloseServer('127.0.0.1');
  for (let i = 0; i < 4; i++) await exchangeOnce('127.0.0.1', server.port, `ping ${i}`);
  await server.stop();
  for (let i = 0; i < 2; i++) await refusedConnect('127.0.0.1', refused);
  // The workload is in the store (the listener's close comes last) before the agent stops.
  const agg = aggregator!;
  await eventually(`${name}: the workload in /api/v1/connections`, 20_000, async () => {
    const [a, r] = await Promise.all([server.port, refused].map(async (p) => (await agg.all(`/api/v1/connections?port=${p}&state=closed&limit=100`)).length));
    return a === 9 && r === 2 ? true : undefined;
  });
  await stop(agent);
  return { instance, ports: [server.port, refused] };
}

beforeAll(async () => {
  for (const f of [AGENT, AGGREGATOR]) if (!fs.existsSync(f)) throw new Error(`${f} missing: run \`npm run build\` first`);
  if (process.geteuid?.() !== 0) throw new Error('needs root (tracefs)');
  topic = await freshTopic('replay-e2e');
  db = await createMigratedDatabase();
  aggregator = await startAggregator({ DATABASE_URL: db.url, KAFKA_TOPIC: topic });
  await whenReady(aggregator);
}, 45_000);

afterAll(async () => {
  for (const a of agents) if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL');
  await aggregator?.stop(5000);
  await db?.drop();
  if (topic !== undefined) await deleteTopic(topic);
  fs.rmSync(dir, { recursive: true, force: true });
}, 20_000);

describe('export → replay → rebuild on the real pipeline', () => {
  const runs: { instance: string; ports: number[] }[] = [];
  let file = '';

  it('two agent runs on this host reach the store: one stopped cleanly, one killed with its probe armed', async () => {
    runs.push(await agentRun('stopped', async (agent) => {
      // Traffic while it stops: hits recorded before the disarm are still read (drained) on the way out.
      const server = await closingServer();
      let stopped = false;
      const load = loadConnections(server.port, 2, () => stopped);
      await sleep(100);
      agent.child.kill('SIGTERM');
      const code = await agent.exit;
      stopped = true;
      await load;
      server.close();
      expect(code).toBe(0);
    }));
    runs.push(await agentRun('killed', async (agent) => {
      const pid = agent.child.pid as number;
      agent.child.kill('SIGKILL');
      await agent.exit;
      // What a killed agent leaves in tracefs is removed as an operator would (it spares live agents').
      execFileSync(process.execPath, [AGENT, 'cleanup'], { cwd: REPO, stdio: 'ignore', timeout: 30_000 });
      expect(ourInstances().filter((n) => n.startsWith(`probefleet-${pid}-`))).toEqual([]);
    }));
    // Nothing more is sent: the store is complete once it holds every event of the topic.
    const sent = await topicEvents(topic!, 20_000);
    await eventually('every event of the topic in the store', 20_000, async () => ((await storedCount(db!.url)) === sent.length ? true : undefined));
    expect(new Set(sent.map((s) => s.event.instance))).toEqual(new Set(runs.map((r) => r.instance)));
  });

  it('probefleet export gives back, byte for byte and in order, what the agents sent', async () => {
    file = path.join(dir, 'export.ndjson');
    const run = await probefleet(['export', '-o', file], db!.url);
    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 0, stdout: '' });
    const sent = await topicEvents(topic!, 20_000);
    // One host: one partition, so the store's order is the topic's. The same envelopes, and the same
    // bytes but where jsonb cannot keep them: a heartbeat's counters (free-form keys) come back in
    // jsonb's key order, which the export cannot know was different.
    const lines = fs.readFileSync(file, 'utf8').split('\n').slice(0, -1);
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual(sent.map((s) => JSON.parse(s.line) as unknown));
    const verbatim = sent.map((s, i) => ({ i, sent: s, line: lines[i] })).filter((x) => x.sent.event.type !== 'agent.heartbeat');
    expect(verbatim.filter((x) => x.line !== x.sent.line).map((x) => ({ line: x.i + 1, exported: x.line, sent: x.sent.line }))).toEqual([]);
    expect(sent.filter((s) => s.event.type === 'probe.hit').length).toBeGreaterThan(2 * 46);
  });

  it('probefleet replay folds the export without a violation, into the state of the probes projection', async () => {
    const run = await probefleet(['replay', file], db!.url);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const state = JSON.parse(run.stdout) as { hosts: Record<string, { probes: Record<string, unknown>; text: Record<string, string> }> };
    expect(Object.keys(state.hosts)).toEqual([HOST]);
    // The killed run's tracepoint: still registered and armed, with that run's hits only.
    const probes = state.hosts[HOST]!.probes;
    expect(probes).toEqual({ inet_sock_set_state: { address: null, bucket: null, armed: true, hits: expect.any(Number), missed: 0 } });
    expect((probes['inet_sock_set_state'] as { hits: number }).hits).toBeGreaterThanOrEqual(46);
    expect(await probesAsReplayState(db!.url)).toEqual({ [HOST]: probes });
  });

  it('probefleet rebuild reproduces every projection', async () => {
    const live = await projectionRows(db!.url);
    // Not vacuous: both runs' workloads, both streams, the host, its probe.
    const transitions = live.tcp_transitions.map((r) => JSON.parse(r) as { sport: number; dport: number });
    for (const port of runs.flatMap((r) => r.ports)) expect(transitions.some((t) => t.sport === port || t.dport === port)).toBe(true);
    expect(live.tcp_connections.length + live.tcp_open_connections.length).toBeGreaterThanOrEqual(2 * 11);
    expect([live.streams.length, live.agents.length, live.probes.length]).toEqual([2, 1, 1]);

    const run = await probefleet(['rebuild'], db!.url);
    expect(run.code).toBe(0);
    const rebuilt = await projectionRows(db!.url);
    for (const table of PROJECTIONS) expect({ table, rows: rebuilt[table] }).toEqual({ table, rows: live[table] });
    // And the model refused nothing on the way (as replay above).
    expect(run.stdout).toMatch(/^rebuilt projections from \d+ events\n$/);
  });
});
