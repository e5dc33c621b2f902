// Leftovers of a crashed run: our group's kprobes and every instances/probefleet-*. Shared by the
// `cleanup` command and the start of `run` (so a kill -9 never leaves probes armed for long).
import { Tracefs } from '@probefleet/tracefs';
import { PROBE_GROUP } from './probes';

export interface CleanupResult {
  kprobes: string[];
  instances: string[];
}

export async function removeLeftovers(tracefs: Tracefs): Promise<CleanupResult> {
  const left = await tracefs.listLeftovers(PROBE_GROUP);
  await tracefs.cleanLeftovers(PROBE_GROUP);
  return { kprobes: left.kprobes.map((k) => `${k.group}/${k.event}`), instances: left.instances };
}
