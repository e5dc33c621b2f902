// Leftovers of a crashed run: our group's kprobes and the instances/probefleet-* of runs that are
// gone. The `cleanup` command removes them; `run` first reads what such an instance recorded after
// its run died (its probes stay enabled until removed), reports it, then takes the probes down. An
// instance is named after its owner's pid, so another agent still running on this host keeps its own.
import { Tracefs, TracingInstance, type KprobeDefinition } from '@probefleet/tracefs';
import type { Logger } from './log';
import { PROBE_GROUP, TCP_TRACEPOINT, type Probe } from './probes';
import { openReader, type Emit, type HitHandler } from './reader';

export interface CleanupResult {
  kprobes: string[];
  instances: string[];
}

/** A probe of a crashed run: where it was still enabled (`group:event`), if anywhere. */
export interface LeftoverProbe {
  name: string;
  group: string;
  event: string;
  armedIn: TracingInstance[];
}

export interface Leftovers {
  instances: TracingInstance[];
  kprobes: KprobeDefinition[];
  /** The tracepoint and our kprobes as the crashed runs left them; the tracepoint only when armed. */
  probes: LeftoverProbe[];
}

/** The tracing instance id of this run: `<pid>-<stream instance uuid>`. */
export const instanceDirId = (instance: string, pid = process.pid): string => `${pid}-${instance}`;

const OWNER_RE = /^probefleet-(\d+)-/;

/** Whether the run owning tracing instance `name` is gone (or the name is not ours to read). */
export function isStale(name: string, self = process.pid): boolean {
  const m = OWNER_RE.exec(name);
  if (m === null) return true;
  const pid = Number(m[1]);
  if (pid === self) return true; // this run has not made its instance yet: a recycled pid's leftover
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export async function findLeftovers(tracefs: Tracefs): Promise<Leftovers> {
  const left = await tracefs.listLeftovers(PROBE_GROUP);
  const instances = left.instances.filter((name) => isStale(name)).map((name) => new TracingInstance(tracefs, name));
  const armedIn = async (group: string, event: string) => {
    const out: TracingInstance[] = [];
    for (const inst of instances) if (await inst.isEventEnabled(group, event)) out.push(inst);
    return out;
  };
  const probes: LeftoverProbe[] = [];
  const tracepoint = await armedIn(TCP_TRACEPOINT.group, TCP_TRACEPOINT.event);
  if (tracepoint.length > 0) probes.push({ name: TCP_TRACEPOINT.event, group: TCP_TRACEPOINT.group, event: TCP_TRACEPOINT.event, armedIn: tracepoint });
  // A live agent's kprobes are not ours to take: they stay while any live instance remains.
  const spared = left.instances.length > instances.length;
  const kprobes = spared ? [] : left.kprobes;
  for (const k of kprobes) probes.push({ name: k.event, group: k.group, event: k.event, armedIn: await armedIn(k.group, k.event) });
  return { instances, kprobes, probes };
}

/** Removes the stale instances, then our group's kprobes (none are left enabled once they are gone). */
export async function removeLeftovers(tracefs: Tracefs, left: Leftovers): Promise<CleanupResult> {
  for (const inst of left.instances) await inst.remove();
  for (const k of left.kprobes) await tracefs.removeKprobe(k.group, k.event);
  return { kprobes: left.kprobes.map((k) => `${k.group}/${k.event}`), instances: left.instances.map((i) => i.name) };
}

/**
 * A crashed run's probes stay enabled in its instance, recording, until removed: what they recorded
 * after it died is read and reported first (hits of this run's own probes, which it can decode),
 * then the probes are disarmed and unregistered, in the stream too, so the host's model state follows.
 */
export async function takeDownLeftovers(tracefs: Tracefs, left: Leftovers, probes: readonly Probe[], handle: HitHandler, emit: Emit, log: Logger): Promise<void> {
  if (left.instances.length + left.kprobes.length === 0) return;
  let recovered = 0;
  for (const inst of left.instances) {
    const events = left.probes.filter((l) => l.armedIn.includes(inst));
    const ours = probes.filter((p) => events.some((l) => l.group === p.group && l.event === p.event));
    for (const l of events) await inst.disableEvent(l.group, l.event);
    if (ours.length === 0) continue;
    const items = await (await openReader(inst.dir, ours)).drain();
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
