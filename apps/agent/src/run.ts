// The agent's run, step by step: plan (mode and probes, all validated before tracefs is touched),
// set up (own instance, leftovers of a crashed run, register, filter, arm), read (per-cpu ring
// buffers, trace_pipe_raw, to the sink) until a signal, error or --duration, then stop (disarm,
// drain) and tear down (unregister, remove the instance, agent.stopped) whatever happened.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { machine, release } from 'node:os';
import { Btf, Tracefs, TracefsWriteError, type DiscoveryReport, type TracingInstance } from '@probefleet/tracefs';
import { checkEncoded, EnvelopeEncoder, formatDecodeFailure, type EventType } from '@probefleet/events';
import { findLeftovers, instanceDirId, takeDownLeftovers } from './cleanup';
import { WallClock } from './clock';
import { CommResolver } from './comm';
import type { AgentConfig } from './config';
import { discoverHost } from './host';
import { textSymbolAddresses } from './kallsyms';
import { KprobeView } from './kprobe-view';
import type { Logger } from './log';
import { capabilities, chooseMode, type ModeChoice } from './mode';
import { planProbes, ProbePlanError, type Probe } from './probes';
import { hitHandler, openReader, readLoop, type Emit, type EmitHit } from './reader';
import type { Sink } from './sink';
import { StatsPoller } from './stats';
import { AGENT_VERSION } from './version';
import { DEFAULT_LIMITS, SocketOwners, type OwnershipCounters } from '@probefleet/ownership';
import { startPolicies, type Policies, type PolicyOptions } from './policies/start';

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
  /** Counters of socket ownership, read after every batch (metrics). */
  ownership?: (c: OwnershipCounters) => void;
  /** Sees every event emitted (metrics), and every one refused by the edge check. */
  observe?: (type: EventType, data: unknown) => void;
  dropped?: () => void;
  /** Fleet policies: the control topic to follow (kafka null: none), the spool directory their last set is kept in, the signer's keys. */
  policies?: PolicyOptions;
}

/** A probe's state in this run, for teardown. */
export interface Live {
  probe: Probe;
  /** symbol+offset from kallsyms (probe.registered's address), to find it in kprobes/list. */
  address: string | undefined;
  registered: boolean;
  armed: boolean;
}

interface Plan {
  report: DiscoveryReport;
  choice: ModeChoice;
  probes: Probe[];
}

const CLOCK = 'mono';

/** Mode and probes, validated (grammar, filters) before the first write to tracefs. */
export async function planRun(config: AgentConfig): Promise<Plan> {
  const report = await discoverHost(config.tracefs);
  const choice = chooseMode(report, config.mode);
  if (choice.unusable) throw new RefusedError(`${choice.mode} mode cannot run here: ${choice.unusable}`);
  try {
    return { report, choice, probes: planProbes(choice.mode, choice.mode === 'kprobe' ? Btf.fromFile(report.btf.path) : null, config) };
  } catch (e) {
    if (e instanceof ProbePlanError) throw new RefusedError(`${e.message} (${choice.reason})`);
    throw e;
  }
}

export async function runAgent(o: RunOptions): Promise<number> {
  const { config, sink, log } = o;
  const { report, choice, probes } = await planRun(config);
  const tracefs = new Tracefs(report.tracefs as string);
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  const instanceId = randomUUID();
  const stream = new EnvelopeEncoder({ host: config.host, bootId, instance: instanceId }, WallClock.measure().offsetNs);
  // Every event is encoded once and checked once, here, at the edge: a failure is an agent bug,
  // counted and logged, and never reaches a sink (the aggregator would dead-letter it).
  const emitEncoded = (type: EventType, dataJson: string | null, data: unknown, monoNs: bigint): void => {
    const e = dataJson === null ? stream.next(type, data as never, monoNs) : stream.encoded(type, dataJson, monoNs);
    const bad = checkEncoded(e);
    if (bad) {
      o.dropped?.();
      log.error({ type, seq: e.seq, problem: formatDecodeFailure(bad) }, 'invalid event not emitted');
      return;
    }
    o.observe?.(type, data);
    sink.write(e);
  };
  const emit: Emit = (type, data, monoNs = WallClock.monoNow()) => emitEncoded(type, null, data, monoNs);
  const emitHit: EmitHit = (dataJson, monoNs) => emitEncoded('probe.hit', dataJson, undefined, monoNs);
  const leftovers = await findLeftovers(tracefs);
  const view = new KprobeView(report.kprobes.dir, log);
  if (choice.mode === 'kprobe' && report.kprobes.dir === null) {
    log.warn({ problem: report.kprobes.problem }, 'no debugfs kprobes/list: how the kernel armed each probe is unknown (no mechanism reported)');
  }

  const live: Live[] = [];
  let inst: TracingInstance | null = null;
  let stats: StatsPoller | null = null;
  let policies: Policies | null = null;
  let stopReason = 'completed';
  let exitCode = 0;
  const timers: NodeJS.Timeout[] = [];
  try {
    const main = (inst = await tracefs.createInstance(instanceDirId(instanceId)));
    await main.setClock(CLOCK);
    // A small buffer overruns sooner under load or backpressure (tests use it to force agent.loss).
    if (config.bufferSizeKb !== undefined) await main.setBufferSizeKb(config.bufferSizeKb);
    emit('agent.started', { kernelRelease: release(), arch: machine(), agentVersion: AGENT_VERSION, mode: choice.mode, capabilities: capabilities(report), ...(Object.keys(config.labels).length > 0 ? { labels: config.labels } : {}) });
    const owners = config.ownership.enabled ? new SocketOwners(bootId, { podsDir: config.ownership.podsDir, limits: { ...DEFAULT_LIMITS, sockets: config.ownership.maxSockets } }) : undefined;
    const byEvent = new Map(probes.map((p) => [p.event, p]));
    const hits = hitHandler(byEvent, new CommResolver(() => tracefs.readSavedCmdlines()), emitHit, owners);
    const handle: typeof hits = async (items) => {
      await hits(items);
      if (owners !== undefined) o.ownership?.(owners.counters());
    };
    await takeDownLeftovers(tracefs, leftovers, probes, handle, emit, log);
    timers.push(setInterval(() => {
      emit('agent.heartbeat', { counters: o.counters() });
      // The optimizer's jmp, [DISABLED], [GONE]: what changed in kprobes/list since the last report.
      void view.changes().then((states) => states.forEach((s) => emit('probe.state', s)));
    }, config.heartbeatIntervalS * 1000));
    await register(tracefs, probes, live, emit);
    // Formats are read once the events exist (kprobes registered), before anything is recorded.
    const reader = await openReader(main.dir, probes);
    await arm(main, live, view, emit, log);
    // After arming: a socket made meanwhile is in the scan and in the buffer (its hits win), none is in neither.
    if (owners !== undefined) log.info(owners.scan(), 'start-up scan of socket owners');
    // Policies join the run's own probes once these are armed (the cached set at once, then the topic's).
    if (o.policies) {
      const host = { host: config.host, kernelRelease: release(), mode: choice.mode, labels: config.labels };
      policies = startPolicies(o.policies, { mode: choice.mode, tracefs, inst: main, reader, live, byEvent, probes, tcp: probes.find((p) => p.tcp)!, localFilter: config.filter, view, emit, log, host });
    }
    // Logged once tracing: tests and the bench take it as the signal to start their load.
    log.info({ mode: choice.mode, reason: choice.reason, instance: instanceId }, 'agent started');

    const poller = (stats = new StatsPoller(tracefs, main, probes, emit, log));
    await poller.poll(); // baseline
    timers.push(setInterval(() => void poller.poll(), config.statsIntervalS * 1000));
    const readerStop = new AbortController();
    // A reader failure stops the run like a signal does.
    const failed = readLoop(reader, handle, sink, readerStop.signal).then(
      () => null,
      (e: unknown) => ({ error: e }),
    );
    await Promise.race([new Promise<void>((r) => (o.signal.aborted ? r() : o.signal.addEventListener('abort', () => r(), { once: true }))), failed]);
    stopReason = o.signal.aborted ? o.stopReason() : 'reader stopped';

    // Disable first, then read what the buffers still hold: nothing recorded is lost. Those hits
    // were made while armed, so probe.disarmed follows them in the stream. The kprobes' view is
    // forgotten first: a heartbeat meanwhile would report our own disabling as a probe.state.
    for (const l of live) view.forget(l.probe.name);
    await policies?.stop();
    for (const l of live) await main.disableEvent(l.probe.group, l.probe.event);
    readerStop.abort();
    const readerFailure = await failed;
    await handle(await reader.drain());
    for (const l of live) {
      l.armed = false;
      view.forget(l.probe.name);
      emit('probe.disarmed', { probe: l.probe.name });
    }
    timers.forEach(clearInterval);
    await poller.poll(); // waits for one in flight
    await poller.poll(); // the last counts, after the drain
    if (readerFailure) throw readerFailure.error;
  } catch (e) {
    exitCode = EXIT_FAILED;
    stopReason = `error: ${(e as Error).message}`;
    reportFailure(e, log);
  } finally {
    await policies?.stop();
    // A poll in flight holds per_cpu stats files open, and rmdir of the instance would get EBUSY.
    timers.forEach(clearInterval);
    await stats?.poll();
    for (const l of live) view.forget(l.probe.name);
    await teardown(tracefs, inst, live, emit, log);
    emit('agent.stopped', { reason: stopReason });
    await sink.close();
  }
  return exitCode;
}

/** Registers every probe (probe.registered with the kprobe's address when kallsyms shows it). */
async function register(tracefs: Tracefs, probes: readonly Probe[], live: Live[], emit: Emit): Promise<void> {
  const symbols = probes.flatMap((p) => (p.symbol === null ? [] : [p.symbol]));
  const addrs = symbols.length > 0 ? await textSymbolAddresses(new Set(symbols)) : null;
  for (const p of probes) {
    const data = await p.register(tracefs, p.symbol === null ? undefined : addrs?.get(p.symbol));
    live.push({ probe: p, address: data.address, registered: true, armed: false });
    emit('probe.registered', data);
  }
}

/** In-kernel filters first (a transition outside them is never recorded), then enable; kprobes/list says how. */
async function arm(inst: TracingInstance, live: readonly Live[], view: KprobeView, emit: Emit, log: Logger): Promise<void> {
  for (const { probe: p } of live) {
    if (p.filter === '') continue;
    await inst.setEventFilter(p.group, p.event, p.filter);
    log.info({ event: `${p.group}:${p.event}`, filter: p.filter }, 'event filter set');
  }
  for (const l of live) {
    await inst.enableEvent(l.probe.group, l.probe.event);
    l.armed = true;
    const { name, kind, symbol } = l.probe;
    emit('probe.armed', await view.armed({ name, kind, symbol, offset: l.probe.offset, address: l.address }));
  }
}

function reportFailure(e: unknown, log: Logger): void {
  if (e instanceof TracefsWriteError) {
    log.error({ file: e.file, line: e.line, errno: e.code, kernel: e.kernel?.message ?? null }, `the kernel refused a ${e.file.endsWith('/filter') ? 'filter' : 'probe'}: ${e.message}`);
  } else {
    log.error({ err: e }, 'agent failed');
  }
}

/** Best effort on every step: a failure is logged and the rest is still removed. */
async function teardown(tracefs: Tracefs, inst: TracingInstance | null, live: Live[], emit: Emit, log: Logger): Promise<void> {
  const step = async (what: string, f: () => Promise<void>) => {
    try {
      await f();
    } catch (e) {
      log.error({ err: e }, `teardown: ${what} failed`);
    }
  };
  for (const l of live.filter((x) => x.armed)) {
    await step(`disarm ${l.probe.name}`, async () => {
      await inst?.disableEvent(l.probe.group, l.probe.event);
      l.armed = false;
      emit('probe.disarmed', { probe: l.probe.name });
    });
  }
  if (inst) await step(`remove ${inst.name}`, () => inst.remove());
  for (const l of live.filter((x) => x.registered)) {
    await step(`unregister ${l.probe.name}`, async () => {
      await l.probe.unregister(tracefs);
      l.registered = false;
      emit('probe.unregistered', { probe: l.probe.name });
    });
  }
}
