// The agent's run: clean leftovers, register and arm probes in our own tracing instance, stream
// hits to the sink, and on any exit (signal, error, --duration) disarm, drain, unregister, remove
// the instance and emit agent.stopped.
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { arch, release } from 'node:os';
import {
  Btf,
  decodeInetSockSetState,
  decodeTcpSetStateHit,
  parseTraceLine,
  TcpDecodeError,
  timestampNs,
  Tracefs,
  TracefsWriteError,
  type TraceLine,
  type TracingInstance,
} from '@probefleet/tracefs';
import type { Event, EventData, EventType } from '@probefleet/events';
import { removeLeftovers } from './cleanup';
import { WallClock } from './clock';
import type { AgentConfig } from './config';
import { EventStream } from './envelope';
import { hitData, tcpArgs, typedArg } from './hit';
import { discoverHost } from './host';
import { textSymbolAddresses } from './kallsyms';
import type { Logger } from './log';
import { capabilities, chooseMode, type RunMode } from './mode';
import { planKprobes, PROBE_GROUP, TCP_PROBE_EVENT, TCP_TRACEPOINT, type PlannedProbe } from './probes';
import type { Sink } from './sink';
import { TracepointPairer } from './tracepoint-pair';
import { AGENT_VERSION } from './version';

/** Exit codes: refused before touching tracefs (config, host) vs failed while running. */
export const EXIT_REFUSED = 2;
export const EXIT_FAILED = 1;

export class RefusedError extends Error {
  override name = 'RefusedError';
}

export interface RunOptions {
  config: AgentConfig;
  sink: Sink;
  log: Logger;
  /** Aborted by signals or the --duration timer. */
  signal: AbortSignal;
  /** Why the signal was aborted (agent.stopped reason). */
  stopReason: () => string;
  /** Counters for agent.heartbeat (every config.heartbeatIntervalS). */
  counters: () => Record<string, number>;
}

interface Armed {
  name: string;
  /** kprobe_events group/event enabled in the instance(s). */
  group: string;
  event: string;
  registered: boolean;
  armed: boolean;
}

const CLOCK = 'mono';

export async function runAgent(o: RunOptions): Promise<number> {
  const { config, sink, log } = o;
  const report = await discoverHost(config.tracefs);
  const choice = chooseMode(report, config.mode);
  if (choice.unusable) throw new RefusedError(`${choice.mode} mode cannot run here: ${choice.unusable}`);
  const mode: RunMode = choice.mode;
  if (mode === 'tracepoint' && config.probes.length > 0) {
    throw new RefusedError(`probes: user kprobes need kprobe mode, but this run uses tracepoint mode (${choice.reason})`);
  }
  // Everything is validated before the first write to tracefs.
  const planned: PlannedProbe[] = mode === 'kprobe' ? planKprobes(Btf.fromFile(report.btf.path), config.probes) : [];
  const tracefs = new Tracefs(report.tracefs as string);

  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  const instanceId = randomUUID();
  const stream = new EventStream({ host: config.host, bootId, instance: instanceId }, WallClock.measure());
  let tail: Promise<void> = Promise.resolve();
  const emit = <T extends EventType>(type: T, data: EventData<T>, monoNs?: bigint): void => {
    const ev: Event = stream.next(type, data, monoNs);
    tail = tail.then(() => sink.write(ev));
  };

  const leftovers = await removeLeftovers(tracefs);
  if (leftovers.kprobes.length + leftovers.instances.length > 0) log.warn({ leftovers }, 'removed leftovers of a previous run');

  const instances: TracingInstance[] = [];
  const probes: Armed[] = [];
  let stopReason = 'completed';
  let exitCode = 0;
  let stats: StatsPoller | null = null;
  let timer: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  try {
    const main = await tracefs.createInstance(instanceId);
    instances.push(main);
    if (mode === 'tracepoint') instances.push(await tracefs.createInstance(`${instanceId}-sk`));
    for (const inst of instances) await inst.setClock(CLOCK);
    // A small buffer overruns sooner under load or backpressure (tests use it to force agent.loss).
    if (config.bufferSizeKb !== undefined) for (const inst of instances) await writeFile(join(inst.dir, 'buffer_size_kb'), String(config.bufferSizeKb));
    if (mode === 'tracepoint') await (instances[1] as TracingInstance).setOption('fields', true);

    emit('agent.started', { kernelRelease: release(), arch: arch(), agentVersion: AGENT_VERSION, mode, capabilities: capabilities(report) });
    log.info({ mode, reason: choice.reason, instance: instanceId }, 'agent started');
    heartbeat = setInterval(() => emit('agent.heartbeat', { counters: o.counters() }), config.heartbeatIntervalS * 1000);

    if (mode === 'kprobe') {
      const addrs = await textSymbolAddresses(new Set(planned.map((p) => p.symbol)));
      for (const p of planned) {
        const line = await tracefs.addKprobe(p.def);
        const armed: Armed = { name: p.name, group: PROBE_GROUP, event: p.def.event, registered: true, armed: false };
        probes.push(armed);
        const base = addrs?.get(p.symbol);
        emit('probe.registered', {
          probe: p.name,
          kind: 'kprobe',
          symbol: p.symbol,
          offset: p.offset,
          ...(base !== undefined ? { address: `0x${(base + BigInt(p.offset)).toString(16)}` } : {}),
          definition: line,
        });
      }
    } else {
      probes.push({ name: TCP_TRACEPOINT.event, group: TCP_TRACEPOINT.group, event: TCP_TRACEPOINT.event, registered: true, armed: false });
      emit('probe.registered', { probe: TCP_TRACEPOINT.event, kind: 'tracepoint', symbol: `${TCP_TRACEPOINT.group}:${TCP_TRACEPOINT.event}`, offset: 0 });
    }
    for (const p of probes) {
      for (const inst of instances) await inst.enableEvent(p.group, p.event);
      p.armed = true;
      emit('probe.armed', { probe: p.name });
    }

    const handle = lineHandler(mode, planned, emit, log);
    const poller = new StatsPoller(tracefs, instances, probes, emit, log);
    stats = poller;
    await poller.poll(); // baseline
    timer = setInterval(() => void poller.poll(), config.statsIntervalS * 1000);
    const readerStop = new AbortController();
    const readers = instances.map((inst, i) =>
      (async () => {
        for await (const batch of inst.batches({ signal: readerStop.signal })) {
          for (const l of batch) handle(i, l);
          // Backpressure: while the sink (a full spool) waits, trace_pipe is not read.
          await sink.ready(readerStop.signal);
        }
      })(),
    );
    // A reader failure stops the run like a signal does.
    const failed = Promise.race(readers).then(
      () => undefined,
      (e: unknown) => e,
    );
    await Promise.race([new Promise<void>((r) => (o.signal.aborted ? r() : o.signal.addEventListener('abort', () => r(), { once: true }))), failed]);
    stopReason = o.signal.aborted ? o.stopReason() : 'reader stopped';

    // Disarm first, then read what the buffers still hold: nothing recorded is lost.
    for (const p of probes) {
      for (const inst of instances) await inst.disableEvent(p.group, p.event);
      p.armed = false;
      emit('probe.disarmed', { probe: p.name });
    }
    readerStop.abort();
    const readerErrors = (await Promise.allSettled(readers)).filter((r) => r.status === 'rejected');
    for (const [i, inst] of instances.entries()) for (const l of await inst.drain()) handle(i, l);
    clearInterval(timer);
    await poller.poll(); // waits for one in flight
    await poller.poll(); // the last counts, after the drain
    if (readerErrors.length > 0) throw (readerErrors[0] as PromiseRejectedResult).reason;
  } catch (e) {
    exitCode = EXIT_FAILED;
    stopReason = `error: ${(e as Error).message}`;
    if (e instanceof TracefsWriteError) {
      log.error({ file: e.file, line: e.line, errno: e.code, kernel: e.kernel?.message ?? null }, `the kernel refused a probe: ${e.message}`);
    } else {
      log.error({ err: e }, 'agent failed');
    }
  } finally {
    // A poll in flight holds per_cpu stats files open, and rmdir of the instance would get EBUSY.
    clearInterval(timer);
    clearInterval(heartbeat);
    await stats?.poll();
    await teardown(tracefs, instances, probes, emit, log);
    emit('agent.stopped', { reason: stopReason });
    await tail;
    await sink.close();
  }
  return exitCode;
}

/** Best effort on every step: a failure is logged and the rest is still removed. */
async function teardown(tracefs: Tracefs, instances: TracingInstance[], probes: Armed[], emit: Emit, log: Logger): Promise<void> {
  const step = async (what: string, f: () => Promise<void>) => {
    try {
      await f();
    } catch (e) {
      log.error({ err: e }, `teardown: ${what} failed`);
    }
  };
  for (const p of probes.filter((x) => x.armed)) {
    await step(`disarm ${p.name}`, async () => {
      for (const inst of instances) await inst.disableEvent(p.group, p.event);
      p.armed = false;
      emit('probe.disarmed', { probe: p.name });
    });
  }
  for (const inst of instances) await step(`remove ${inst.name}`, () => inst.remove());
  for (const p of probes.filter((x) => x.registered)) {
    await step(`unregister ${p.name}`, async () => {
      if (p.group === PROBE_GROUP) await tracefs.removeKprobe(p.group, p.event);
      p.registered = false;
      emit('probe.unregistered', { probe: p.name });
    });
  }
}

type Emit = <T extends EventType>(type: T, data: EventData<T>, monoNs?: bigint) => void;

/** Turns raw lines of instance `i` into probe.hit events. */
function lineHandler(mode: RunMode, planned: PlannedProbe[], emit: Emit, log: Logger): (i: number, raw: string) => void {
  const types = new Map(planned.map((p) => [p.def.event, new Map(p.def.args.map((a) => [a.name, a.type ?? 'x64']))]));
  const pairer = new TracepointPairer();
  let badLines = 0;
  const parse = (raw: string): TraceLine | null => {
    try {
      return parseTraceLine(raw);
    } catch (e) {
      if (badLines++ < 10) log.warn({ err: e }, 'unparsable trace line');
      return null;
    }
  };
  const mono = (l: TraceLine) => timestampNs(l.timestamp);
  return (i, raw) => {
    const line = parse(raw);
    if (!line) return;
    try {
      if (mode === 'tracepoint') {
        for (const { line: l, skaddr } of pairer.push(i === 0 ? 'plain' : 'fields', line)) {
          const change = decodeInetSockSetState(l);
          if (change) emit('probe.hit', hitData(TCP_TRACEPOINT.event, l, tcpArgs(change, skaddr)), mono(l));
        }
        return;
      }
      if (line.event === TCP_PROBE_EVENT) {
        const change = decodeTcpSetStateHit(line);
        emit('probe.hit', hitData(TCP_PROBE_EVENT, line, tcpArgs(change, change.skaddr as string)), mono(line));
        return;
      }
      const argTypes = types.get(line.event);
      if (!argTypes) return;
      const args = Object.fromEntries([...argTypes].map(([name, type]) => [name, typedArg(type, line.fields[name] ?? '')]));
      emit('probe.hit', hitData(line.event, line, args), mono(line));
    } catch (e) {
      if (!(e instanceof TcpDecodeError)) throw e;
      // e.g. a non-inet socket passing through tcp_set_state: not a TCP transition we can report.
      log.debug({ err: e, line: raw }, 'hit not decoded');
    }
  };
}

/** probe.missed from kprobe_profile deltas, agent.loss from per-cpu overrun deltas. */
class StatsPoller {
  private readonly missed = new Map<string, number>();
  private readonly overruns = new Map<string, number>();
  private inFlight: Promise<void> | null = null;

  constructor(
    private readonly tracefs: Tracefs,
    private readonly instances: TracingInstance[],
    private readonly probes: Armed[],
    private readonly emit: Emit,
    private readonly log: Logger,
  ) {}

  /** Polls once; while a poll runs, returns that one (so awaiting poll() also means idle). */
  poll(): Promise<void> {
    this.inFlight ??= this.pollOnce().finally(() => (this.inFlight = null));
    return this.inFlight;
  }

  private async pollOnce(): Promise<void> {
    try {
      const kprobes = this.probes.filter((p) => p.group === PROBE_GROUP);
      if (kprobes.length > 0) {
        const profile = await this.tracefs.readKprobeProfile();
        for (const p of kprobes) {
          const entry = profile.find((e) => e.event === p.event);
          if (!entry) continue;
          const prev = this.missed.get(p.event);
          this.missed.set(p.event, entry.misses);
          if (prev !== undefined && entry.misses > prev) this.emit('probe.missed', { probe: p.name, count: entry.misses - prev });
        }
      }
      // Overruns of all our buffers per cpu (in tracepoint mode both instances record every hit).
      // A hit lost in either buffer is lost (unpaired), so per cpu the larger delta counts.
      const lost = new Map<number, number>();
      for (const inst of this.instances) {
        for (const s of await inst.cpuStats()) {
          const key = `${inst.name}/${s.cpu}`;
          const prev = this.overruns.get(key);
          this.overruns.set(key, s.overrun);
          if (prev !== undefined && s.overrun > prev) lost.set(s.cpu, Math.max(lost.get(s.cpu) ?? 0, s.overrun - prev));
        }
      }
      if (lost.size > 0) this.emit('agent.loss', { overruns: [...lost].map(([cpu, count]) => ({ cpu, count })) });
    } catch (e) {
      this.log.warn({ err: e }, 'stats poll failed');
    }
  }
}
