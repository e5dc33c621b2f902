// Fleet policies in a running agent: each message (the cached set at start, then the control topic)
// is decided by libs/policy (apply, replace, remove or nothing) and carried out in the run's own
// instance: kprobes registered, filters written (the TCP event's joins the config's and every
// applied policy's), events enabled; undone on delete or change. A failure undoes what the policy
// wrote and is reported as policy.rejected with the kernel's error_log message and the line.
import { readFile } from 'node:fs/promises';
import { POLICY_NAME_PATTERN } from '@probefleet/events';
import { join } from 'node:path';
import { combinedTcpFilter, nextAction, renderProbeSet, type FilterConfig, type HostFacts, type PolicyRecord } from '@probefleet/policy';
import { parseEventFormat, TracefsWriteError, type RawTraceReader, type Tracefs, type TracingInstance } from '@probefleet/tracefs';
import { textSymbolAddresses } from '../kallsyms';
import type { KprobeView } from '../kprobe-view';
import type { Logger } from '../log';
import { policyTracepoint, userProbe, type Probe } from '../probes';
import type { Emit } from '../reader';
import type { Live } from '../run';
import type { PolicyRefusal } from '@probefleet/signature';
import type { PolicyCache } from './cache';
import type { InvalidPolicy, PolicyMessage } from './follower';

export interface PolicyRun {
  mode: 'kprobe' | 'tracepoint';
  tracefs: Tracefs;
  inst: TracingInstance;
  reader: RawTraceReader;
  /** The run's probes: the live list teardown walks, the hit handler's map, the stats poller's list. */
  live: Live[];
  byEvent: Map<string, Probe>;
  probes: Probe[];
  /** The run's TCP event, and the config's filter section. */
  tcp: Probe;
  localFilter: FilterConfig | undefined;
  view: KprobeView;
  emit: Emit;
  log: Logger;
  host: HostFacts;
  cache: PolicyCache;
  /** Counts a record refused for its signature or version (probefleet_agent_policy_records_refused_total). */
  refused?: (reason: PolicyRefusal) => void;
}

interface Applied {
  record: PolicyRecord;
  lives: Live[];
}

class Rejected extends Error {
  constructor(reason: string, readonly line?: string, readonly kernel?: string) {
    super(reason);
  }
}

export class PolicyRuntime {
  private readonly applied = new Map<string, Applied>();
  private queue: Promise<void> = Promise.resolve();
  private tcpLine: string;
  private stopped = false;

  constructor(private readonly run: PolicyRun) {
    this.tcpLine = run.tcp.filter;
  }

  /** Handles messages one at a time, in arrival order. */
  receive(m: PolicyMessage): Promise<void> {
    if (m.signed) this.run.cache.set(m.signed);
    else this.run.cache.forget(m.name);
    const next = this.queue.then(() => (this.stopped ? undefined : this.handle(m)));
    this.queue = next.catch((e: unknown) => this.run.log.error({ err: e, policy: m.name }, 'policy: unexpected failure'));
    return this.queue;
  }

  /**
   * The topic's set at start: each name as it stands now, and every policy applied (or cached)
   * that the topic no longer has is removed (its tombstone may have been compacted away).
   */
  async reconcile(set: ReadonlyMap<string, PolicyMessage>, cached: readonly string[]): Promise<void> {
    const gone = new Set([...cached, ...this.applied.keys()].filter((n) => !set.has(n)));
    for (const name of gone) await this.receive({ name, record: null });
    for (const m of set.values()) await this.receive(m);
  }

  /**
   * A record not applied: counted when refused, and reported as policy.rejected when its key is a
   * policy name, with its version only when that was verified (a forged record's claim is not).
   */
  invalid(i: InvalidPolicy): void {
    if (i.refused) this.run.refused?.(i.refused);
    if (!POLICY_NAME_PATTERN.test(i.name)) return;
    this.run.emit('policy.rejected', { policy: i.name, ...(i.version !== undefined ? { version: i.version } : {}), ...(i.refused ? { refused: i.refused } : {}), reason: i.reason.slice(0, 4096) });
  }

  /** Waits for the message in hand; later ones are ignored (the run's teardown removes what is applied). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.queue;
  }

  private async handle({ name, record }: PolicyMessage): Promise<void> {
    const current = this.applied.get(name);
    const action = nextAction(current?.record, record, this.run.host);
    if (action.kind === 'none') return;
    if (action.kind === 'remove' || action.kind === 'replace') await this.remove(name, action.kind === 'remove' ? action.version : action.record.version);
    if (action.kind === 'apply' || action.kind === 'replace') await this.apply(action.record);
  }

  private async apply(record: PolicyRecord): Promise<void> {
    const { run } = this;
    const { spec } = record;
    const done: Live[] = [];
    const tcpBefore = this.tcpLine;
    try {
      if (run.mode === 'tracepoint' && spec.probes.length > 0) throw new Rejected('user kprobes need kprobe mode; this host runs tracepoint mode');
      const rendered = renderProbeSet(run.mode, spec, run.tcp.event);
      const probes = [
        ...spec.probes.map((p) => userProbe(p, rendered.filters.get(p.name) ?? '')),
        ...spec.tracepoints.map((t) => policyTracepoint(t.name, t.tracepoint, rendered.filters.get(t.name) ?? '')),
      ];
      for (const p of probes) {
        const taken = run.probes.find((q) => q.event === p.event || q.name === p.name);
        if (taken) throw new Rejected(`${p.name} (${p.group}:${p.event}) is already traced here (${taken.name})`);
      }
      const symbols = new Set(probes.flatMap((p) => (p.symbol === null ? [] : [p.symbol])));
      const addrs = symbols.size > 0 ? await textSymbolAddresses(symbols) : null;
      for (const p of probes) {
        const data = await p.register(run.tracefs, p.symbol === null ? undefined : addrs?.get(p.symbol));
        done.push({ probe: p, address: data.address, registered: true, armed: false });
        run.emit('probe.registered', data);
      }
      for (const p of probes) if (p.filter !== '') await run.inst.setEventFilter(p.group, p.event, p.filter);
      await this.writeTcpFilter([...this.others(record.name), spec.filter]);
      for (const p of probes) {
        const format = parseEventFormat(await readFile(join(run.inst.dir, 'events', p.group, p.event, 'format'), 'utf8'));
        run.reader.decoder.addFormat(format, p.decoder);
      }
      for (const l of done) {
        await run.inst.enableEvent(l.probe.group, l.probe.event);
        l.armed = true;
        const { name, kind, symbol, offset } = l.probe;
        run.emit('probe.armed', await run.view.armed({ name, kind, symbol, offset, address: l.address }));
        // Only now are its hits reported: none can precede its probe.armed.
        run.byEvent.set(l.probe.event, l.probe);
        run.probes.push(l.probe);
        run.live.push(l);
      }
      this.applied.set(record.name, { record, lives: done });
      const filters = [...rendered.filters].map(([event, filter]) => ({ event, filter: event === run.tcp.event ? this.tcpLine : filter }));
      run.emit('policy.applied', { policy: record.name, version: record.version, definitions: rendered.definitions, filters });
      run.log.info({ policy: record.name, version: record.version, definitions: rendered.definitions, filters }, 'policy applied');
    } catch (e) {
      await this.undo(done);
      await this.restoreTcpFilter(tcpBefore);
      const r = rejection(e);
      run.emit('policy.rejected', { policy: record.name, version: record.version, reason: r.message.slice(0, 4096), ...(r.line ? { line: r.line } : {}), ...(r.kernel ? { kernel: r.kernel } : {}) });
      run.log.warn({ policy: record.name, version: record.version, line: r.line, kernel: r.kernel }, `policy rejected: ${r.message}`);
    }
  }

  private async remove(name: string, version: number): Promise<void> {
    const a = this.applied.get(name);
    if (!a) return;
    this.applied.delete(name);
    await this.undo(a.lives);
    await this.writeTcpFilter(this.others(name)).catch((e: unknown) => this.run.log.error({ err: e }, 'policy: the TCP filter could not be restored'));
    this.run.emit('policy.removed', { policy: name, version });
    this.run.log.info({ policy: name, version }, 'policy removed');
  }

  private others(name: string): (FilterConfig | undefined)[] {
    return [...this.applied.values()].filter((a) => a.record.name !== name).map((a) => a.record.spec.filter);
  }

  private async writeTcpFilter(policies: (FilterConfig | undefined)[]): Promise<void> {
    const line = combinedTcpFilter(this.run.mode, this.run.localFilter, policies);
    if (line === this.tcpLine) return;
    await this.run.inst.setEventFilter(this.run.tcp.group, this.run.tcp.event, line);
    this.tcpLine = line;
  }

  private async restoreTcpFilter(line: string): Promise<void> {
    if (line === this.tcpLine) return;
    await this.run.inst.setEventFilter(this.run.tcp.group, this.run.tcp.event, line).catch((e: unknown) => this.run.log.error({ err: e }, 'policy: the TCP filter could not be restored'));
    this.tcpLine = line;
  }

  /** Disarms and unregisters, hits first forgotten (so none follows its probe.disarmed). */
  private async undo(lives: readonly Live[]): Promise<void> {
    const { run } = this;
    for (const l of [...lives].reverse()) {
      run.byEvent.delete(l.probe.event);
      drop(run.probes, l.probe);
      drop(run.live, l);
      run.view.forget(l.probe.name);
      try {
        if (l.armed) {
          await run.inst.disableEvent(l.probe.group, l.probe.event);
          l.armed = false;
          run.emit('probe.disarmed', { probe: l.probe.name });
        }
        if (l.probe.filter !== '') await run.inst.setEventFilter(l.probe.group, l.probe.event, '').catch(() => undefined);
        await l.probe.unregister(run.tracefs);
        l.registered = false;
        run.emit('probe.unregistered', { probe: l.probe.name });
      } catch (e) {
        run.log.error({ err: e, probe: l.probe.name }, 'policy: a probe could not be taken down');
      }
    }
  }
}

function drop<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}

function rejection(e: unknown): Rejected {
  if (e instanceof Rejected) return e;
  if (e instanceof TracefsWriteError) {
    const what = e.file.endsWith('/filter') ? 'filter' : 'probe';
    return new Rejected(`the kernel refused a ${what}: ${e.kernel?.message ?? e.code ?? 'no error_log entry'}`, e.line || undefined, e.kernel?.message);
  }
  return new Rejected((e as Error).message);
}
