// policies + policy_hosts: each policy's current version and spec (the control stream's policy.put /
// policy.deleted), and per policy and host the host's last report of it (policy.applied, rejected,
// removed). Folded in store order: a report of an older version than the host's last is kept out,
// and so is a refusal with no version (a forged or unsigned record's).
import type { Event, EventOf } from '@probefleet/events';
import type { PoolClient } from 'pg';

export const POLICY_EVENT_TYPES = ['policy.put', 'policy.deleted', 'policy.applied', 'policy.rejected', 'policy.removed'] as const;
const TYPES = new Set<string>(POLICY_EVENT_TYPES);

type Report = EventOf<'policy.applied'> | EventOf<'policy.rejected'> | EventOf<'policy.removed'>;
const STATUS = { 'policy.applied': 'applied', 'policy.rejected': 'rejected', 'policy.removed': 'removed' } as const;

export async function projectPolicies(client: PoolClient, events: readonly Event[]): Promise<void> {
  const mine = events.filter((e) => TYPES.has(e.type));
  if (mine.length === 0) return;
  const policies = new Map<string, unknown[]>();
  const hosts = new Map<string, unknown[]>();
  for (const e of mine) {
    if (e.type === 'policy.put') policies.set(e.data.policy, [e.data.policy, e.data.version, e.data.spec, false, e.time]);
    else if (e.type === 'policy.deleted') policies.set(e.data.policy, [e.data.policy, e.data.version, null, true, e.time]);
    else {
      const r = e as Report;
      const d = r.data as Partial<EventOf<'policy.rejected'>['data'] & EventOf<'policy.applied'>['data']> & { policy: string };
      // A record refused unverified names no version of the aggregator's: it stays in the event
      // store (and the agent's metrics), and cannot stand for (nor freeze) the host's status.
      if (d.version === undefined) continue;
      hosts.set(`${d.policy}\u0000${r.host}`, [d.policy, r.host, d.version, STATUS[r.type], d.reason ?? null, d.line ?? null, d.kernel ?? null, d.definitions ?? null, d.filters ?? null, r.time]);
    }
  }
  if (policies.size > 0) {
    await client.query(
      `INSERT INTO policies AS p (name, version, spec, deleted, updated_at)
       SELECT r->>0, (r->>1)::int, nullif(r->2, 'null'), (r->>3)::boolean, (r->>4)::timestamptz FROM jsonb_array_elements($1::jsonb) r
       ON CONFLICT (name) DO UPDATE SET version = excluded.version, spec = excluded.spec, deleted = excluded.deleted, updated_at = excluded.updated_at
       WHERE excluded.version >= p.version`, [JSON.stringify([...policies.values()])]);
  }
  if (hosts.size > 0) {
    await client.query(
      `INSERT INTO policy_hosts AS h (policy, host, version, status, reason, line, kernel, definitions, filters, at)
       SELECT r->>0, r->>1, (r->>2)::int, r->>3, r->>4, r->>5, r->>6, nullif(r->7, 'null'), nullif(r->8, 'null'), (r->>9)::timestamptz
         FROM jsonb_array_elements($1::jsonb) r
       ON CONFLICT (policy, host) DO UPDATE SET version = excluded.version, status = excluded.status, reason = excluded.reason, line = excluded.line,
         kernel = excluded.kernel, definitions = excluded.definitions, filters = excluded.filters, at = excluded.at
       WHERE excluded.version >= h.version`, [JSON.stringify([...hosts.values()])]);
  }
}
