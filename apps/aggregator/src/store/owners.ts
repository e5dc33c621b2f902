// The owner dictionary (tcp_owners, migration 20261203060000_owner_dictionary): each host's socket
// owners once, the transitions and lifetimes keeping their id. A batch's owners are resolved before
// its transaction, in short statements of their own (autocommit): a new owner is inserted with ON
// CONFLICT DO NOTHING in key order, so concurrent aggregators neither serialize on a batch's
// transaction nor deadlock; then the ids are read. Owners known to this process (and their last
// day) are cached, so a steady fleet's batches send no statement here at all.
import { ownerJson, ownerInOrder, type Event, type Owner } from '@probefleet/events';
import type { Pool, PoolClient } from 'pg';

/** Bounded: a fleet's short-lived processes (a pid per curl) are each an owner. */
const CACHE_LIMIT = 200_000;

/** Each owner object of a batch (every owned hit's own) → its id in tcp_owners. */
export type OwnerIds = ReadonlyMap<Owner, number>;

interface Wanted { host: string; owner: Owner; day: string; objects: Owner[] }

const FIELDS = `$1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::uuid[], $10::date[]`;
const KEYED = `SELECT u.*, probefleet_owner_key(u.pid, u.comm, u.cgroup, u.container_id, u.container_runtime, u.pod_namespace, u.pod_name, u.pod_uid) AS key
  FROM unnest(${FIELDS}) WITH ORDINALITY AS u (host, pid, comm, cgroup, container_id, container_runtime, pod_namespace, pod_name, pod_uid, day, i)`;

// New owners only (NOT EXISTS spares the id sequence), in key order; one that another aggregator
// inserts meanwhile is left to it.
const INSERT = `INSERT INTO tcp_owners (host, id, key, pid, comm, cgroup, container_id, container_runtime, pod_namespace, pod_name, pod_uid, last_day)
SELECT v.host, nextval('tcp_owner_id_seq'), v.key, v.pid, v.comm, v.cgroup, v.container_id, v.container_runtime, v.pod_namespace, v.pod_name, v.pod_uid, v.day
  FROM (${KEYED}) v
 WHERE NOT EXISTS (SELECT 1 FROM tcp_owners o WHERE o.host = v.host AND o.key = v.key)
 ORDER BY v.host, v.key
    ON CONFLICT (host, key) DO NOTHING`;

// A later statement sees what the insert (or a concurrent one) committed. Moves last_day on (rows
// locked in key order), and reads every id.
const TOUCH_AND_READ = `WITH v AS (${KEYED}),
  l AS (SELECT o.host, o.id, v.day FROM tcp_owners o JOIN v ON o.host = v.host AND o.key = v.key
         WHERE o.last_day < v.day ORDER BY o.host, o.id FOR UPDATE OF o),
  u AS (UPDATE tcp_owners o SET last_day = l.day FROM l WHERE o.host = l.host AND o.id = l.id RETURNING 1)
SELECT v.i::int AS i, o.id FROM v JOIN tcp_owners o ON o.host = v.host AND o.key = v.key`;

export class OwnerDictionary {
  private readonly known = new Map<string, { id: number; day: string }>();

  /** The ids of the owners of `events`' hits, their last day moved on to the hits' newest UTC day. */
  async resolve(pool: Pool, events: readonly Event[]): Promise<OwnerIds> {
    const ids = new Map<Owner, number>();
    const wanted = new Map<string, Wanted>();
    for (const e of events) {
      if (e.type !== 'probe.hit' || e.data.owner === undefined) continue;
      const owner = e.data.owner;
      const k = `${e.host}\n${ownerJson(owner)}`;
      const day = e.time.slice(0, 10);
      const w = wanted.get(k);
      if (w === undefined) wanted.set(k, { host: e.host, owner, day, objects: [owner] });
      else {
        w.objects.push(owner);
        if (day > w.day) w.day = day;
      }
    }
    const stale: [string, Wanted][] = [];
    for (const [k, w] of wanted) {
      const c = this.known.get(k);
      if (c !== undefined && c.day >= w.day) for (const o of w.objects) ids.set(o, c.id);
      else stale.push([k, w]);
    }
    if (stale.length === 0) return ids;
    const params = fieldArrays(stale.map(([, w]) => w));
    await pool.query(INSERT, params);
    const { rows } = await pool.query<{ i: number; id: number }>(TOUCH_AND_READ, params);
    if (this.known.size + stale.length > CACHE_LIMIT) this.known.clear();
    for (const r of rows) {
      const [k, w] = stale[r.i - 1]!;
      this.known.set(k, { id: r.id, day: w.day });
      for (const o of w.objects) ids.set(o, r.id);
    }
    if (rows.length !== stale.length) throw new Error(`${stale.length - rows.length} of ${stale.length} owners were neither found nor inserted`);
    return ids;
  }
}

function fieldArrays(ws: readonly Wanted[]): unknown[] {
  const col = <T>(f: (o: Owner) => T) => ws.map((w) => f(w.owner));
  return [ws.map((w) => w.host), col((o) => o.pid), col((o) => o.comm), col((o) => o.cgroup), col((o) => o.container?.id ?? null),
    col((o) => o.container?.runtime ?? null), col((o) => o.pod?.namespace ?? null), col((o) => o.pod?.name ?? null), col((o) => o.pod?.uid ?? null),
    ws.map((w) => w.day)];
}

const dictionaries = new WeakMap<Pool, OwnerDictionary>();

export function ownersFor(pool: Pool): OwnerDictionary {
  let d = dictionaries.get(pool);
  if (!d) dictionaries.set(pool, (d = new OwnerDictionary()));
  return d;
}

/**
 * Lifetimes that close on a later day than any hit of the batch named their owner (their closing
 * hit had none): the owner's last day moves on with them, in the batch's transaction, rows locked
 * in id order.
 */
export async function touchOwners(client: PoolClient, touches: readonly { host: string; id: number; day: string }[]): Promise<void> {
  if (touches.length === 0) return;
  await client.query(
    `WITH v AS (SELECT * FROM unnest($1::text[], $2::int[], $3::date[]) AS v (host, id, day)),
          l AS (SELECT o.host, o.id, v.day FROM tcp_owners o JOIN v ON o.host = v.host AND o.id = v.id WHERE o.last_day < v.day
                 ORDER BY o.host, o.id FOR UPDATE OF o)
     UPDATE tcp_owners o SET last_day = l.day FROM l WHERE o.host = l.host AND o.id = l.id`,
    [touches.map((t) => t.host), touches.map((t) => t.id), touches.map((t) => t.day)]);
}

/**
 * Retention: drops the owners no kept row names — last day before `beforeDay` (YYYY-MM-DD: the
 * oldest day any kept partition of tcp_transitions or tcp_connections holds) and no open lifetime's.
 * Reads the dictionary's last_day index and the small open-lifetimes table, never a raw partition.
 */
export async function dropUnusedOwners(pool: Pool, beforeDay: string): Promise<number> {
  const { rowCount } = await pool.query(
    `DELETE FROM tcp_owners o WHERE o.last_day < $1::date
        AND NOT EXISTS (SELECT 1 FROM tcp_open_connections c WHERE c.host = o.host AND c.owner_id = o.id)`, [beforeDay]);
  return rowCount ?? 0;
}

/** The owner columns of a tcp_owners row (alias `o`) to select, as ownerFromRow reads them. */
export const OWNER_SELECT = (o: string) => `${o}.pid AS owner_pid, ${o}.comm AS owner_comm, ${o}.cgroup AS owner_cgroup, ${o}.container_id AS owner_container_id,
  ${o}.container_runtime AS owner_container_runtime, ${o}.pod_namespace AS owner_pod_namespace, ${o}.pod_name AS owner_pod_name, ${o}.pod_uid::text AS owner_pod_uid`;

/* eslint-disable @typescript-eslint/no-explicit-any */
/** A joined row's owner (OWNER_SELECT) back to what the hit said, keys in the agent's order; undefined when none. */
export function ownerFromRow(r: any): Owner | undefined {
  if (r.owner_pid === null || r.owner_pid === undefined) return undefined;
  return ownerInOrder({
    pid: r.owner_pid, comm: r.owner_comm, cgroup: r.owner_cgroup,
    ...(r.owner_container_id === null ? {} : { container: { id: r.owner_container_id, runtime: r.owner_container_runtime } }),
    ...(r.owner_pod_uid === null ? {} : {
      pod: { ...(r.owner_pod_namespace === null ? {} : { namespace: r.owner_pod_namespace }), ...(r.owner_pod_name === null ? {} : { name: r.owner_pod_name }), uid: r.owner_pod_uid },
    }),
  } as Owner);
}
/* eslint-enable @typescript-eslint/no-explicit-any */
