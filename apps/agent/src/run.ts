// The agent's run: clean leftovers, register and arm probes in our own tracing instance, stream
// hits from its per-cpu ring buffers (trace_pipe_raw, binary) to the sink, and on any exit (signal,
// error, --duration) disarm, drain, unregister, remove the instance and emit agent.stopped.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { machine, release } from 'node:os';
import {
  Btf,
  decodeInetSockSetStateRaw,
  decodeTcpSetStateRaw,
  RawTraceReader,
  TcpDecodeError,
  Tracefs,
  TracefsWriteError,
  type RawItem,
  type RawRecord,
  type RawValue,
  type TracingInstance,
} from '@probefleet/tracefs';
import { checkEncoded, EnvelopeEncoder, formatDecodeFailure, HitEncoder, type EventData, type EventType, type TcpArgs } from '@probefleet/events';
import { findLeftovers, instanceDirId, removeLeftovers, type Leftovers } from './cleanup';
import { WallClock } from './clock';
import { CommResolver } from './comm';
import type { AgentConfig } from './config';
import { argConverter, hitContext, type ArgConverter } from './hit';
import { eventFilters } from './filter';
import { discoverHost } from './host';
import { textSymbolAddresses } from './kallsyms';
import type { Logger } from './log';
import { capabilities, chooseMode, type RunMode } from './mode';
import { planKprobes, PROBE_GROUP, TCP_PROBE_EVENT, TCP_TRACEPOINT, type PlannedProbe } from './probes';
import type { Sink } from './sink';
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
  /** Sees every event emitted (metrics), and every one refused by the edge check. */
  observe?: (type: EventType, data: unknown) => void;
  dropped?: () => void;
}

interface Armed {
  name: string;
  /** Group/event enabled in the instance. */
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
  const filters = eventFilters(mode, config.filter, mode === 'kprobe' ? TCP_PROBE_EVENT : TCP_TRACEPOINT.event, config.probes.map((p) => p.name));
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

  let inst: TracingInstance | null = null;
  const probes: Armed[] = [];
  let stopReason = 'completed';
  let exitCode = 0;
  let stats: StatsPoller | null = null;
  let timer: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  try {
    const main = (inst = await tracefs.createInstance(instanceDirId(instanceId)));
    await main.setClock(CLOCK);
    // A small buffer overruns sooner under load or backpressure (tests use it to force agent.loss).
    if (config.bufferSizeKb !== undefined) await main.setBufferSizeKb(config.bufferSizeKb);

    emit('agent.started', { kernelRelease: release(), arch: machine(), agentVersion: AGENT_VERSION, mode, capabilities: capabilities(report) });
    const handle = hitHandler(mode, planned, new CommResolver(() => tracefs.readSavedCmdlines()), emitHit, log);
    await takeDownLeftovers(tracefs, leftovers, mode, handle, emit, log);
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
    // Formats are read once the events exist (kprobes registered), before anything is recorded.
    const reader = await RawTraceReader.open(main.dir, probes.map((p) => `${p.group}:${p.event}`));
    // In-kernel filters first: a transition outside them is never recorded.
    for (const p of probes) {
      const line = filters.get(p.event);
      if (line === undefined) continue;
      await main.setEventFilter(p.group, p.event, line);
      log.info({ event: `${p.group}:${p.event}`, filter: line }, 'event filter set');
    }
    for (const p of probes) {
      await main.enableEvent(p.group, p.event);
      p.armed = true;
      emit('probe.armed', { probe: p.name });
    }
    // Logged once tracing: tests and the bench take it as the signal to start their load.
    log.info({ mode, reason: choice.reason, instance: instanceId }, 'agent started');

    const poller = new StatsPoller(tracefs, main, probes, emit, log);
    stats = poller;
    await poller.poll(); // baseline
    timer = setInterval(() => void poller.poll(), config.statsIntervalS * 1000);
    const readerStop = new AbortController();
    const reading = (async () => {
      for await (const batch of reader.batches({ signal: readerStop.signal })) {
        await handle(batch);
        // Backpressure: while the sink (a full spool) waits, the ring buffer is not read.
        await sink.ready(readerStop.signal);
      }
    })();
    // A reader failure stops the run like a signal does.
    const failed = reading.then(
      () => null,
      (e: unknown) => ({ error: e }),
    );
    await Promise.race([new Promise<void>((r) => (o.signal.aborted ? r() : o.signal.addEventListener('abort', () => r(), { once: true }))), failed]);
    stopReason = o.signal.aborted ? o.stopReason() : 'reader stopped';

    // Disable first, then read what the buffers still hold: nothing recorded is lost. Those hits
    // were made while armed, so probe.disarmed follows them in the stream.
    for (const p of probes) await main.disableEvent(p.group, p.event);
    readerStop.abort();
    const readerFailure = await failed;
    await handle(await reader.drain());
    for (const p of probes) {
      p.armed = false;
      emit('probe.disarmed', { probe: p.name });
    }
    clearInterval(timer);
    await poller.poll(); // waits for one in flight
    await poller.poll(); // the last counts, after the drain
    if (readerFailure) throw readerFailure.error;
  } catch (e) {
    exitCode = EXIT_FAILED;
    stopReason = `error: ${(e as Error).message}`;
    if (e instanceof TracefsWriteError) {
      log.error({ file: e.file, line: e.line, errno: e.code, kernel: e.kernel?.message ?? null }, `the kernel refused a ${e.file.endsWith('/filter') ? 'filter' : 'probe'}: ${e.message}`);
    } else {
      log.error({ err: e }, 'agent failed');
    }
  } finally {
    // A poll in flight holds per_cpu stats files open, and rmdir of the instance would get EBUSY.
    clearInterval(timer);
    clearInterval(heartbeat);
    await stats?.poll();
    await teardown(tracefs, inst, probes, emit, log);
    emit('agent.stopped', { reason: stopReason });
    await sink.close();
  }
  return exitCode;
}

/**
 * A crashed run's probes stay enabled in its instance, recording, until removed: what they recorded
 * after it died is read and reported first (hits this run decodes, i.e. of the same mode), then
 * the probes are disarmed and unregistered, in the stream too, so the host's model state follows.
 */
async function takeDownLeftovers(tracefs: Tracefs, left: Leftovers, mode: RunMode, handle: (items: RawItem[]) => Promise<void>, emit: Emit, log: Logger): Promise<void> {
  if (left.instances.length + left.kprobes.length === 0) return;
  const ours = (p: Leftovers['probes'][number]) => (mode === 'tracepoint' ? p.group === TCP_TRACEPOINT.group : p.group === PROBE_GROUP);
  let recovered = 0;
  for (const inst of left.instances) {
    const events = left.probes.filter((p) => ours(p) && p.armedIn.includes(inst));
    if (events.length === 0) continue;
    for (const p of events) await inst.disableEvent(p.group, p.event);
    const items = await (await RawTraceReader.open(inst.dir, events.map((p) => `${p.group}:${p.event}`))).drain();
    recovered += items.length;
    await handle(items);
  }
  for (const p of left.probes) {
    if (p.armedIn.length > 0) emit('probe.disarmed', { probe: p.name });
    emit('probe.unregistered', { probe: p.name });
  }
  const removed = await removeLeftovers(tracefs, left);
  log.warn({ ...removed, recovered }, 'removed leftovers of a previous run, after reporting what they recorded since it stopped');
}

/** Best effort on every step: a failure is logged and the rest is still removed. */
async function teardown(tracefs: Tracefs, inst: TracingInstance | null, probes: Armed[], emit: Emit, log: Logger): Promise<void> {
  const step = async (what: string, f: () => Promise<void>) => {
    try {
      await f();
    } catch (e) {
      log.error({ err: e }, `teardown: ${what} failed`);
    }
  };
  for (const p of probes.filter((x) => x.armed)) {
    await step(`disarm ${p.name}`, async () => {
      await inst?.disableEvent(p.group, p.event);
      p.armed = false;
      emit('probe.disarmed', { probe: p.name });
    });
  }
  if (inst) await step(`remove ${inst.name}`, () => inst.remove());
  for (const p of probes.filter((x) => x.registered)) {
    await step(`unregister ${p.name}`, async () => {
      if (p.group === PROBE_GROUP) await tracefs.removeKprobe(p.group, p.event);
      p.registered = false;
      emit('probe.unregistered', { probe: p.name });
    });
  }
}

type Emit = <T extends EventType>(type: T, data: EventData<T>, monoNs?: bigint) => void;
/** A probe.hit whose data is already encoded (HitEncoder). */
type EmitHit = (dataJson: string, monoNs: bigint) => void;

/** Turns raw ring-buffer items into probe.hit events (monoNs: the record's trace_clock mono ns). */
function hitHandler(mode: RunMode, planned: PlannedProbe[], comms: CommResolver, emit: EmitHit, log: Logger): (items: RawItem[]) => Promise<void> {
  // User probes: each arg converted by its fetch type (the kernel's default type is x64).
  const userArgs = new Map<string, [string, ArgConverter][]>(
    planned.filter((p) => p.name !== TCP_PROBE_EVENT).map((p) => [p.def.event, p.def.args.map((a) => [a.name, argConverter(a.type ?? 'x64')])]),
  );
  const enc = new HitEncoder();
  const hit = (probe: string, r: RawRecord, argsJson: string) => emit(enc.data(probe, r.cpu, r.pid, comms.comm(r.pid), hitContext(r.flags), argsJson), r.timestampNs);
  return async (items) => {
    await comms.prepare(items);
    for (const r of items) {
      // A page with lost events: the same losses the per-cpu overrun counter has (StatsPoller).
      if (r.kind === 'lost') continue;
      try {
        if (mode === 'tracepoint') {
          const change = decodeInetSockSetStateRaw(r);
          if (change) hit(TCP_TRACEPOINT.event, r, enc.tcpArgs(change as TcpArgs));
        } else if (r.event === TCP_PROBE_EVENT) {
          hit(TCP_PROBE_EVENT, r, enc.tcpArgs(decodeTcpSetStateRaw(r) as TcpArgs));
        } else {
          const args = userArgs.get(r.event);
          if (args) hit(r.event, r, enc.userArgs(Object.fromEntries(args.map(([name, convert]) => [name, convert(r.fields[name] as RawValue)]))));
        }
      } catch (e) {
        if (!(e instanceof TcpDecodeError)) throw e;
        // e.g. a non-inet socket passing through tcp_set_state: not a TCP transition we can report.
        log.debug({ err: e, cpu: r.cpu, timestampNs: r.timestampNs.toString() }, 'hit not decoded');
      }
    }
  };
}

/**
 * probe.missed from kprobe_profile deltas, agent.loss from per-cpu overrun deltas.
 * Loss has one source, the `overrun` counter: when the writer overwrites an unread page, the kernel
 * adds its entries to `overrun`, and the next page trace_pipe_raw hands out is flagged with the
 * difference since the previous read (rb_get_reader_page: lost_events = overrun − last_overrun),
 * i.e. a RawLost repeats losses `overrun` already counted. `overrun` also counts while reading is
 * paused (backpressure) and when the page had no room for the count (RawLost.count null).
 */
class StatsPoller {
  private readonly missed = new Map<string, number>();
  private readonly overruns = new Map<number, number>();
  private inFlight: Promise<void> | null = null;

  constructor(
    private readonly tracefs: Tracefs,
    private readonly inst: TracingInstance,
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
      const lost: { cpu: number; count: number }[] = [];
      for (const s of await this.inst.cpuStats()) {
        const prev = this.overruns.get(s.cpu);
        this.overruns.set(s.cpu, s.overrun);
        if (prev !== undefined && s.overrun > prev) lost.push({ cpu: s.cpu, count: s.overrun - prev });
      }
      if (lost.length > 0) this.emit('agent.loss', { overruns: lost });
    } catch (e) {
      this.log.warn({ err: e }, 'stats poll failed');
    }
  }
}
