// A fleet of virtual agents. Every event comes from a command decided by the kprobe model
// (`decide`) against the fleet's model state and is then applied to it (`evolve`), so a generated
// stream replays through the model without a violation by construction; the envelope and data are
// spelled as the agent spells them (key order, monoNs, hit context, no saved insn).
import { AGENT_VERSION, agentCapabilities, EVENT_VERSION, parseInstant, rfc3339Nanos, TCP_PROBE_EVENT, TCP_PROBE_LINE_DEBIAN, TCP_TRACEPOINT, type Event, type EventData, type HitContext, type Life, type Owner, type TcpArgs, type Attribution } from '@probefleet/events';
import { decide, evolve, initialState, type Command, type ModelState } from '@probefleet/kprobe-model';
import { ANY_V4, ANY_V6, mappedV4, publicIpv4, publicIpv6 } from './addresses';
import { newBoot, runsUserProbe, userProbeOffset, type Boot, type Listener } from './boot';
import { clientsOf, kernelRelease, makeHosts, type AgentMode, type HostProfile, type Role, type Upstream } from './hosts';
import { attributionOf, lifeOf, ownerOf } from './owners';
import { Random } from './random';
import { visibleSteps, type ConnectionKind, type Step } from './tcp';

export interface FleetOptions {
  seed: number;
  /** Virtual agents, one per host. */
  agents: number;
  /** Events per virtual second of the whole fleet while every agent runs (each host has its share): event times advance at this rate. */
  eventsPerSecond: number;
  /** Wall-clock instant the simulation starts at (RFC 3339). */
  start: string;
  /** Share of hosts whose kernel lacks kprobe events, so their agent runs in tracepoint mode (0.25). */
  tracepointShare?: number;
  /** Share of connections over IPv6 on an average host (0.2). */
  ipv6Share?: number;
  /** agent.heartbeat interval, virtual seconds (30, the agent's default). */
  heartbeatIntervalS?: number;
  /** Mean virtual seconds between restarts of one agent (a new instance, same boot); Infinity: never (3600). */
  restartMeanS?: number;
  /** Mean virtual seconds between reboots of one host (a new bootId); Infinity: never (14400). */
  rebootMeanS?: number;
  /** Share of reboots that are crashes: no orderly agent stop, the stream just ends (0.25). */
  crashShare?: number;
  /** TCP hits carry their socket's owner and attribution, as the current agent sends them (true; false: an agent before issue 15). */
  ownership?: boolean;
  /** In kprobe mode, a TCP_CLOSE hit carries tcplife's counters (`data.life`) too (false). */
  tcplife?: boolean;
  /** Mean virtual seconds between agent.loss reports of one agent (900). */
  lossMeanS?: number;
  /** Mean virtual seconds between probe.missed reports of one kprobe-mode agent (600). */
  missedMeanS?: number;
  /** The agents start within this many virtual seconds of the start (1). */
  startSpreadS?: number;
  /** agent.stopped reason when the simulation finishes ("signal SIGTERM"). */
  stopReason?: string;
}

const DEFAULTS = {
  tracepointShare: 0.25,
  ipv6Share: 0.2,
  heartbeatIntervalS: 30,
  restartMeanS: 3600,
  rebootMeanS: 14400,
  crashShare: 0.25,
  lossMeanS: 900,
  missedMeanS: 600,
  startSpreadS: 1,
  stopReason: 'signal SIGTERM',
  ownership: true,
  tcplife: false,
};

const HOST = { tracefs: true, instances: true, btf: true, tcpTracepoint: true, canTrace: true };
const CAPABILITIES: Readonly<Record<AgentMode, string[]>> = {
  kprobe: agentCapabilities({ ...HOST, kprobeEvents: true, dynamicEvents: true }),
  tracepoint: agentCapabilities({ ...HOST, kprobeEvents: false, dynamicEvents: false }),
};

const NS = 1e9;
/** The user probe some agents run (like the lab's `connect_v4` config): a later instruction of tcp_v4_connect. */
const USER_PROBE = 'connect_v4';
const userProbeLine = (offset: number) => `p:probefleet/${USER_PROBE} tcp_v4_connect+${offset} sk=%di:x64`;

/** What a TCP hit says of its socket's owner (issue 15). */
interface Owned { owner: Owner; attribution: Attribution; life: Life | undefined }

/** One TCP socket's life in progress. */
interface Connection {
  skaddr: string;
  family: 'AF_INET' | 'AF_INET6';
  steps: readonly Step[];
  at: number;
  local: string;
  localPort: number;
  remote: string;
  remotePort: number;
  /** The listener's bound address (listener view). */
  bound: string;
  comm: string;
  pid: number;
  /** The socket's owner (boot.owners; a curl's own). */
  owner: Owner;
  /** Free the address after the last step (it ends in CLOSE). */
  release: boolean;
}

interface Instance {
  id: string;
  registered: boolean;
  armed: boolean;
  events: number;
  hits: number;
  published: number;
  overruns: number;
  misses: number;
  publishErrors: number;
}

type Phase = 'down' | 'starting' | 'running' | 'stopping';
type AfterStop = 'restart' | 'reboot' | 'finish';

interface HostSim {
  index: number;
  profile: HostProfile;
  mode: AgentMode;
  boot: Boot;
  instance: Instance | undefined;
  phase: Phase;
  /** Bumped when the agent stops or the host crashes: timers of an earlier epoch are stale. */
  epoch: number;
  afterStop: AfterStop;
  stopReason: string;
  connections: Connection[];
}

type TimerKind = 'start' | 'stop' | 'heartbeat' | 'restart' | 'reboot' | 'loss' | 'missed' | 'boot' | 'optimize';

interface Timer {
  at: number;
  order: number;
  host: number;
  kind: TimerKind;
  epoch: number;
}

/** Counts of what the fleet generated so far. */
export interface FleetStats {
  hosts: number;
  kprobeHosts: number;
  tracepointHosts: number;
  events: number;
  hits: number;
  byType: Record<string, number>;
  /** Agent instances started (streams). */
  streams: number;
  restarts: number;
  reboots: number;
  crashes: number;
  agentsRunning: number;
  virtualSeconds: number;
}

export class Fleet {
  readonly hosts: readonly HostProfile[];
  private readonly opts: Required<FleetOptions>;
  private readonly rnd: Random;
  private readonly state: ModelState = initialState();
  private readonly sims: HostSim[];
  private readonly byRole = new Map<Role, HostProfile[]>();
  private readonly cumulativeWeight: number[];
  private readonly startNs: bigint;
  private readonly heap: Timer[] = [];
  private timerOrder = 0;
  /** Virtual ns since the start. */
  private clock = 0;
  private queue: Event[] = [];
  private queueAt = 0;
  private finished = false;
  private finishing = false;
  /** Nanoseconds of the start within its second, and the cached time text up to the second. */
  private readonly startFracNs: number;
  private prefixSec = -1;
  private prefix = '';
  /** Hosts whose agent is in phase 'running' (armed: hits flow). */
  private running = 0;
  private runningWeight = 0;
  private readonly totalWeight: number;
  private readonly counts = { events: 0, hits: 0, streams: 0, restarts: 0, reboots: 0, crashes: 0, byType: {} as Record<string, number> };

  constructor(options: FleetOptions) {
    this.opts = { ...DEFAULTS, ...options };
    const o = this.opts;
    if (!Number.isInteger(o.agents) || o.agents < 1) throw new RangeError(`agents must be a positive integer, got ${o.agents}`);
    if (!(o.eventsPerSecond > 0)) throw new RangeError(`eventsPerSecond must be positive, got ${o.eventsPerSecond}`);
    this.startNs = parseInstant(o.start);
    this.startFracNs = Number(this.startNs % 1_000_000_000n);
    this.rnd = new Random(o.seed);
    this.hosts = makeHosts(o.agents, { tracepointShare: o.tracepointShare, ipv6Share: o.ipv6Share }, this.rnd);
    for (const h of this.hosts) this.byRole.set(h.role, [...(this.byRole.get(h.role) ?? []), h]);
    let total = 0;
    this.cumulativeWeight = this.hosts.map((h) => (total += h.weight));
    this.totalWeight = total;
    this.sims = this.hosts.map((profile, index) => {
      // Up for an hour to three months already: CLOCK_MONOTONIC (monoNs) is large, as on real hosts.
      const uptime = this.rnd.int(3600, 90 * 86400) * NS;
      return {
        index,
        profile,
        mode: profile.mode,
        boot: newBoot(profile, kernelRelease(profile.kernel), -uptime, this.rnd),
        instance: undefined,
        phase: 'down',
        epoch: 0,
        afterStop: 'finish',
        stopReason: o.stopReason,
        connections: [],
      };
    });
    for (const sim of this.sims) this.schedule(sim, 'start', this.rnd.next() * o.startSpreadS * NS);
  }

  /** The fleet's next event, in time order. */
  next(): Event {
    if (this.finished) throw new Error('the fleet has finished');
    while (this.queueAt === this.queue.length) {
      this.queue = [];
      this.queueAt = 0;
      this.advance();
    }
    return this.queue[this.queueAt++] as Event;
  }

  /** Stops every running agent in order (disarm, unregister, agent.stopped): the fleet's last events. */
  finish(): Event[] {
    if (this.finished) return [];
    const out = this.queue.slice(this.queueAt);
    this.queue = [];
    this.queueAt = 0;
    this.finishing = true;
    for (const sim of this.sims) {
      if (sim.phase === 'starting' || sim.phase === 'running') this.beginStop(sim, 'finish', this.opts.stopReason);
      else if (sim.phase === 'stopping') sim.afterStop = 'finish';
    }
    while (this.heap.length > 0) this.fire(this.popTimer());
    out.push(...this.queue);
    this.queue = [];
    this.finished = true;
    return out;
  }

  /** Virtual nanoseconds from the start to the latest event (or timer) so far. */
  get elapsedNs(): number {
    return this.clock;
  }

  stats(): FleetStats {
    const kprobeHosts = this.sims.filter((s) => s.mode === 'kprobe').length;
    return {
      hosts: this.sims.length,
      kprobeHosts,
      tracepointHosts: this.sims.length - kprobeHosts,
      events: this.counts.events,
      hits: this.counts.hits,
      byType: { ...this.counts.byType },
      streams: this.counts.streams,
      restarts: this.counts.restarts,
      reboots: this.counts.reboots,
      crashes: this.counts.crashes,
      agentsRunning: this.sims.filter((s) => s.phase !== 'down').length,
      virtualSeconds: Math.round(this.clock / 1e6) / 1e3,
    };
  }

  // --- time and timers

  private setPhase(sim: HostSim, phase: Phase): void {
    if (sim.phase === 'running') {
      this.running--;
      this.runningWeight -= sim.profile.weight;
    }
    if (phase === 'running') {
      this.running++;
      this.runningWeight += sim.profile.weight;
    }
    sim.phase = phase;
  }

  private advance(): void {
    // Nothing can hit while no agent runs: straight to the next timer (a start, a boot).
    if (this.running === 0) {
      if (this.heap.length === 0) throw new Error('fleet-sim: no agent runs and nothing is scheduled');
      this.fire(this.popTimer());
      return;
    }
    // Each host has its share of the fleet's rate; hosts whose agent is not running add nothing.
    const rate = (this.opts.eventsPerSecond * this.runningWeight) / this.totalWeight;
    const hitAt = this.clock + this.rnd.exp(NS / rate);
    const top = this.heap[0];
    if (top !== undefined && top.at <= hitAt) {
      this.fire(this.popTimer());
      return;
    }
    this.clock = hitAt;
    this.tcpStep(this.pickRunning());
  }

  private schedule(sim: HostSim, kind: TimerKind, delayNs: number): void {
    const timer: Timer = { at: this.clock + delayNs, order: this.timerOrder++, host: sim.index, kind, epoch: sim.epoch };
    const h = this.heap;
    h.push(timer);
    for (let i = h.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!before(h[i] as Timer, h[parent] as Timer)) break;
      [h[i], h[parent]] = [h[parent] as Timer, h[i] as Timer];
      i = parent;
    }
  }

  private popTimer(): Timer {
    const h = this.heap;
    const top = h[0] as Timer;
    const last = h.pop() as Timer;
    if (h.length > 0) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l] as Timer, h[m] as Timer)) m = l;
        if (r < h.length && before(h[r] as Timer, h[m] as Timer)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m] as Timer, h[i] as Timer];
        i = m;
      }
    }
    return top;
  }

  private fire(timer: Timer): void {
    const sim = this.sims[timer.host] as HostSim;
    if (timer.epoch !== sim.epoch) return;
    if (this.finishing && timer.kind !== 'stop') return;
    this.clock = Math.max(this.clock, timer.at);
    const o = this.opts;
    switch (timer.kind) {
      case 'boot':
        this.reboot(sim);
        return;
      case 'start':
        this.startStep(sim);
        return;
      case 'stop':
        this.stopStep(sim);
        return;
      case 'heartbeat':
        if (sim.instance === undefined) return;
        this.heartbeat(sim, sim.instance);
        this.schedule(sim, 'heartbeat', o.heartbeatIntervalS * NS);
        return;
      case 'restart':
        if (sim.phase === 'running') {
          this.counts.restarts++;
          this.beginStop(sim, 'restart', 'signal SIGTERM');
        }
        return;
      case 'reboot':
        if (sim.phase !== 'running') return;
        this.counts.reboots++;
        if (this.rnd.chance(o.crashShare)) {
          // Power loss or a panic: the agent writes nothing more; the host comes back with a new boot.
          this.counts.crashes++;
          sim.epoch++;
          this.setPhase(sim, 'down');
          sim.instance = undefined;
          this.schedule(sim, 'boot', this.rnd.int(60, 240) * NS);
        } else this.beginStop(sim, 'reboot', 'signal SIGTERM');
        return;
      case 'loss':
        this.run(sim, { type: 'loss' });
        this.scheduleMean(sim, 'loss', o.lossMeanS);
        return;
      case 'missed':
        this.run(sim, { type: 'report-missed', probe: TCP_PROBE_EVENT, count: this.rnd.int(1, 20) });
        this.scheduleMean(sim, 'missed', o.missedMeanS);
        return;
      case 'optimize':
        // The kprobe optimizer's delayed work ran; the agent's next read of kprobes/list shows it.
        if (sim.phase === 'running') this.run(sim, { type: 'optimize' });
        return;
    }
  }

  private scheduleMean(sim: HostSim, kind: TimerKind, meanS: number): void {
    if (Number.isFinite(meanS)) this.schedule(sim, kind, this.rnd.exp(meanS) * NS);
  }

  /** A random running agent, by traffic weight. */
  private pickRunning(): HostSim {
    const w = this.cumulativeWeight;
    const total = w[w.length - 1] as number;
    for (let attempt = 0; attempt < 32; attempt++) {
      const r = this.rnd.next() * total;
      let lo = 0;
      let hi = w.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((w[mid] as number) > r) hi = mid;
        else lo = mid + 1;
      }
      const sim = this.sims[lo] as HostSim;
      if (sim.phase === 'running') return sim;
    }
    return this.rnd.pick(this.sims.filter((s) => s.phase === 'running'));
  }

  // --- agent lifecycle (apps/agent/src/run.ts: started, registered, armed … disarmed, unregistered, stopped)

  private startStep(sim: HostSim): void {
    const o = this.opts;
    if (sim.instance === undefined) {
      sim.instance = { id: this.rnd.uuid(), registered: false, armed: false, events: 0, hits: 0, published: 0, overruns: 0, misses: 0, publishErrors: 0 };
      this.setPhase(sim, 'starting');
      this.counts.streams++;
      const data: EventData<'agent.started'> = { kernelRelease: sim.boot.kernel.release, arch: 'x86_64', agentVersion: AGENT_VERSION, mode: sim.mode, capabilities: CAPABILITIES[sim.mode] };
      this.run(sim, { type: 'start', data });
      this.schedule(sim, 'heartbeat', o.heartbeatIntervalS * NS);
      // kprobe mode reads BTF and kallsyms before registering: about two seconds.
      this.schedule(sim, 'start', sim.mode === 'kprobe' ? this.rnd.int(1500, 2500) * 1e6 : this.rnd.int(20, 80) * 1e6);
    } else if (!sim.instance.registered) {
      sim.instance.registered = true;
      if (sim.mode === 'kprobe') this.run(sim, { type: 'register', probe: TCP_PROBE_EVENT, kind: 'kprobe', symbol: 'tcp_set_state', offset: 0 });
      else this.run(sim, { type: 'register', probe: TCP_TRACEPOINT.event, kind: 'tracepoint', symbol: TCP_TRACEPOINT.name, offset: 0 });
      if (this.userProbe(sim)) this.run(sim, { type: 'register', probe: USER_PROBE, kind: 'kprobe', symbol: 'tcp_v4_connect', offset: userProbeOffset(sim.boot.image) });
      this.schedule(sim, 'start', this.rnd.int(30, 90) * 1e6);
    } else {
      sim.instance.armed = true;
      for (const probe of this.probesOf(sim)) this.run(sim, { type: 'arm', probe });
      // An int3 kprobe is optimized by the optimizer's delayed work, after an RCU-tasks grace period.
      if (this.userProbe(sim)) this.schedule(sim, 'optimize', this.rnd.int(20, 400) * 1e6);
      this.setPhase(sim, 'running');
      if (sim.boot.fresh) {
        sim.boot.fresh = false;
        this.preexisting(sim);
      }
      this.scheduleMean(sim, 'restart', o.restartMeanS);
      this.scheduleMean(sim, 'reboot', o.rebootMeanS);
      this.scheduleMean(sim, 'loss', o.lossMeanS);
      if (sim.mode === 'kprobe') this.scheduleMean(sim, 'missed', o.missedMeanS);
    }
  }

  private beginStop(sim: HostSim, after: AfterStop, reason: string): void {
    sim.epoch++;
    this.setPhase(sim, 'stopping');
    sim.afterStop = after;
    sim.stopReason = reason;
    this.schedule(sim, 'stop', 0);
  }

  private stopStep(sim: HostSim): void {
    const inst = sim.instance as Instance;
    if (inst.armed) {
      inst.armed = false;
      for (const probe of this.probesOf(sim)) this.run(sim, { type: 'disarm', probe });
      this.schedule(sim, 'stop', this.rnd.int(5, 20) * 1e6);
      return;
    }
    if (inst.registered) {
      inst.registered = false;
      for (const probe of this.probesOf(sim)) this.run(sim, { type: 'unregister', probe });
      this.schedule(sim, 'stop', this.rnd.int(20, 60) * 1e6);
      return;
    }
    this.run(sim, { type: 'stop', reason: sim.stopReason });
    sim.instance = undefined;
    this.setPhase(sim, 'down');
    // Sockets live on in the kernel while no agent watches; this simulator pauses them instead, so
    // the next instance sees each path continue where the last one left it.
    if (this.finishing) return;
    if (sim.afterStop === 'restart') this.schedule(sim, 'start', this.rnd.int(1000, 4000) * 1e6);
    else if (sim.afterStop === 'reboot') this.schedule(sim, 'boot', this.rnd.int(20, 60) * NS);
  }

  /** The host comes up with a new bootId (sometimes a newer kernel); its agent starts during boot. */
  private reboot(sim: HostSim): void {
    const current = sim.boot.kernel;
    const kernel = current.next !== undefined && this.rnd.chance(0.3) ? kernelRelease(current.next) : current;
    sim.boot = newBoot(sim.profile, kernel, this.clock, this.rnd);
    sim.mode = kernel.mode;
    sim.connections = [];
    this.schedule(sim, 'start', this.rnd.int(8, 25) * NS);
  }

  private probeOf(sim: HostSim): string {
    return sim.mode === 'kprobe' ? TCP_PROBE_EVENT : TCP_TRACEPOINT.event;
  }

  /** A kprobe-mode agent of some hosts also runs a user probe (armed, never hit here). */
  private userProbe(sim: HostSim): boolean {
    return sim.mode === 'kprobe' && runsUserProbe(sim.profile.name);
  }

  private probesOf(sim: HostSim): string[] {
    return this.userProbe(sim) ? [this.probeOf(sim), USER_PROBE] : [this.probeOf(sim)];
  }

  private heartbeat(sim: HostSim, inst: Instance): void {
    // What the agent's metrics hold: the spool lags the reader by what the broker has not acked yet.
    const lag = this.rnd.int(0, Math.min(inst.events, 400));
    inst.published = Math.max(inst.published, inst.events - lag);
    if (this.rnd.chance(0.01)) inst.publishErrors++;
    const counters = {
      eventsRead: inst.hits,
      eventsSpooled: inst.events,
      eventsPublished: inst.published,
      eventsDropped: 0,
      spoolCorruptTails: 0,
      spoolCorruptBytes: 0,
      kernelOverruns: inst.overruns,
      kprobeMisses: inst.misses,
      publishErrors: inst.publishErrors,
      readPauses: 0,
      spoolBytes: (inst.events - inst.published) * 610,
    };
    this.run(sim, { type: 'heartbeat', counters });
  }

  // --- events through the model

  /** Decides `body` for the host's current instance with the kprobe model, applies it, queues the events. */
  private run(sim: HostSim, body: SimCommand): void {
    const inst = sim.instance as Instance;
    const host = sim.profile.name;
    const time = this.timeText();
    let decided: Event[];
    if (body.type === 'heartbeat' || body.type === 'loss') {
      // Agent-only events: the model has no command for them (it accepts them as they are).
      const seq = (this.state.streams.get(host)?.get(inst.id)?.lastSeq ?? 0) + 1;
      const source = { v: EVENT_VERSION as 1, host, bootId: sim.boot.bootId, instance: inst.id, seq, time };
      decided = [
        body.type === 'heartbeat'
          ? { ...source, type: 'agent.heartbeat', data: { counters: body.counters } }
          : { ...source, type: 'agent.loss', data: { overruns: this.overruns(sim) } },
      ];
    } else {
      const d = decide(Object.assign({ host, bootId: sim.boot.bootId, instance: inst.id, time }, body) as Command, this.state, sim.boot.image);
      if (!d.ok) throw new Error(`fleet-sim: the kprobe model refused ${body.type} on ${host}: ${d.reason}`);
      decided = d.events;
    }
    this.apply(sim, inst, decided, undefined);
  }

  /** A TCP hit: the same as `run`, spelled out for the hot path (no spreads: they make slow objects). */
  private hit(sim: HostSim, cpu: number, pid: number, comm: string, ctx: HitContext, args: TcpArgs, owned?: Owned): void {
    const inst = sim.instance as Instance;
    const command: Command = { host: sim.profile.name, bootId: sim.boot.bootId, instance: inst.id, time: this.timeText(), type: 'hit', probe: this.probeOf(sim), cpu, pid, comm, args };
    const d = decide(command, this.state, sim.boot.image);
    if (!d.ok) throw new Error(`fleet-sim: the kprobe model refused a hit on ${command.host}: ${d.reason}`);
    this.apply(sim, inst, d.events, ctx, owned);
  }

  private apply(sim: HostSim, inst: Instance, decided: Event[], ctx: HitContext | undefined, owned?: Owned): void {
    const monoNs = String(Math.round(this.clock - sim.boot.bootedAt));
    for (const e of decided) {
      const event = agentSpelling(e, monoNs, ctx, owned);
      const applied = evolve(this.state, event);
      if (!applied.ok) throw new Error(`fleet-sim: the kprobe model refused ${event.type} seq ${event.seq} on ${event.host}: ${applied.reason}`);
      this.queue.push(event);
      inst.events++;
      this.counts.events++;
      this.counts.byType[event.type] = (this.counts.byType[event.type] ?? 0) + 1;
      if (event.type === 'probe.hit') {
        inst.hits++;
        this.counts.hits++;
      } else if (event.type === 'agent.loss') inst.overruns += event.data.overruns.reduce((n, o) => n + o.count, 0);
      else if (event.type === 'probe.missed') inst.misses += event.data.count;
    }
  }

  /** `time` of an event now: RFC 3339 with nanoseconds; the text up to the second is reused within a second. */
  private timeText(): string {
    const ns = this.startFracNs + Math.round(this.clock);
    const sec = Math.floor(ns / NS);
    if (sec !== this.prefixSec) {
      this.prefixSec = sec;
      this.prefix = rfc3339Nanos(this.startNs - BigInt(this.startFracNs) + BigInt(sec) * 1_000_000_000n).slice(0, 20);
    }
    return `${this.prefix}${String(ns - sec * NS).padStart(9, '0')}Z`;
  }

  private overruns(sim: HostSim): { cpu: number; count: number }[] {
    const cpus = Math.min(sim.profile.cpus, this.rnd.int(1, 3));
    const first = this.rnd.int(0, sim.profile.cpus - cpus);
    return Array.from({ length: cpus }, (_, i) => ({ cpu: first + i, count: this.rnd.int(1, 4000) }));
  }

  // --- TCP

  /** One TCP state change on the host: a new connection's first step, or the next step of one in flight. */
  private tcpStep(sim: HostSim): void {
    const conns = sim.connections;
    for (;;) {
      const open = conns.length === 0 || this.rnd.chance(conns.length < sim.profile.concurrency ? 0.35 : 0.02);
      if (open) this.openConnections(sim);
      if (conns.length === 0) continue;
      const i = open ? conns.length - 1 : this.rnd.int(0, conns.length - 1);
      const c = conns[i] as Connection;
      this.emitStep(sim, c);
      if (c.at === c.steps.length) {
        if (c.release) sim.boot.slabs[c.family].release(c.skaddr);
        conns[i] = conns[conns.length - 1] as Connection;
        conns.pop();
      }
      return;
    }
  }

  private emitStep(sim: HostSim, c: Connection): void {
    const s = c.steps[c.at++] as Step;
    const any = c.family === 'AF_INET' ? ANY_V4 : ANY_V6;
    const args: TcpArgs =
      s.view === 'listener'
        ? { skaddr: c.skaddr, family: c.family, saddr: c.bound, daddr: any, sport: c.localPort, dport: 0, oldstate: s.from, newstate: s.to }
        : { skaddr: c.skaddr, family: c.family, saddr: c.local, daddr: c.remote, sport: s.view === 'connecting' ? 0 : c.localPort, dport: c.remotePort, oldstate: s.from, newstate: s.to };
    const cpus = sim.profile.cpus;
    let cpu = this.rnd.int(0, cpus - 1);
    let pid = c.pid;
    let comm = c.comm;
    let ctx = PROCESS[this.rnd.chance(0.03) ? 1 : 0] as HitContext;
    if (s.ctx === 'softirq') {
      // The segment is processed in NET_RX softirq on whatever the cpu was running: idle, ksoftirqd, or a task.
      const who = this.rnd.next();
      if (who < 0.55) {
        pid = 0;
        comm = `swapper/${cpu}`;
        ctx = SOFTIRQ_IDLE;
      } else if (who < 0.7) {
        // ksoftirqd/N has a low pid fixed at boot (14 for cpu 0 on Debian 12, then every 8).
        pid = 14 + 8 * cpu;
        comm = `ksoftirqd/${cpu}`;
        ctx = SOFTIRQ_IDLE;
      } else {
        const task = this.rnd.pick(sim.boot.tasks);
        comm = task.comm;
        pid = task.pid;
        ctx = SOFTIRQ_TASK;
      }
    } else cpu = pid % cpus;
    const owned: Owned | undefined = !this.opts.ownership ? undefined : {
      owner: c.owner, attribution: attributionOf(s.ctx),
      life: this.opts.tcplife && s.to === 'TCP_CLOSE' && sim.mode === 'kprobe' ? lifeOf(c.skaddr, this.counts.events, c.steps.length) : undefined,
    };
    this.hit(sim, cpu, pid, comm, ctx, args, owned);
  }

  /** Opens one connection (or a listener's restart) whose first visible step comes next; may open nothing. */
  private openConnections(sim: HostSim): void {
    const p = sim.profile;
    const serves = p.services.length > 0;
    if (serves && this.rnd.chance(0.0005)) {
      this.restartListener(sim);
      return;
    }
    const accept = serves && (p.upstreams.length === 0 || this.rnd.chance(0.6));
    const conn = accept ? this.accepted(sim) : this.outgoing(sim);
    if (conn !== undefined && conn.steps.length > 0) sim.connections.push(conn);
  }

  private accepted(sim: HostSim): Connection {
    const p = sim.profile;
    const service = this.rnd.pick(p.services);
    const kind = this.rnd.weighted<ConnectionKind>([['server-passive-close', 55], ['server-active-close', 40], ['server-reset', 5]]);
    const clientRole = this.rnd.pick(clientsOf(p.role));
    const listeners = sim.boot.listeners.get(service.port) as Listener[];
    const v6 = this.rnd.chance(p.ipv6Share) && listeners.some((l) => l.family === 'AF_INET6');
    const v4Listener = listeners.find((l) => l.family === 'AF_INET');
    const listener = (v6 ? listeners.find((l) => l.family === 'AF_INET6') : (v4Listener ?? listeners.find((l) => l.dualStack))) as Listener;
    // A v4 client of a dual-stack AF_INET6 listener gets an AF_INET6 socket with v4-mapped addresses.
    const mapped = !v6 && listener.family === 'AF_INET6';
    const peer = this.peerAddress(clientRole, v6, p.name);
    return {
      skaddr: sim.boot.slabs[listener.family].alloc(),
      family: listener.family,
      steps: visibleSteps(kind, sim.mode),
      at: 0,
      local: v6 ? p.ipv6 : mapped ? mappedV4(p.ipv4) : p.ipv4,
      localPort: service.port,
      remote: mapped ? mappedV4(peer.address) : peer.address,
      remotePort: this.rnd.int(peer.ephemeral[0], peer.ephemeral[1]),
      bound: listener.family === 'AF_INET' ? ANY_V4 : ANY_V6,
      comm: service.comm,
      pid: this.rnd.pick(sim.boot.pids.get(service.comm) as number[]),
      owner: sim.boot.owners.get(service.comm) as Owner,
      release: true,
    };
  }

  private outgoing(sim: HostSim): Connection | undefined {
    const p = sim.profile;
    if (p.upstreams.length === 0) return undefined;
    const up = this.rnd.weighted<Upstream>(p.upstreams.map((u) => [u, u.weight] as const));
    const kind = this.rnd.weighted<ConnectionKind>([
      ['client-active-close', 55],
      ['client-passive-close', 36],
      ['client-reset', 3],
      ['client-refused', 3],
      ['client-simultaneous-close', 1],
    ]);
    const v6 = this.rnd.chance(p.ipv6Share);
    const family = v6 ? 'AF_INET6' : 'AF_INET';
    const peer = this.peerAddress(up.peer, v6, p.name);
    const pids = sim.boot.pids.get(up.comm) as number[];
    // curl runs once per connection: a fresh pid each time.
    const pid = up.comm === 'curl' ? this.rnd.int(1000, 4194303) : this.rnd.pick(pids);
    return {
      skaddr: sim.boot.slabs[family].alloc(),
      family,
      steps: visibleSteps(kind, sim.mode),
      at: 0,
      local: v6 ? p.ipv6 : p.ipv4,
      localPort: this.rnd.int(p.ephemeral[0], p.ephemeral[1]),
      remote: peer.address,
      remotePort: up.port,
      bound: v6 ? ANY_V6 : ANY_V4,
      comm: up.comm,
      pid,
      owner: up.comm === 'curl' ? ownerOf(p, sim.boot.bootId, up.comm, pid) : (sim.boot.owners.get(up.comm) as Owner),
      release: true,
    };
  }

  /** A service restart: the old listener closes, a new one (another socket) listens on the port. */
  private restartListener(sim: HostSim): void {
    const service = this.rnd.pick(sim.profile.services);
    const listeners = sim.boot.listeners.get(service.port) as Listener[];
    const i = this.rnd.int(0, listeners.length - 1);
    const old = listeners[i] as Listener;
    const fresh: Listener = { ...old, skaddr: sim.boot.slabs[old.family].alloc() };
    listeners[i] = fresh;
    const pid = this.rnd.pick(sim.boot.pids.get(service.comm) as number[]);
    const base = { at: 0, family: old.family, local: '', localPort: service.port, remote: '', remotePort: 0, bound: old.family === 'AF_INET' ? ANY_V4 : ANY_V6, comm: service.comm, pid,
      owner: sim.boot.owners.get(service.comm) as Owner };
    const open = visibleSteps('listener-open', sim.mode);
    if (open.length > 0) sim.connections.push({ ...base, skaddr: fresh.skaddr, steps: open, release: false });
    sim.connections.push({ ...base, skaddr: old.skaddr, steps: visibleSteps('listener-close', sim.mode), release: true });
  }

  /** Connections the first agent of a boot finds established: their lives started unseen. */
  private preexisting(sim: HostSim): void {
    const n = Math.round(sim.profile.concurrency * 0.3);
    for (let i = 0; i < n; i++) {
      const serves = sim.profile.services.length > 0;
      const conn = serves && (sim.profile.upstreams.length === 0 || this.rnd.chance(0.5)) ? this.accepted(sim) : this.outgoing(sim);
      if (conn === undefined) return;
      const from = conn.steps.findIndex((s) => s.from === 'TCP_ESTABLISHED');
      if (from < 0) {
        sim.boot.slabs[conn.family].release(conn.skaddr);
        continue;
      }
      sim.connections.push({ ...conn, at: from });
    }
  }

  /** A peer of `role` (another fleet host when there is one), or an internet address. */
  private peerAddress(role: Role | 'internet', v6: boolean, self: string): { address: string; ephemeral: readonly [number, number] } {
    if (role === 'internet') {
      // Linux clients use 32768–60999, Windows and macOS 49152–65535.
      const ephemeral = this.rnd.chance(0.6) ? ([32768, 60999] as const) : ([49152, 65535] as const);
      return { address: v6 ? publicIpv6(this.rnd) : publicIpv4(this.rnd), ephemeral };
    }
    const peers = (this.byRole.get(role) ?? []).filter((h) => h.name !== self);
    if (peers.length === 0) {
      const n = this.rnd.int(1, 250);
      return { address: v6 ? `fd00:99::${n.toString(16)}` : `10.99.0.${n}`, ephemeral: [32768, 60999] };
    }
    const peer = this.rnd.pick(peers);
    return { address: v6 ? peer.ipv6 : peer.ipv4, ephemeral: peer.ephemeral };
  }
}

type SimCommand =
  | DistributiveOmit<Command, 'host' | 'bootId' | 'instance' | 'time'>
  | { type: 'heartbeat'; counters: Record<string, number> }
  | { type: 'loss' };
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

// Hit contexts as the trace line's flags give them: a task, a softirq on an idle cpu or in
// ksoftirqd (preempt depth 1), a softirq on a task's irq exit (2).
const PROCESS: readonly HitContext[] = [
  Object.freeze({ irqsOff: false, needResched: false, hardirq: false, softirq: false, nmi: false, preemptDepth: 0 }),
  Object.freeze({ irqsOff: false, needResched: true, hardirq: false, softirq: false, nmi: false, preemptDepth: 0 }),
];
const SOFTIRQ_IDLE: HitContext = Object.freeze({ irqsOff: false, needResched: false, hardirq: false, softirq: true, nmi: false, preemptDepth: 1 });
const SOFTIRQ_TASK: HitContext = Object.freeze({ irqsOff: false, needResched: false, hardirq: false, softirq: true, nmi: false, preemptDepth: 2 });

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}

/**
 * A decided event in the agent's spelling (apps/agent/src/envelope.ts): envelope keys in its order
 * with monoNs; hits with their context; probe.registered without `insn` (the agent cannot read the
 * saved instruction) but with the definition line it wrote.
 */
function agentSpelling(e: Event, monoNs: string, ctx: HitContext | undefined, owned: Owned | undefined): Event {
  let data: Event['data'] = e.data;
  if (e.type === 'probe.hit') {
    const d = e.data;
    data = ctx === undefined ? d : { probe: d.probe, cpu: d.cpu, pid: d.pid, comm: d.comm, ctx, args: d.args };
    // The agent's key order: args, life, owner, attribution.
    if (owned !== undefined) {
      data = owned.life === undefined ? { ...data, owner: owned.owner, attribution: owned.attribution } : { ...data, life: owned.life, owner: owned.owner, attribution: owned.attribution };
    }
  } else if (e.type === 'probe.registered') {
    const d = e.data;
    const definition = d.probe === USER_PROBE ? userProbeLine(d.offset) : TCP_PROBE_LINE_DEBIAN;
    data = { probe: d.probe, kind: d.kind, symbol: d.symbol, offset: d.offset, ...(d.address !== undefined ? { address: d.address, definition } : {}) };
  }
  return { v: e.v, type: e.type, host: e.host, bootId: e.bootId, instance: e.instance, seq: e.seq, time: e.time, monoNs, data } as Event;
}

/** `count` events of a fleet (then every running agent's orderly stop, so a few more). */
export function generateFleet(options: FleetOptions, count: number): Event[] {
  const fleet = new Fleet(options);
  const out: Event[] = [];
  for (let i = 0; i < count; i++) out.push(fleet.next());
  out.push(...fleet.finish());
  return out;
}
