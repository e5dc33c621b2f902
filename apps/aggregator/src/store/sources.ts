// The source dictionary (tcp_sources, migration 20261207160000_tcp_sources): where TCP hits come
// from — host, agent instance and probe — once; transitions keep its id. Resolved like the owners
// (owners.ts): before the batch's transaction, new sources inserted in key order with ON CONFLICT
// DO NOTHING, then every id read; what this process has seen is cached, so a steady fleet's
// batches send no statement here (a source is new only when an agent starts).
import { isTcpHit, type Event } from '@probefleet/events';
import type { Pool, PoolClient } from 'pg';

/** Bounded: a source per agent start and probe. */
const CACHE_LIMIT = 100_000;

/** A source's key: its host, instance and probe. */
const sourceKey = (host: string, instance: string, probe: string) => `${host}\n${instance}\n${probe}`;

/** Resolved source ids by sourceKey. */
export class SourceIds {
  constructor(private readonly ids: ReadonlyMap<string, number>) {}

  /** The id of a TCP hit's source (resolved before: a miss is a bug). */
  of(e: Event & { type: 'probe.hit' }): number {
    const id = this.ids.get(sourceKey(e.host, e.instance, e.data.probe));
    if (id === undefined) throw new Error(`the source of ${e.host} ${e.instance} seq ${e.seq} was not resolved`);
    return id;
  }
}

const WANTED = `SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[]) WITH ORDINALITY AS v (host, instance, probe, i)`;
// New sources only (NOT EXISTS spares the id sequence), in key order.
const INSERT = `INSERT INTO tcp_sources (id, instance, host, probe)
SELECT nextval('tcp_source_id_seq'), v.instance, v.host, v.probe FROM (${WANTED}) v
 WHERE NOT EXISTS (SELECT 1 FROM tcp_sources s WHERE s.host = v.host AND s.instance = v.instance AND s.probe = v.probe)
 ORDER BY v.host, v.instance, v.probe
    ON CONFLICT (host, instance, probe) DO NOTHING`;
const READ = `SELECT v.i::int AS i, s.id FROM (${WANTED}) v JOIN tcp_sources s ON s.host = v.host AND s.instance = v.instance AND s.probe = v.probe`;

export class SourceDictionary {
  private readonly known = new Map<string, number>();

  /** The ids of the sources of `events`' TCP hits. */
  async resolve(pool: Pool | PoolClient, events: readonly Event[]): Promise<SourceIds> {
    const ids = new Map<string, number>();
    const stale = new Map<string, [string, string, string]>();
    for (const e of events) {
      if (e.type !== 'probe.hit' || !isTcpHit(e)) continue;
      const k = sourceKey(e.host, e.instance, e.data.probe);
      if (ids.has(k) || stale.has(k)) continue;
      const id = this.known.get(k);
      if (id !== undefined) ids.set(k, id);
      else stale.set(k, [e.host, e.instance, e.data.probe]);
    }
    if (stale.size === 0) return new SourceIds(ids);
    const wanted = [...stale.values()];
    const params = [wanted.map((w) => w[0]), wanted.map((w) => w[1]), wanted.map((w) => w[2])];
    await pool.query(INSERT, params);
    const { rows } = await pool.query<{ i: number; id: number }>(READ, params);
    if (rows.length !== wanted.length) throw new Error(`${wanted.length - rows.length} of ${wanted.length} sources were neither found nor inserted`);
    if (this.known.size + wanted.length > CACHE_LIMIT) this.known.clear();
    for (const r of rows) {
      const [host, instance, probe] = wanted[r.i - 1]!;
      const k = sourceKey(host, instance, probe);
      this.known.set(k, r.id);
      ids.set(k, r.id);
    }
    return new SourceIds(ids);
  }
}

const dictionaries = new WeakMap<Pool, SourceDictionary>();

export function sourcesFor(pool: Pool): SourceDictionary {
  let d = dictionaries.get(pool);
  if (!d) dictionaries.set(pool, (d = new SourceDictionary()));
  return d;
}
