// Leftovers of a crashed run: our group's kprobes and the instances/probefleet-* of runs that are
// gone. Shared by the `cleanup` command and the start of `run` (so a kill -9 never leaves probes
// armed for long). An instance is named after its owner's pid, so another agent still running on
// this host (a test, a second stack) keeps its instance.
import { Tracefs, TracingInstance } from '@probefleet/tracefs';
import { PROBE_GROUP, TCP_TRACEPOINT } from './probes';

export interface CleanupResult {
  kprobes: string[];
  instances: string[];
}

/** A probe of a crashed run that this cleanup took down: `run` reports it so the model's host state follows. */
export interface LeftoverProbe {
  name: string;
  armed: boolean;
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

export async function removeLeftovers(tracefs: Tracefs): Promise<CleanupResult & { probes: LeftoverProbe[] }> {
  // What was armed is read before the instances go: a crashed run's probes were armed in its instance.
  const left = await tracefs.listLeftovers(PROBE_GROUP);
  const stale = left.instances.filter((name) => isStale(name));
  const armedIn = async (group: string, event: string) => {
    for (const name of stale) if (await new TracingInstance(tracefs, name).isEventEnabled(group, event)) return true;
    return false;
  };
  const tracepointArmed = await armedIn(TCP_TRACEPOINT.group, TCP_TRACEPOINT.event);
  const kprobeArmed = new Map<string, boolean>();
  for (const k of left.kprobes) kprobeArmed.set(k.event, await armedIn(k.group, k.event));

  const removed = await tracefs.cleanLeftovers(PROBE_GROUP, (name) => stale.includes(name));
  const probes: LeftoverProbe[] = [
    ...(tracepointArmed ? [{ name: TCP_TRACEPOINT.event, armed: true }] : []),
    ...removed.kprobes.map((k) => ({ name: k.event, armed: kprobeArmed.get(k.event) ?? false })),
  ];
  return { kprobes: removed.kprobes.map((k) => `${k.group}/${k.event}`), instances: removed.instances, probes };
}
