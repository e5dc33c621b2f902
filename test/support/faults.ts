// Fault injection on the real pipeline (agent → Kafka → aggregator → PostgreSQL → API): a steady
// loopback workload that records what it did, the pipeline on a fresh topic and database, the
// faults themselves, and what must hold afterwards — every stream whole, nothing stored twice, and
// the workload's transitions as the kernel made them.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { brokers, freshTopic, REPO, sleep, startKafkaAgent, tempDir, type KafkaAgent } from './agent-kafka';
import { createMigratedDatabase, eventually, startAggregator, whenReady, type Aggregator, type TempDatabase } from './aggregator';
import { ACCEPTED, REFUSED, echoThenCloseServer, freePort, refusedConnect, type EchoServer } from './loopback';
import { edge, endsOf, socketOf, tracingInstancesOf, transitionsBySocket, type Connection, type GapItem, type Transition } from './pipeline';
import { startPrivatePostgres, type PrivatePostgres } from '../../apps/aggregator/test/private-postgres';
import { checkPostgres, deleteTopic } from './stack';

export const HOST = os.hostname();
const run = promisify(execFile);

// ---------------------------------------------------------------------------------------------
// The workload

export interface WorkloadPorts { accepted4: number; accepted6: number; refused4: number; refused6: number }

export interface Attempt {
  kind: 'accepted' | 'refused';
  port: number;
  /** The client's ephemeral port (accepted connections; a refused connect never shows it to us). */
  sport: number | null;
  /** Wall-clock ms around the attempt, as this process saw it. */
  startedAt: number;
  endedAt: number;
}

/** Sends `payload`, reads the echo, closes after the server's FIN; resolves with the client's port. */
export function exchange(host: string, port: number, payload: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let sport = 0;
    const c = net.connect(port, host, () => {
      sport = c.localPort ?? 0;
      c.write(payload);
    });
    let got = '';
    c.setEncoding('utf8').on('data', (d: string) => (got += d));
    c.on('error', reject);
    c.on('close', () =>
      got === payload && sport !== 0 ? resolve(sport) : reject(new Error(`port ${port}: echoed ${JSON.stringify(got)} to port ${sport}, sent ${JSON.stringify(payload)}`)),
    );
  });
}

/**
 * Rounds of one accepted connection and one refused connect per family, one at a time, until
 * stopped. `paceMs` between rounds sets the rate (a few hundred events/s): it waits for nothing.
 */
export class Workload {
  readonly attempts: Attempt[] = [];
  private roundsDone = 0;
  private stopping = false;
  private failure: Error | null = null;
  private readonly loop: Promise<void>;

  constructor(
    readonly ports: WorkloadPorts,
    paceMs = 100,
  ) {
    this.loop = this.run(paceMs).catch((e: unknown) => void (this.failure = e as Error));
  }

  get rounds(): number {
    return this.roundsDone;
  }

  private async run(paceMs: number): Promise<void> {
    const { accepted4, accepted6, refused4, refused6 } = this.ports;
    const steps: [Attempt['kind'], string, number][] = [
      ['accepted', '127.0.0.1', accepted4],
      ['accepted', '::1', accepted6],
      ['refused', '127.0.0.1', refused4],
      ['refused', '::1', refused6],
    ];
    while (!this.stopping) {
      for (const [kind, host, port] of steps) {
        const startedAt = Date.now();
        const sport = kind === 'accepted' ? await exchange(host, port, `round ${this.roundsDone}`) : (await refusedConnect(host, port), null);
        this.attempts.push({ kind, port, sport, startedAt, endedAt: Date.now() });
      }
      this.roundsDone++;
      await sleep(paceMs);
    }
  }

  /** Resolves once `n` more rounds are done (rejects after `ms`, or when the workload failed). */
  async moreRounds(n: number, ms = 30_000): Promise<void> {
    const target = this.roundsDone + n;
    const deadline = Date.now() + ms;
    while (this.roundsDone < target) {
      if (this.failure) throw this.failure;
      if (this.stopping) throw new Error('workload: stopped');
      if (Date.now() > deadline) throw new Error(`workload: ${n} rounds not done within ${ms} ms (${this.roundsDone} in all)`);
      await sleep(50);
    }
  }

  /** Stops after the round in hand; every attempt, or the workload's failure. */
  async stop(): Promise<Attempt[]> {
    this.stopping = true;
    await this.loop;
    if (this.failure) throw this.failure;
    return this.attempts;
  }
}

// ---------------------------------------------------------------------------------------------
// The faults

const KAFKA_SH = path.join(REPO, 'deploy/kafka/kafka.sh');

/** Stops the local broker, runs `meanwhile`, and starts it again whatever happened (async: the workload keeps going). */
export async function withBrokerDown(meanwhile: () => Promise<void>): Promise<void> {
  await run('bash', [KAFKA_SH, 'stop'], { timeout: 60_000 });
  try {
    await meanwhile();
  } finally {
    await run('bash', [KAFKA_SH, 'start'], { timeout: 120_000 });
  }
}

/**
 * Restarts a rig's own PostgreSQL server (a private cluster: every connection to it drops), then
 * waits until it answers. Never the machine's shared cluster: others use it.
 */
export async function restartPostgres(pg: PrivatePostgres): Promise<void> {
  await pg.restart();
  await eventually('PostgreSQL after the restart', 30_000, async () => (await checkPostgres(pg.url()), true));
}

// ---------------------------------------------------------------------------------------------
// The agent's spool, as a kill -9 left it

export interface SpooledEvent { instance: string; seq: number; type: string; unacked: boolean }

/**
 * The records of a spool directory (frames as libs/publish/src/frame.ts writes them, in `seg-*.log`,
 * the ack cursor in `ack.json`), oldest first; a torn tail ends the scan as the agent's open would.
 */
export function readSpool(dir: string): SpooledEvent[] {
  const ack = JSON.parse(fs.readFileSync(path.join(dir, 'ack.json'), 'utf8')) as { segment: number; offset: number };
  const out: SpooledEvent[] = [];
  for (const f of fs.readdirSync(dir).filter((n) => /^seg-\d{12}\.log$/.test(n)).sort()) {
    const segment = Number(f.slice(4, 16));
    const buf = fs.readFileSync(path.join(dir, f));
    for (let at = 0; at + 8 <= buf.length; ) {
      // v1 frames: 8-byte header; v2 (top bit of the length word): 20 bytes, with the stream position.
      const word = buf.readUInt32LE(at);
      const header = word & 0x8000_0000 ? 20 : 8;
      const len = word & 0x7fff_ffff;
      if (len === 0 || at + header + len > buf.length) break;
      const e = JSON.parse(buf.subarray(at + header, at + header + len).toString('utf8')) as { instance: string; seq: number; type: string };
      out.push({ instance: e.instance, seq: e.seq, type: e.type, unacked: segment > ack.segment || (segment === ack.segment && at >= ack.offset) });
      at += header + len;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The pipeline on a fresh topic and database

export interface RunningAgent { agent: KafkaAgent; instance: string; pid: number }

export class Rig {
  readonly spoolDir = tempDir('faults-spool-');
  readonly groupId = `probefleet-faults-${randomUUID().slice(0, 8)}`;
  readonly agents: RunningAgent[] = [];
  readonly aggregators: Aggregator[] = [];
  readonly servers: EchoServer[] = [];
  workload: Workload | null = null;

  private constructor(
    readonly name: string,
    readonly topic: string,
    readonly db: TempDatabase,
    /** The rig's own PostgreSQL cluster, when it is to be restarted (else the db is on the shared one). */
    readonly postgres: PrivatePostgres | null,
    /** Refused ports are picked before any agent starts: picking one makes a listener it would see. */
    readonly refused: { refused4: number; refused6: number },
  ) {}

  /**
   * A fresh topic and database, an aggregator on them, an agent, and the workload's servers;
   * `privatePostgres`: the database on a PostgreSQL cluster of the rig's own, which may be restarted.
   */
  static async start(name: string, { privatePostgres = false } = {}): Promise<Rig> {
    const refused = { refused4: await freePort('127.0.0.1'), refused6: await freePort('::1') };
    const topic = await freshTopic(`faults-${name}`);
    const postgres = privatePostgres ? await startPrivatePostgres() : null;
    let db: TempDatabase;
    try {
      db = await createMigratedDatabase(postgres?.url());
    } catch (e) {
      postgres?.remove();
      throw e;
    }
    const rig = new Rig(name, topic, db, postgres, refused);
    try {
      await rig.startAggregator();
      await rig.startAgent();
      // Listeners made while the agent traces: their CLOSE->LISTEN is part of the workload.
      rig.servers.push(await echoThenCloseServer('127.0.0.1'), await echoThenCloseServer('::1'));
    } catch (e) {
      await rig.cleanup();
      throw e;
    }
    return rig;
  }

  get aggregator(): Aggregator {
    return this.aggregators[this.aggregators.length - 1] as Aggregator;
  }

  get agent(): RunningAgent {
    return this.agents[this.agents.length - 1] as RunningAgent;
  }

  get instances(): string[] {
    return this.agents.map((a) => a.instance);
  }

  get ports(): WorkloadPorts {
    return { accepted4: (this.servers[0] as EchoServer).port, accepted6: (this.servers[1] as EchoServer).port, ...this.refused };
  }

  /** A member of the rig's consumer group; a short session so a killed member's partitions move on soon. */
  async startAggregator(): Promise<Aggregator> {
    const agg = await startAggregator({ DATABASE_URL: this.db.url, KAFKA_TOPIC: this.topic, KAFKA_GROUP_ID: this.groupId, KAFKA_SESSION_TIMEOUT_MS: '6000' });
    this.aggregators.push(agg);
    await whenReady(agg, 60_000);
    return agg;
  }

  /** An agent on the rig's spool directory (a successor re-sends what its predecessor left there). */
  async startAgent(): Promise<RunningAgent> {
    const agent = startKafkaAgent({
      kafka: { brokers: brokers(), topic: this.topic, lingerMs: 5, flushTimeoutS: 60, retry: { initialMs: 200, maxMs: 2000 } },
      spool: { dir: this.spoolDir, segmentBytes: 64 * 1024 },
      heartbeatIntervalS: 1,
    });
    const started = await agent.waitForLog('agent started', 20_000);
    const running = { agent, instance: started['instance'] as string, pid: agent.child.pid as number };
    this.agents.push(running);
    return running;
  }

  startWorkload(): Workload {
    this.workload = new Workload(this.ports);
    return this.workload;
  }

  /** Stops the workload, then closes the listeners (their LISTEN->CLOSE ends the workload). */
  async finishWorkload(): Promise<Attempt[]> {
    const attempts = await (this.workload as Workload).stop();
    await Promise.all(this.servers.map((s) => s.stop()));
    return attempts;
  }

  async sql<T extends Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> {
    const c = new Client({ connectionString: this.db.url, connectionTimeoutMillis: 5000 });
    await c.connect();
    try {
      return (await c.query<T>(text, values)).rows;
    } finally {
      await c.end();
    }
  }

  /**
   * Waits until every stream of the rig is stored whole: the last agent's agent.stopped is in and
   * each stream is contiguous up to its end (`lastSeq`: where a killed agent's stream ends).
   */
  async drained(lastSeq: Record<string, number>, ms = 120_000): Promise<void> {
    const last = this.agent.instance;
    await eventually(`streams ${this.instances.join(' ')} stored whole`, ms, async () => {
      const rows = await this.sql<{ instance: string; contiguous_to: string; max_seq: string; stopped: string | null }>(
        `SELECT s.instance::text, s.contiguous_to, s.max_seq,
                (SELECT max(seq) FROM events e WHERE e.instance = s.instance AND e.type = 'agent.stopped') AS stopped
           FROM streams s WHERE s.instance = ANY($1::uuid[])`,
        [this.instances],
      );
      const ok = this.instances.every((i) => {
        const r = rows.find((x) => x.instance === i);
        if (!r || r.contiguous_to !== r.max_seq) return false;
        return i === last ? r.stopped !== null && r.stopped === r.max_seq : Number(r.max_seq) === lastSeq[i];
      });
      return ok ? true : undefined;
    });
  }

  /** Everything this rig started is stopped and removed (the topic may stay); never throws. */
  async cleanup(): Promise<void> {
    const step = async (f: () => unknown) => {
      try {
        await f();
      } catch {
        // best effort: the rest still goes
      }
    };
    await step(() => this.workload?.stop());
    for (const s of this.servers) await step(() => s.stop());
    for (const a of this.agents) {
      if (a.agent.child.exitCode === null && a.agent.child.signalCode === null) a.agent.child.kill('SIGKILL');
      await step(() => a.agent.exit);
    }
    // A killed agent's tracing instance, if no successor removed it.
    for (const d of tracingInstancesOf(this.instances)) await step(() => fs.rmdirSync(`/sys/kernel/tracing/instances/${d}`));
    for (const a of this.aggregators) await step(() => a.stop(5000));
    await step(() => this.db.drop());
    await step(() => this.postgres?.remove());
    await step(() => deleteTopic(this.topic));
    fs.rmSync(this.spoolDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// What must hold afterwards

export interface StreamRow { instance: string; events: number; distinct: number; first: number; last: number; contiguousTo: number; maxSeq: number; stored: number }

/** Per stream, from the event store and its streams row. */
export async function streamRows(rig: Rig): Promise<StreamRow[]> {
  const rows = await rig.sql<Record<string, string>>(
    `SELECT e.instance::text, count(*) AS events, count(DISTINCT e.seq) AS distinct, min(e.seq) AS first, max(e.seq) AS last,
            s.contiguous_to, s.max_seq, s.events AS stored
       FROM (SELECT instance, seq FROM events UNION ALL SELECT k.instance, t.seq FROM tcp_transitions t JOIN tcp_sources k ON k.host = t.host AND k.id = t.source_id) e JOIN streams s USING (instance)
      WHERE e.instance = ANY($1::uuid[])
      GROUP BY e.instance, s.contiguous_to, s.max_seq, s.events`,
    [rig.instances],
  );
  return rig.instances.map((i) => {
    const r = rows.find((x) => x['instance'] === i);
    if (!r) throw new Error(`stream ${i}: nothing stored`);
    return {
      instance: i,
      events: Number(r['events']),
      distinct: Number(r['distinct']),
      first: Number(r['first']),
      last: Number(r['last']),
      contiguousTo: Number(r['contiguous_to']),
      maxSeq: Number(r['max_seq']),
      stored: Number(r['stored']),
    };
  });
}

/** Each stream row as it must be when seqs 1..last are each stored once. */
export const wholeStream = (instance: string, last: number): StreamRow => ({ instance, events: last, distinct: last, first: 1, last, contiguousTo: last, maxSeq: last, stored: last });

/** Gaps of the rig's streams, through the API (open or filled since) and in SQL. */
export async function gapsOf(rig: Rig): Promise<{ api: GapItem[]; rows: number }> {
  const api = (await rig.aggregator.all<GapItem>(`/api/v1/gaps?host=${encodeURIComponent(HOST)}&limit=500`)).filter((g) => rig.instances.includes(g.instance));
  const [r] = await rig.sql<{ n: string }>('SELECT count(*) AS n FROM stream_gaps WHERE instance = ANY($1::uuid[])', [rig.instances]);
  return { api, rows: Number(r?.n) };
}

/** Events the kernel dropped (agent.loss overruns) as the rig's streams report them. */
export async function kernelLoss(rig: Rig): Promise<number> {
  const [r] = await rig.sql<{ n: string }>(
    `SELECT coalesce(sum((o->>'count')::bigint), 0) AS n
       FROM events e, jsonb_array_elements(e.data->'overruns') o
      WHERE e.instance = ANY($1::uuid[]) AND e.type = 'agent.loss'`,
    [rig.instances],
  );
  return Number(r?.n);
}

/**
 * TCP hits against tcp_transitions rows: a TCP hit's stored form is its row (store v2), so every
 * probe.hit of the rig's streams must be a row (none left generic) and each stream position once.
 */
export async function projectionCounts(rig: Rig): Promise<{ hits: number; transitions: number; distinctTransitions: number; unprojected: number; orphans: number }> {
  const [r] = await rig.sql<Record<string, string>>(
    `SELECT (SELECT count(*) FROM tcp_transitions t JOIN tcp_sources k ON k.host = t.host AND k.id = t.source_id WHERE k.instance = ANY($1::uuid[]))
              + (SELECT count(*) FROM events WHERE instance = ANY($1::uuid[]) AND type = 'probe.hit') AS hits,
            (SELECT count(*) FROM tcp_transitions t JOIN tcp_sources k ON k.host = t.host AND k.id = t.source_id WHERE k.instance = ANY($1::uuid[])) AS transitions,
            (SELECT count(*) FROM (SELECT DISTINCT k.instance, t.seq FROM tcp_transitions t JOIN tcp_sources k ON k.host = t.host AND k.id = t.source_id WHERE k.instance = ANY($1::uuid[])) d) AS distinct_transitions,
            (SELECT count(*) FROM events e WHERE e.instance = ANY($1::uuid[]) AND e.type = 'probe.hit') AS unprojected,
            (SELECT count(*) FROM tcp_transitions t JOIN tcp_sources k ON k.host = t.host AND k.id = t.source_id JOIN events e ON e.instance = k.instance AND e.seq = t.seq WHERE k.instance = ANY($1::uuid[])) AS orphans`,
    [rig.instances],
  );
  return {
    hits: Number(r?.['hits']),
    transitions: Number(r?.['transitions']),
    distinctTransitions: Number(r?.['distinct_transitions']),
    unprojected: Number(r?.['unprojected']),
    orphans: Number(r?.['orphans']),
  };
}

/** Every transition of `port` through the API, oldest first, each row once. */
export async function portTransitions(agg: Aggregator, port: number): Promise<Transition[]> {
  const items = await agg.all<Transition>(`/api/v1/transitions?port=${port}&limit=500&order=asc`);
  const ids = new Set(items.map((t) => t.id));
  const seqs = new Set(items.map((t) => `${t.instance}/${t.seq}`));
  if (ids.size !== items.length || seqs.size !== items.length) throw new Error(`port ${port}: ${items.length} transitions, ${ids.size} ids, ${seqs.size} (instance, seq)`);
  return items;
}

/** What the kernel does for the socket `socket` of a workload port. */
export function kernelEdges(kind: Attempt['kind'], socket: string): string[] {
  if (kind === 'refused') return REFUSED;
  if (socket === 'listener') return ACCEPTED.listener;
  return socket.startsWith('client:') ? ACCEPTED.client : ACCEPTED.child;
}

/**
 * Where `got` (one socket's transitions, oldest first) sits in `expected`: the index each matched,
 * in order. Throws when `got` is not `expected` with some edges left out (an extra, repeated or
 * misordered transition).
 */
export function matchEdges(what: string, expected: string[], got: string[]): number[] {
  const at: number[] = [];
  let i = 0;
  for (const e of got) {
    while (i < expected.length && expected[i] !== e) i++;
    if (i === expected.length) throw new Error(`${what}: ${got.join(' ')} is not ${expected.join(' ')} with parts missing`);
    at.push(i++);
  }
  return at;
}

export interface WorkloadView {
  /** Per workload port: its sockets' transitions. */
  ports: { kind: Attempt['kind']; port: number; family: string; sockets: ReturnType<typeof transitionsBySocket> }[];
}

/** The workload's transitions from the API, per port and socket (`partial`: transitions may be missing). */
export async function workloadView(rig: Rig, partial = false): Promise<WorkloadView> {
  const { accepted4, accepted6, refused4, refused6 } = rig.ports;
  const ports = [
    ['accepted', accepted4, 'AF_INET'],
    ['accepted', accepted6, 'AF_INET6'],
    ['refused', refused4, 'AF_INET'],
    ['refused', refused6, 'AF_INET6'],
  ] as const;
  return {
    ports: await Promise.all(
      ports.map(async ([kind, port, family]) => {
        let items = await portTransitions(rig.aggregator, port);
        if (kind === 'accepted') {
          // The port was free when the listener took it, but the agent already traced: a socket of
          // whoever had the port before may still have changed state then. Ours start at the listener.
          const birth = items.findIndex((t) => t.sport === port && t.dport === 0 && edge(t) === 'CLOSE->LISTEN');
          if (birth > 0) items = items.slice(birth);
        } else {
          // Nobody listens on a refused port, so another process's connect may take it as its own
          // ephemeral port meanwhile: only connects *to* the port are the workload's.
          items = items.filter((t) => t.dport === port);
        }
        const wrong = items.filter((t) => t.family !== family || !rig.instances.includes(t.instance));
        if (wrong.length > 0) throw new Error(`port ${port}: transitions of another family or stream: ${JSON.stringify(wrong.slice(0, 3))}`);
        return { kind, port, family, sockets: transitionsBySocket(items, port, { partial }) };
      }),
    ),
  };
}

/**
 * For a fault that does not stop observation: per port, the sockets are exactly the listener and
 * the workload's clients and children (by the client ports it used) or its refused connects, each
 * with the kernel's transitions, all from `instance`. With kernel loss (`lossBudget` > 0) a socket
 * may miss transitions, as many as the kernel dropped at most. Returns the missing transitions.
 */
export function expectWorkloadExact(view: WorkloadView, attempts: Attempt[], instance: string, lossBudget: number): number {
  let missing = 0;
  for (const { kind, port, sockets } of view.ports) {
    const mine = attempts.filter((a) => a.port === port);
    const seen = Object.keys(sockets.seqs).sort();
    if (kind === 'accepted') {
      // By ends: a reused client port shows up once per connection that used it.
      const want = ['listener', ...mine.flatMap((a) => [`client:${a.sport}`, `child:${a.sport}`])].sort();
      if (lossBudget === 0) expect({ port, sockets: seen.map(endsOf).sort() }).toEqual({ port, sockets: want });
      else expect(seen.map(endsOf).filter((s) => !want.includes(s))).toEqual([]);
    } else {
      if (lossBudget === 0) expect({ port, sockets: seen.length }).toEqual({ port, sockets: mine.length });
      else expect(seen.length).toBeLessThanOrEqual(mine.length);
    }
    for (const s of seen) {
      const items = sockets.bySocket[s] as Transition[];
      expect({ port, socket: s, instances: [...new Set(items.map((t) => t.instance))] }).toEqual({ port, socket: s, instances: [instance] });
      const expected = kernelEdges(kind, s);
      if (lossBudget === 0) expect({ port, socket: s, edges: items.map(edge) }).toEqual({ port, socket: s, edges: expected });
      else missing += expected.length - matchEdges(`port ${port} ${s}`, expected, items.map(edge)).length;
    }
  }
  expect(missing).toBeLessThanOrEqual(lossBudget);
  return missing;
}

/**
 * One closed lifetime per socket in /api/v1/connections (no lifetime stored twice), the states
 * those transitions visited, on the socket's skaddr.
 */
export async function expectConnections(rig: Rig, view: WorkloadView): Promise<void> {
  for (const { port, sockets } of view.ports) {
    const conns = await rig.aggregator.all<Connection>(`/api/v1/connections?port=${port}&limit=500&order=asc`);
    expect({ port, sockets: conns.map((c) => socketOf(port, c)).sort() }).toEqual({ port, sockets: Object.keys(sockets.seqs).map(endsOf).sort() });
    // A reused client port: its lifetimes in the order they were opened (ends, then #2, #3...).
    const taken = new Set<string>();
    for (const c of conns) {
      const ends = socketOf(port, c);
      let s = ends;
      for (let n = 2; taken.has(s); n++) s = `${ends}#${n}`;
      taken.add(s);
      const seq = sockets.seqs[s] as string[];
      const visited = [(seq[0] as string).split('->')[0], ...seq.map((t) => t.split('->')[1])];
      expect({ port, socket: s, skaddr: c.skaddr, lastState: c.lastState, closed: c.closedAt !== null, states: c.states.map((v) => v.state.replace('TCP_', '')) }).toEqual({
        port,
        socket: s,
        skaddr: sockets.skaddr[s],
        lastState: 'TCP_CLOSE',
        closed: true,
        states: visited,
      });
    }
  }
}

export interface CutPhases {
  /** Attempts the first agent had delivered (seen whole through the API) before it was killed. */
  before: Attempt[];
  /** Wall-clock ms at which the successor was seen tracing: attempts started later are all its to see. */
  successorTracingAt: number;
}

/**
 * After a kill -9 of the agent (`instances` = [killed, successor]): each socket's transitions are
 * the kernel's with one run left out, the part that happened while neither agent read the kernel —
 * what the killed one had not spooled yet, and what came before its successor was tracing. So the
 * killed agent's part of a socket is a prefix of the kernel's transitions, the successor's a suffix,
 * each from one stream, in order, none twice. `phases.before` must be whole from the killed agent
 * and every attempt started once the successor traced whole from it; the listener, made before the
 * kill and closed after, shows its CLOSE->LISTEN from the one and LISTEN->CLOSE from the other. With
 * kernel loss (`lossBudget` > 0) those whole ones may miss as many transitions as the kernel dropped.
 * Returns how many sockets lost part of their transitions to the blind window, how many are whole,
 * and how many the window hid entirely.
 */
export function expectWorkloadCut(view: WorkloadView, attempts: Attempt[], instances: [string, string], phases: CutPhases, lossBudget: number): { cut: number; whole: number; unseen: number } {
  const [killed, successor] = instances;
  let cut = 0;
  let whole = 0;
  let unseen = 0;
  let missingFromWhole = 0;
  for (const { kind, port, sockets } of view.ports) {
    const mine = attempts.filter((a) => a.port === port);
    const before = phases.before.filter((a) => a.port === port);
    const after = mine.filter((a) => a.startedAt >= phases.successorTracingAt);
    const from = new Map<string, { edges: string[]; instances: string[]; complete: boolean }>();
    for (const [s, items] of Object.entries(sockets.bySocket)) {
      const what = `port ${port} ${s}`;
      const expected = kernelEdges(kind, s);
      const edges = items.map(edge);
      const by = items.map((t) => t.instance);
      // One stream's part, then the other's: never back.
      expect({ socket: what, order: by.filter((x, i) => i === 0 || x !== by[i - 1]) }).toEqual({ socket: what, order: instances.filter((x) => by.includes(x)) });
      const at = matchEdges(what, expected, edges);
      if (lossBudget === 0) {
        const a = at.filter((_, i) => by[i] === killed);
        const b = at.filter((_, i) => by[i] === successor);
        expect({ socket: what, killedPart: a }).toEqual({ socket: what, killedPart: a.map((_, i) => i) });
        expect({ socket: what, successorPart: b }).toEqual({ socket: what, successorPart: b.map((_, i) => expected.length - b.length + i) });
      }
      const complete = at.length === expected.length;
      if (complete) whole++;
      else cut++;
      from.set(s, { edges, instances: [...new Set(by)], complete });
    }
    // A lifetime with no ends: a client's CLOSE->SYN_SENT the killed agent spooled, the rest unseen.
    for (const items of sockets.unattributed) {
      expect({ port, lifetime: items.map((t) => [edge(t), t.instance === killed]) }).toEqual({ port, lifetime: [['CLOSE->SYN_SENT', true]] });
      cut++;
    }
    // An attempt's socket with these ends: the lifetime born nearest to it (a reused client port
    // belongs to connections seconds apart).
    const socketNear = (ends: string, a: Attempt): string | undefined => {
      const mid = (a.startedAt + a.endedAt) / 2;
      const dist = (k: string) => Math.abs(Date.parse((sockets.bySocket[k] as Transition[])[0]!.time) - mid);
      return Object.keys(sockets.bySocket).filter((k) => endsOf(k) === ends).sort((x, y) => dist(x) - dist(y))[0];
    };
    const wholeFrom = (ends: string, a: Attempt, instance: string) => {
      const s = socketNear(ends, a);
      const f = s === undefined ? undefined : from.get(s);
      if (f?.complete && f.instances.length === 1 && f.instances[0] === instance) return true;
      missingFromWhole += f ? kernelEdges(kind, ends).length - f.edges.length : kernelEdges(kind, ends).length;
      return false;
    };
    if (kind === 'accepted') {
      const sports = new Set(mine.map((a) => a.sport));
      const seenEnds = [...from.keys()].map(endsOf);
      const wanted = mine.flatMap((a) => [`client:${a.sport}`, `child:${a.sport}`]);
      for (const e of new Set(wanted)) {
        const n = seenEnds.filter((x) => x === e).length;
        expect({ port, socket: e, atMostOnePerAttempt: n <= wanted.filter((x) => x === e).length }).toEqual({ port, socket: e, atMostOnePerAttempt: true });
        unseen += wanted.filter((x) => x === e).length - n;
      }
      expect({ port, strangers: seenEnds.filter((s) => s !== 'listener' && !sports.has(Number(s.split(':')[1]))) }).toEqual({ port, strangers: [] });
      expect({ port, listener: from.get('listener') }).toEqual({ port, listener: { edges: ACCEPTED.listener, instances: [killed, successor], complete: true } });
      const notWhole = (list: Attempt[], instance: string) =>
        list.flatMap((a) => [`client:${a.sport}`, `child:${a.sport}`].filter((e) => !wholeFrom(e, a, instance)));
      if (lossBudget === 0) {
        expect({ port, beforeKillNotWhole: notWhole(before, killed) }).toEqual({ port, beforeKillNotWhole: [] });
        expect({ port, afterRestartNotWhole: notWhole(after, successor) }).toEqual({ port, afterRestartNotWhole: [] });
      } else {
        notWhole(before, killed);
        notWhole(after, successor);
      }
    } else {
      const wholeOf = (instance: string) => [...from.values()].filter((f) => f.complete && f.instances.length === 1 && f.instances[0] === instance).length;
      expect(from.size + sockets.unattributed.length).toBeLessThanOrEqual(mine.length);
      unseen += mine.length - from.size - sockets.unattributed.length;
      if (lossBudget === 0) {
        expect({ port, wholeFromKilled: wholeOf(killed) >= before.length, wholeFromSuccessor: wholeOf(successor) >= after.length }).toEqual({ port, wholeFromKilled: true, wholeFromSuccessor: true });
      } else {
        missingFromWhole += Math.max(0, before.length - wholeOf(killed)) * REFUSED.length + Math.max(0, after.length - wholeOf(successor)) * REFUSED.length;
      }
    }
  }
  expect(missingFromWhole).toBeLessThanOrEqual(lossBudget);
  return { cut, whole, unseen };
}
