// The policies API's write path: a change (put or delete) is the control stream's next event, with
// the policy's next version, appended and projected like any event (append), in one transaction
// serialized by a lock, so versions and seqs have no gaps nor twins. The caller validated the spec.
import { CONTROL_STREAM, EVENT_VERSION, rfc3339Nanos, type Event, type EventOf } from '@probefleet/events';
import type { PolicySpec } from '@probefleet/policy';
import type { Pool } from 'pg';
import { append, partitionsFor, partitionsNeeded } from './ingest';
import { inTransaction, PROJECTION_LOCK } from './pg';

const POLICY_LOCK = 0x706f6c69; // "poli"

export type PolicyChange = { put: PolicySpec } | { delete: true };
export type PolicyEvent = EventOf<'policy.put'> | EventOf<'policy.deleted'>;

/** Stores the change; null when a delete finds no live policy of that name (nothing is stored). */
export async function recordPolicyChange(pool: Pool, name: string, change: PolicyChange, nowMs = Date.now()): Promise<PolicyEvent | null> {
  const time = rfc3339Nanos(BigInt(nowMs) * 1_000_000n);
  await partitionsFor(pool).ensure(partitionsNeeded([{ type: 'policy.put', time } as Event]));
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock_shared($1)', [PROJECTION_LOCK]);
    await client.query('SELECT pg_advisory_xact_lock($1)', [POLICY_LOCK]);
    const { rows: [policy] } = await client.query<{ version: number; deleted: boolean }>('SELECT version, deleted FROM policies WHERE name = $1', [name]);
    if ('delete' in change && (policy === undefined || policy.deleted)) return null;
    const { rows: [stream] } = await client.query<{ max_seq: string }>('SELECT max_seq::text FROM streams WHERE instance = $1', [CONTROL_STREAM.instance]);
    const envelope = { v: EVENT_VERSION, ...CONTROL_STREAM, seq: Number(stream?.max_seq ?? 0) + 1, time };
    const version = (policy?.version ?? 0) + 1;
    const event = ('put' in change
      ? { ...envelope, type: 'policy.put', data: { policy: name, version, spec: change.put } }
      : { ...envelope, type: 'policy.deleted', data: { policy: name, version } }) as PolicyEvent;
    await append(client, [event], nowMs);
    return event;
  });
}
