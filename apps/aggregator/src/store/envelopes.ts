// Stored rows back to the envelopes the agent sent: a TCP hit from its typed tcp_transitions row, any
// other event from its generic events row; bootId from the stream. Both tables share one id
// sequence, so reading them by id ranges and merging gives the store order. The key order of the
// agent's spelling is restored (see agentSpelling), so an exported line is byte for byte what the
// agent sent; free-form records (heartbeat counters, user-probe args) keep jsonb's key order.
import { decodeEventValue, EVENT_VERSION, ownerInOrder, skaddrFromInt64, unpackContext, canonicalAddress, type Event, type Owner, type TcpArgs } from '@probefleet/events';
import { OWNER_SELECT, ownerFromRow } from './owners';
import type { Pool, PoolClient } from 'pg';
import { BATCH_BITS } from './batch-ids';

/** One stored event and its store position; a TCP hit's owner object with its tcp_owners id. */
export interface StoredEnvelope { id: bigint; event: Event; owner?: [Owner, number] }

export interface EnvelopeFilter { host?: string; instance?: string; from?: string; to?: string }

// The agent's exact time: the µs column plus time_ns (0..999 as ingest stores it; -500..999 in rows
// moved from the v1 layout, whose µs were rounded).
const TIME_TEXT = (t: string) => `to_char((${t}.time + floor(${t}.time_ns / 1000.0) * INTERVAL '1 microsecond') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
  || lpad(((${t}.time_ns % 1000 + 1000) % 1000)::text, 3, '0') || 'Z'`;

/** `t`: the row's alias; `src`: where its instance is (the row itself, or a transition's source). */
function conditions(t: string, f: EnvelopeFilter, values: unknown[], src = t): string {
  const parts: string[] = [];
  const add = (sql: (n: string) => string, v: unknown) => { values.push(v); parts.push(sql(`$${values.length}`)); };
  if (f.host !== undefined) add((n) => `${t}.host = ${n}`, f.host);
  if (f.instance !== undefined) add((n) => `${src}.instance = ${n}::uuid`, f.instance);
  if (f.from !== undefined) add((n) => `${t}.time >= ${n}::timestamptz`, f.from);
  if (f.to !== undefined) add((n) => `${t}.time < ${n}::timestamptz`, f.to);
  return parts.map((p) => ` AND ${p}`).join('');
}

const TCP_SELECT = `SELECT t.id::text, t.host, k.instance::text, s.boot_id::text AS boot_id, t.seq, ${TIME_TEXT('t')} AS time, t.mono_ns::text,
       k.probe, t.cpu, t.pid, t.comm, t.ctx, t.skaddr::text, t.family::text, host(t.saddr) AS saddr, host(t.daddr) AS daddr,
       t.sport, t.dport, t.old_state::text, t.new_state::text, t.ms_in_old_state, t.attribution::text AS attribution,
       t.tx_bytes::text, t.rx_bytes::text, t.retrans::text, t.srtt_us, t.owner_id, ${OWNER_SELECT('o')}
  FROM tcp_transitions t JOIN tcp_sources k ON k.host = t.host AND k.id = t.source_id JOIN streams s ON s.instance = k.instance
  LEFT JOIN tcp_owners o ON o.host = t.host AND o.id = t.owner_id`;
const EVENT_SELECT = `SELECT e.id::text, e.host, e.instance::text, s.boot_id::text AS boot_id, e.seq, ${TIME_TEXT('e')} AS time, e.mono_ns::text,
       e.type, e.data
  FROM events e JOIN streams s ON s.instance = e.instance`;

/* eslint-disable @typescript-eslint/no-explicit-any */
/** `owners`: the owner objects built so far, by id (one object per owner, as the agent's hits share theirs). */
function tcpEnvelope(r: any, owners: Map<number, Owner>): StoredEnvelope {
  const ctx = unpackContext(r.ctx);
  const family = r.family as TcpArgs['family'];
  const args: TcpArgs = {
    skaddr: skaddrFromInt64(BigInt(r.skaddr)), family, saddr: canonicalAddress(family, r.saddr)!, daddr: canonicalAddress(family, r.daddr)!,
    sport: r.sport, dport: r.dport, oldstate: r.old_state, newstate: r.new_state,
  };
  let owner: Owner | undefined;
  if (r.owner_id !== null) {
    owner = owners.get(r.owner_id) ?? ownerFromRow(r);
    if (owner === undefined) throw new Error(`stored hit ${r.instance}/${r.seq} names owner ${r.owner_id}, which tcp_owners no longer holds`);
    owners.set(r.owner_id, owner);
  }
  const life = r.tx_bytes === null ? undefined : { txBytes: Number(r.tx_bytes), rxBytes: Number(r.rx_bytes), retrans: Number(r.retrans), srttUs: r.srtt_us };
  const event = {
    v: EVENT_VERSION, type: 'probe.hit', host: r.host, bootId: r.boot_id, instance: r.instance, seq: Number(r.seq), time: r.time,
    ...(r.mono_ns === null ? {} : { monoNs: r.mono_ns }),
    data: {
      probe: r.probe, cpu: r.cpu, pid: r.pid, comm: r.comm, ...(ctx === undefined ? {} : { ctx }), args, ...(life === undefined ? {} : { life }),
      ...(owner === undefined ? {} : { owner }), ...(r.attribution === null ? {} : { attribution: r.attribution }),
    },
  } as Event;
  return { id: BigInt(r.id), event, ...(owner === undefined ? {} : { owner: [owner, r.owner_id] as [Owner, number] }) };
}

function genericEnvelope(r: any): StoredEnvelope {
  const decoded = decodeEventValue({
    v: EVENT_VERSION, type: r.type, host: r.host, bootId: r.boot_id, instance: r.instance, seq: Number(r.seq), time: r.time,
    ...(r.mono_ns === null ? {} : { monoNs: r.mono_ns }), data: r.data,
  });
  // Rows were validated on the way in: a failure here is corruption, not input.
  if (!decoded.ok) throw new Error(`stored event ${r.instance}/${r.seq} no longer decodes: ${decoded.field}: ${decoded.reason}`);
  return { id: BigInt(r.id), event: agentSpelling(decoded.value) };
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** Both tables' rows with lo < id <= hi (and the filter), in id order; with each TCP row its ms in old state. */
export async function envelopesBetween(db: Pool | PoolClient, lo: bigint, hi: bigint, f: EnvelopeFilter = {}): Promise<(StoredEnvelope & { msInOldState?: number | null })[]> {
  const tv: unknown[] = [lo.toString(), hi.toString()];
  const ev: unknown[] = [lo.toString(), hi.toString()];
  const [tcp, generic] = await Promise.all([
    db.query(`${TCP_SELECT} WHERE t.id > $1 AND t.id <= $2${conditions('t', f, tv, 'k')}`, tv),
    db.query(`${EVENT_SELECT} WHERE e.id > $1 AND e.id <= $2${conditions('e', f, ev)}`, ev),
  ]);
  const owners = new Map<number, Owner>();
  const all = [
    ...tcp.rows.map((r) => ({ ...tcpEnvelope(r, owners), msInOldState: r.ms_in_old_state as number | null })),
    ...generic.rows.map(genericEnvelope),
  ];
  return all.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

const BATCH_SHIFT = BigInt(BATCH_BITS);
const WINDOW_ROWS = 20000;

/**
 * The store as id windows in order, each a run of consecutive batches of about WINDOW_ROWS events
 * (store_batches lists them), so every read is a bounded id range the BRIN indexes serve.
 */
export async function* storeWindows(db: Pool | PoolClient): AsyncGenerator<[bigint, bigint]> {
  let after = -1n;
  for (;;) {
    // ORDER BY the column (b.id), not the text output `id`: in text order batch 10 sorts before 2,
    // and windows overlapped (every event exported again) once a store had ten batches.
    const { rows } = await db.query('SELECT id::text, rows FROM store_batches b WHERE b.id > $1 ORDER BY b.id LIMIT 1000', [after.toString()]);
    if (rows.length === 0) return;
    let lo: bigint | null = null;
    let n = 0;
    for (const r of rows) {
      const id = BigInt(r.id);
      if (lo === null) lo = id;
      n += r.rows;
      if (n >= WINDOW_ROWS) {
        yield [(lo << BATCH_SHIFT) - 1n, ((id + 1n) << BATCH_SHIFT) - 1n];
        lo = null;
        n = 0;
      }
      after = id;
    }
    if (lo !== null) yield [(lo << BATCH_SHIFT) - 1n, ((after + 1n) << BATCH_SHIFT) - 1n];
  }
}

/** Every stored event matching `f`, in store order, window by window (bounded memory on any store). */
export async function* storedEnvelopes(db: Pool | PoolClient, f: EnvelopeFilter = {}): AsyncGenerator<StoredEnvelope & { msInOldState?: number | null }> {
  for await (const [lo, hi] of storeWindows(db)) {
    for (const e of await envelopesBetween(db, lo, hi, f)) yield e;
  }
}

/** One stream's events from a seq on, in seq order (the events API). */
export async function streamEnvelopes(db: Pool, instance: string, afterSeq: number, limit: number): Promise<StoredEnvelope[]> {
  const [tcp, generic] = await Promise.all([
    db.query(`${TCP_SELECT} WHERE k.instance = $1 AND t.seq > $2 ORDER BY t.seq LIMIT $3`, [instance, afterSeq, limit]),
    db.query(`${EVENT_SELECT} WHERE e.instance = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3`, [instance, afterSeq, limit]),
  ]);
  const owners = new Map<number, Owner>();
  return [...tcp.rows.map((r) => tcpEnvelope(r, owners)), ...generic.rows.map(genericEnvelope)].sort((a, b) => a.event.seq - b.event.seq).slice(0, limit);
}

// The agent's spelling (encodeEvent of the envelope as apps/agent builds it): decoding gives the
// values but not that order: zod moves `type`, and jsonb orders keys shortest first.
const TCP_ARG_ORDER = ['skaddr', 'family', 'saddr', 'daddr', 'sport', 'dport', 'oldstate', 'newstate'];

export function agentSpelling(e: Event): Event {
  const envelope = { v: e.v, type: e.type, host: e.host, bootId: e.bootId, instance: e.instance, seq: e.seq, time: e.time };
  const mono = e.monoNs === undefined ? {} : { monoNs: e.monoNs };
  if (e.type !== 'probe.hit') return { ...envelope, ...mono, data: e.data } as Event;
  const { probe, cpu, pid, comm, ctx, args, life, owner, attribution } = e.data;
  const tcp = Object.keys(args).length === TCP_ARG_ORDER.length && TCP_ARG_ORDER.every((k) => k in args);
  const data = {
    probe, cpu, pid, comm,
    ...(ctx === undefined ? {} : {
      ctx: { irqsOff: ctx.irqsOff, needResched: ctx.needResched, hardirq: ctx.hardirq, softirq: ctx.softirq, nmi: ctx.nmi, preemptDepth: ctx.preemptDepth },
    }),
    args: tcp ? Object.fromEntries(TCP_ARG_ORDER.map((k) => [k, args[k]])) : args,
    ...(life === undefined ? {} : { life: { txBytes: life.txBytes, rxBytes: life.rxBytes, retrans: life.retrans, srttUs: life.srttUs } }),
    ...(owner === undefined ? {} : { owner: ownerInOrder(owner) }),
    ...(attribution === undefined ? {} : { attribution }),
  };
  return { ...envelope, ...mono, data } as Event;
}
