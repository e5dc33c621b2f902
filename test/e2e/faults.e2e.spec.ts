// Faults on the real pipeline, each its own test, during a steady loopback workload (IPv4 and IPv6,
// accepted and refused, on ports the test picks): the built agent on this host (tracepoint mode,
// kafka sink) → a fresh topic → the built aggregator → a fresh database → the query API. A Kafka
// broker restart, a kill -9 of the agent, a kill -9 of the aggregator, an aggregator paused (SIGSTOP)
// past its session timeout beside a second member, a PostgreSQL restart (a cluster of the test's
// own, never the machine's shared one). After each, every stream holds seqs 1..last exactly once
// (SQL and /api/v1/gaps), one transition per event, and the workload's transitions come back as
// the kernel made them — for the agent's kill, exactly what the agent promises: what it had spooled
// survives, the rest of that instant is unseen. Run in band: the broker restart would break tests
// running beside them.
import * as fs from 'node:fs';
import { AGENT } from '../support/agent-kafka';
import { AGGREGATOR, eventually } from '../support/aggregator';
import {
  expectConnections,
  expectWorkloadCut,
  expectWorkloadExact,
  gapsOf,
  kernelLoss,
  projectionCounts,
  readSpool,
  restartPostgres,
  Rig,
  streamRows,
  wholeStream,
  withBrokerDown,
  workloadView,
  type Attempt,
} from '../support/faults';
import { ACCEPTED, REFUSED } from '../support/loopback';
import { endsOf, tracingInstancesOf } from '../support/pipeline';

jest.setTimeout(300_000);

/** Workload rounds before a fault and after the pipeline is back (a round: 4 connections, 24 transitions). */
const ROUNDS = 15;

let rig: Rig | undefined;

beforeAll(() => {
  for (const f of [AGENT, AGGREGATOR]) if (!fs.existsSync(f)) throw new Error(`${f} missing: run \`npm run build\` first`);
  if (process.geteuid?.() !== 0) throw new Error('needs root (tracefs)');
});

afterEach(async () => {
  await rig?.cleanup();
  rig = undefined;
});

/** Waits until `attempts` are whole in the API: each accepted one's client and child, as many refused sockets. */
async function delivered(r: Rig, attempts: Attempt[]): Promise<void> {
  await eventually(`the first ${attempts.length} attempts in /api/v1/transitions`, 60_000, async () => {
    const view = await workloadView(r, true);
    for (const { kind, port, sockets } of view.ports) {
      const mine = attempts.filter((a) => a.port === port);
      if (kind === 'accepted') {
        // Per ends, as many whole lifetimes as attempts used them (a client port may be reused).
        const whole = Object.entries(sockets.seqs)
          .filter(([k, seq]) => seq.length === (k.startsWith('client:') ? ACCEPTED.client : ACCEPTED.child).length)
          .map(([k]) => endsOf(k));
        const wanted = mine.flatMap((a) => [`client:${a.sport}`, `child:${a.sport}`]);
        if (!wanted.every((e) => whole.filter((x) => x === e).length >= wanted.filter((x) => x === e).length)) return undefined;
      } else if (Object.values(sockets.seqs).filter((s) => s.length === REFUSED.length).length < mine.length) return undefined;
    }
    return true;
  });
}

/**
 * For the faults that do not stop observation: the workload ends, the agent stops, everything is
 * stored, and the streams are whole and the workload's transitions and lifetimes exactly the kernel's.
 */
async function finishAndExpectExact(r: Rig): Promise<void> {
  const attempts = await r.finishWorkload();
  await stopAgent(r);
  await r.drained({});

  await expectStreamsWhole(r);
  const loss = await kernelLoss(r);
  const view = await workloadView(r);
  expectWorkloadExact(view, attempts, r.agent.instance, loss);
  if (loss === 0) await expectConnections(r, view);
  expect(tracingInstancesOf(r.instances)).toEqual([]);
}

/** SIGTERM to the running agent: it flushes and exits 0, its stream ending with agent.stopped. */
async function stopAgent(r: Rig): Promise<void> {
  r.agent.agent.child.kill('SIGTERM');
  expect(await r.agent.agent.exit).toBe(0);
}

/**
 * Every stream holds seqs 1..last once each (`last`: where a killed agent's stream ends, else its
 * agent.stopped), the streams rows agree, no gap was ever opened, and each probe.hit has exactly
 * one transition row. The agent sequences what it reads, so a kernel drop is an agent.loss event,
 * never a seq gap: even with loss there is no gap to explain.
 */
async function expectStreamsWhole(r: Rig, last: Record<string, number> = {}): Promise<void> {
  const rows = await streamRows(r);
  expect(rows).toEqual(rows.map((s) => wholeStream(s.instance, last[s.instance] ?? s.maxSeq)));
  expect(await gapsOf(r)).toEqual({ api: [], rows: 0 });
  const p = await projectionCounts(r);
  expect(p).toEqual({ hits: p.hits, transitions: p.hits, distinctTransitions: p.hits, unprojected: 0, orphans: 0 });
  expect(p.hits).toBeGreaterThan(0);
}

const logCount = (r: Rig, msg: string) => r.agent.agent.logs().filter((l) => l['msg'] === msg).length;

describe('faults during a workload, real kernel, broker and PostgreSQL', () => {
  it('Kafka broker restart: the agent spools and re-sends, the aggregator resumes; nothing lost or doubled', async () => {
    const r = (rig = await Rig.start('broker'));
    const work = r.startWorkload();
    await work.moreRounds(ROUNDS);
    await delivered(r, [...work.attempts]);
    const acked = logCount(r, 'broker acked: publishing');
    await withBrokerDown(async () => {
      // The agent met the outage with events to send (the workload goes on meanwhile).
      await r.agent.agent.waitForLog('publish failed: retrying, events stay spooled', 60_000);
      await work.moreRounds(5);
    });
    await eventually('the agent publishing again', 90_000, async () => (logCount(r, 'broker acked: publishing') > acked ? true : undefined));
    await work.moreRounds(ROUNDS);
    await finishAndExpectExact(r);
  });

  it('kill -9 of the agent: what it spooled arrives once, its successor on the same spool sees the rest', async () => {
    const r = (rig = await Rig.start('agent-kill'));
    const work = r.startWorkload();
    await work.moreRounds(ROUNDS);
    const before = [...work.attempts];
    await delivered(r, before);
    const killed = r.agent;
    killed.agent.child.kill('SIGKILL');
    await killed.agent.exit;

    // What kill -9 left: the records the agent had handed to the spool (a sync write per event-loop
    // turn), acked or not. Events it had read but not yet written, and those still in the kernel's
    // buffer, die with it; they never got a place in the spool, so the stream just ends earlier.
    const spool = readSpool(r.spoolDir);
    expect(spool.length).toBeGreaterThan(0); // the segment written last is never deleted
    expect(spool.filter((e) => e.instance !== killed.instance)).toEqual([]);
    const lastSpooled = spool[spool.length - 1]?.seq ?? 0;
    expect(spool.map((e) => e.seq)).toEqual(spool.map((_, i) => lastSpooled - spool.length + 1 + i));

    const successor = await r.startAgent();
    const successorTracingAt = Date.now();
    // The dead agent's tracing instance is gone: its successor removes it (its owner pid is gone).
    expect(tracingInstancesOf([killed.instance])).toEqual([]);
    await work.moreRounds(ROUNDS);
    const attempts = await r.finishWorkload();
    await stopAgent(r);
    await r.drained({ [killed.instance]: lastSpooled });

    await expectStreamsWhole(r, { [killed.instance]: lastSpooled });
    const [stopped] = await r.sql<{ n: string }>(`SELECT count(*) AS n FROM events WHERE instance = $1 AND type = 'agent.stopped'`, [killed.instance]);
    expect(Number(stopped?.n)).toBe(0);
    const loss = await kernelLoss(r);
    const view = await workloadView(r, true);
    const { cut, whole, unseen } = expectWorkloadCut(view, attempts, [killed.instance, successor.instance], { before, successorTracingAt }, loss);
    expect(whole).toBeGreaterThan(0);
    console.info(
      `agent kill -9: ${spool.filter((e) => e.unacked).length} of ${spool.length} spooled records unacked at the kill (re-sent by the successor); ` +
        `sockets: ${whole} whole, ${cut} cut and ${unseen} unseen by the blind window; kernel loss ${loss}`,
    );
    expect(tracingInstancesOf(r.instances)).toEqual([]);
  });

  it('kill -9 of the aggregator: its successor in the same group re-reads from the last commit; nothing lost or doubled', async () => {
    const r = (rig = await Rig.start('aggregator-kill'));
    const work = r.startWorkload();
    await work.moreRounds(ROUNDS);
    await delivered(r, [...work.attempts]);
    const first = r.aggregator;
    first.child.kill('SIGKILL');
    expect(await first.exit).toBeNull();
    // Events pile up in the topic while no member consumes.
    await work.moreRounds(5);
    await r.startAggregator();
    await work.moreRounds(ROUNDS);
    await finishAndExpectExact(r);
  });

  it('a paused aggregator past its session timeout: the other member takes its partitions, the paused one rejoins on SIGCONT; nothing lost or doubled', async () => {
    const r = (rig = await Rig.start('aggregator-pause'));
    const paused = r.aggregator;
    await r.startAggregator();
    const work = r.startWorkload();
    await work.moreRounds(ROUNDS);
    await delivered(r, [...work.attempts]);
    paused.child.kill('SIGSTOP');
    try {
      // Stopped past its 6 s session (no heartbeat): what is sent meanwhile is stored only if the
      // broker moved the paused member's partitions to the other one.
      await work.moreRounds(5);
      await delivered(r, [...work.attempts]);
    } finally {
      paused.child.kill('SIGCONT');
    }
    // Back: its stale batches commit nothing, it rejoins, and the group goes on with both.
    await work.moreRounds(ROUNDS);
    await finishAndExpectExact(r);
  });

  it('PostgreSQL restart: the aggregator retries its batches and goes on; nothing lost or doubled', async () => {
    // On a cluster of the rig's own: the machine's shared one is never restarted.
    const r = (rig = await Rig.start('pg-restart', { privatePostgres: true }));
    const work = r.startWorkload();
    await work.moreRounds(ROUNDS);
    await delivered(r, [...work.attempts]);
    await restartPostgres(r.postgres!);
    await work.moreRounds(ROUNDS);
    const retried = r.aggregator.output().split('\n').filter((l) => l.includes('failed, retrying')).length;
    console.info(`PostgreSQL restart: the aggregator logged ${retried} failed batch attempts it retried`);
    await finishAndExpectExact(r);
  });
});
