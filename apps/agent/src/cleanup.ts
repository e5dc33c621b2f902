// Leftovers of a crashed run: our group's kprobes and the instances/probefleet-* of runs that are
// gone. Shared by the `cleanup` command and the start of `run` (so a kill -9 never leaves probes
// armed for long). An instance is named after its owner's pid, so another agent still running on
// this host (a test, a second stack) keeps its instance.
import { Tracefs } from '@probefleet/tracefs';
import { PROBE_GROUP } from './probes';

export interface CleanupResult {
  kprobes: string[];
  instances: string[];
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

export async function removeLeftovers(tracefs: Tracefs): Promise<CleanupResult> {
  const removed = await tracefs.cleanLeftovers(PROBE_GROUP, (name) => isStale(name));
  return { kprobes: removed.kprobes.map((k) => `${k.group}/${k.event}`), instances: removed.instances };
}
