// Every projection, fed the same way by live ingestion and by `probefleet rebuild`: a batch's
// events in store order, behind the streams gate. Each projection declares its tables and what it
// handles; `rebuild` empties exactly those tables.
import { isTcpHit, type Event, type TcpHitEvent } from '@probefleet/events';
import type { PoolClient } from 'pg';
import { projectAgents } from './projections/agents';
import { POLICY_EVENT_TYPES, projectPolicies } from './projections/policies';
import { PROBE_EVENT_TYPES, projectProbes, type ModelViolation } from './projections/probes';
import { lockStreams, projectStreams, unseen } from './projections/streams';
import { Rollups } from './projections/rollups';
import { projectTcp } from './projections/tcp';
import type { OwnerIds } from './owners';

export type { ModelViolation };

// A streams row is also the stream's identity (host, boot): the typed rows keep only the instance.
// So rebuild resets its progress instead of emptying it.
export const PROJECTIONS = [
  { name: 'streams', tables: ['stream_gaps'], handles: 'every event (seq progress and gaps; the exactly-once gate)' },
  { name: 'agents', tables: ['agents'], handles: 'every event (the fleet and its counters)' },
  { name: 'tcp', tables: ['tcp_connections', 'tcp_open_connections', 'tcp_rollups', 'tcp_rollups_fleet'], handles: 'TCP probe.hit (lifetimes; per-minute/hour counts per host and fleet)' },
  { name: 'probes', tables: ['probes'], handles: PROBE_EVENT_TYPES.join(', ') },
  { name: 'policies', tables: ['policies', 'policy_hosts'], handles: POLICY_EVENT_TYPES.join(', ') },
] as const;

/** The projection tables, which `rebuild` empties before folding the store again. */
export const PROJECTION_TABLES = PROJECTIONS.flatMap((p) => p.tables);
/** And what it resets: the streams' progress, their identity kept. */
export const PROJECTION_RESETS = ['UPDATE streams SET contiguous_to = 0, max_seq = 0, events = 0'];

/** What the TCP projection computed for the batch's TCP hits, for the caller to store with them. */
export interface TcpBatch { hits: TcpHitEvent[]; msInOldState: (number | null)[]; isTcp: Set<Event> }

export interface ProjectHooks {
  /** The hits' owner ids (tcp_owners): resolved before the transaction live, read from the rows by rebuild. */
  owners: OwnerIds;
  /** Stores (live) or reconciles (rebuild) the fresh events, after the gate and the TCP fold. */
  write(fresh: readonly Event[], tcp: TcpBatch): Promise<void>;
  /** Rebuild after retention: where the store starts now (RFC 3339); seqs dropped before it are no gap. */
  storeStart?: string;
}

export async function project(client: PoolClient, events: readonly Event[], hooks: ProjectHooks): Promise<{ stored: number; violations: ModelViolation[] }> {
  const streams = await lockStreams(client, events);
  const fresh = unseen(streams, events.map((event) => ({ event }))).map((x) => x.event);
  if (fresh.length === 0) return { stored: 0, violations: [] };
  const hits = fresh.filter((e): e is TcpHitEvent => e.type === 'probe.hit' && isTcpHit(e));
  const rollups = new Rollups();
  const { msInOldState } = await projectTcp(client, hits, rollups, hooks.owners);
  await hooks.write(fresh, { hits, msInOldState, isTcp: new Set(hits) });
  await projectStreams(client, streams, fresh, hooks.storeStart);
  await projectAgents(client, fresh);
  const violations = await projectProbes(client, fresh);
  await projectPolicies(client, fresh);
  // Last: the fleet rollup rows are shared by all aggregators, so they are locked only until commit.
  await rollups.write(client);
  return { stored: fresh.length, violations };
}
