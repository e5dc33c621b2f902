// Every projection, fed the same way by live ingestion and by `probefleet rebuild`: events in store
// order, each with the time its transaction stored it.
import type { StoredEvent } from './event-rows';
import type { Tx } from './prisma';
import { projectAgents } from './projections/agents';
import { projectProbes, type ModelViolation } from './projections/probes';
import { projectStreams } from './projections/streams';
import { projectTcp } from './projections/tcp';

export async function project(tx: Tx, events: readonly StoredEvent[]): Promise<ModelViolation[]> {
  if (events.length === 0) return [];
  await projectStreams(tx, events);
  await projectAgents(tx, events);
  await projectTcp(tx, events);
  return projectProbes(tx, events);
}

/** The projection tables, which `rebuild` empties before folding the event store again. */
export const PROJECTION_TABLES = ['streams', 'stream_gaps', 'agents', 'probes', 'tcp_transitions', 'tcp_connections'] as const;
