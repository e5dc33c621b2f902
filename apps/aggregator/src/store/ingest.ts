// One Kafka batch into the store, atomically: decodes every message; locks the batch's streams
// (the exactly-once gate) and keeps only positions not stored yet; appends TCP hits as typed
// tcp_transitions rows and every other event as a generic events row, both by COPY; updates every
// projection; stores the messages that cannot be events as dead letters — all in one transaction.
// A row PostgreSQL refuses fails its transaction: the batch is then split in halves until the
// refused message is alone, which is dead-lettered, so a poison row never stalls its partition.
import { isTcpHit, packContext, timeToMs, type Event, type TcpHitEvent } from '@probefleet/events';
import type { Pool, PoolClient } from 'pg';
import type { KafkaRecord } from '../consumer/kafka-record';
import { BATCH_SPAN } from './batch-ids';
import { copyLine, copyLines } from './copy';
import { BinaryRows, copyBinary, inetBytes } from './copy-binary';
import { ownersFor, type OwnerIds } from './owners';
import { SourceDictionary, sourcesFor, type SourceIds } from './sources';
import { insertDeadLetters, type DeadLetter } from './dead-letters';
import { decodeRecords, type Positioned } from './decode';
import { Partitions, type PartitionedTable, type RetentionPolicy } from './partitions';
import { inTransaction, PROJECTION_LOCK } from './pg';
import { micros } from './sql-time';
import { KEPT_TYPES } from './kept';
import { project, type ModelViolation } from './project';
import type { Db } from './prisma';

export interface IngestResult {
  stored: number;
  duplicates: number;
  deadLetters: number;
  /** Dead letters by kind. */
  deadLetterKinds: Record<string, number>;
  violations: ModelViolation[];
  /** The newest event time of the batch (ms since the epoch; 0 when none). */
  newestMs: number;
}

export interface IngestOptions {
  policy: RetentionPolicy;
  /** Messages larger than this are dead-lettered unread (kind oversize). */
  maxMessageBytes: number;
  /** The store's clock (retention horizon, ingest lag); injected by tests. */
  now: () => number;
}

export const DEFAULT_INGEST_OPTIONS: IngestOptions = {
  policy: { days: { tcp_transitions: 14, events: 14, tcp_connections: 14, tcp_rollups: 400 } },
  maxMessageBytes: 1 << 20,
  now: () => Date.now(),
};

const partitionsOf = new WeakMap<Pool, Partitions>();

export function partitionsFor(pool: Pool): Partitions {
  let p = partitionsOf.get(pool);
  if (!p) partitionsOf.set(pool, (p = new Partitions(pool)));
  return p;
}

/** `ingest(db, records)`: the store's one write path (the consumer, tests and benchmarks alike). */
export async function ingest(db: Db | Pool, records: readonly KafkaRecord[], options: IngestOptions = DEFAULT_INGEST_OPTIONS): Promise<IngestResult> {
  const pool = 'pool' in db ? db.pool : db;
  const decoded = decodeRecords(records, options);
  await partitionsFor(pool).ensure(partitionsNeeded(decoded.events.map((p) => p.event)));
  return storeOrSplit(pool, records, decoded, options);
}

async function storeOrSplit(pool: Pool, records: readonly KafkaRecord[], decoded: ReturnType<typeof decodeRecords>, options: IngestOptions): Promise<IngestResult> {
  // Before the transaction, in statements of their own (owners.ts, sources.ts); a split batch's halves hit the caches.
  const events = decoded.events.map((p) => p.event);
  const owners = await ownersFor(pool).resolve(pool, events);
  const sources = await sourcesFor(pool).resolve(pool, events);
  try {
    return await inTransaction(pool, (client) => store(client, decoded.events, decoded.deadLetters, owners, sources));
  } catch (err) {
    if (!isRowRefusal(err)) throw err;
    if (records.length === 1) {
      const deadLetters: DeadLetter[] = [{ record: records[0]!, kind: 'rejected', reason: `the store refused it: ${(err as Error).message}` }];
      return inTransaction(pool, (client) => store(client, [], deadLetters, owners, sources));
    }
    const half = Math.ceil(records.length / 2);
    const parts = [records.slice(0, half), records.slice(half)];
    const results: IngestResult[] = [];
    for (const part of parts) results.push(await storeOrSplit(pool, part, decodeRecords(part, options), options));
    return results.reduce((a, b) => ({
      stored: a.stored + b.stored, duplicates: a.duplicates + b.duplicates, deadLetters: a.deadLetters + b.deadLetters,
      deadLetterKinds: Object.fromEntries([...new Set([...Object.keys(a.deadLetterKinds), ...Object.keys(b.deadLetterKinds)])]
        .map((k) => [k, (a.deadLetterKinds[k] ?? 0) + (b.deadLetterKinds[k] ?? 0)])),
      violations: [...a.violations, ...b.violations], newestMs: Math.max(a.newestMs, b.newestMs),
    }));
  }
}

/** A row PostgreSQL refused (data exception, integrity, a limit): the batch's fault, not the server's. */
function isRowRefusal(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return /^(22|23|54)/.test(code);
}

async function store(client: PoolClient, events: readonly Positioned[], deadLetters: readonly DeadLetter[], owners: OwnerIds, sources: SourceIds): Promise<IngestResult> {
  await client.query('SELECT pg_advisory_xact_lock_shared($1)', [PROJECTION_LOCK]);
  await insertDeadLetters(client, deadLetters);
  const result = await append(client, events.map((p) => p.event), Date.now(), owners, sources);
  const deadLetterKinds: Record<string, number> = {};
  for (const d of deadLetters) deadLetterKinds[d.kind] = (deadLetterKinds[d.kind] ?? 0) + 1;
  let newestMs = 0;
  for (const { event } of events) newestMs = Math.max(newestMs, timeToMs(event.time));
  return { ...result, deadLetters: deadLetters.length, deadLetterKinds, newestMs };
}

/**
 * Appends the events the store does not hold yet and projects them; `nowMs` is their arrival (lag),
 * `owners` and `sources` their hits' owner and source ids (OwnerDictionary / SourceDictionary.resolve;
 * sources left out are resolved here, in the caller's transaction and uncached).
 */
export async function append(client: PoolClient, events: readonly Event[], nowMs: number, owners: OwnerIds = new Map(), sources?: SourceIds): Promise<Pick<IngestResult, 'stored' | 'duplicates' | 'violations'>> {
  if (events.length === 0) return { stored: 0, duplicates: 0, violations: [] };
  const ids = sources ?? (await new SourceDictionary().resolve(client, events));
  const outcome = await project(client, events, {
    owners,
    write: async (fresh, tcp) => {
      const numbers = await numberBatch(client, fresh);
      const rows = new BinaryRows();
      try {
        tcp.hits.forEach((h, i) => transitionRow(rows, numbers.get(h)!, h, tcp.msInOldState[i]!, owners, ids));
      } catch (err) {
        // A value out of its column's range is the row's fault, as PostgreSQL's refusal of its text
        // would be (SQLSTATE 22000): the batch is split until the row is alone.
        if (!(err instanceof RangeError)) throw err;
        throw Object.assign(new Error(`a row cannot be encoded: ${(err as Error).message}`), { code: '22000' });
      }
      await copyBinary(client, 'tcp_transitions', TRANSITION_COLUMNS, rows);
      await copyLines(client, 'events', EVENT_COLUMNS, fresh.filter((e) => !tcp.isTcp.has(e)).map((e) => eventLine(numbers.get(e)!, e)));
      await recordLag(client, fresh, nowMs);
    },
  });
  return { stored: outcome.stored, duplicates: events.length - outcome.stored, violations: outcome.violations };
}

/**
 * The COPY rows the store writes for these events (ids from `base`, no time in the old state):
 * what bench/ingest copies raw into the same tables to compare with.
 */
export function copyRows(events: readonly Event[], base: number, owners: OwnerIds, sources: SourceIds): { transitions: { columns: string[]; binary: Buffer[] }; events: { columns: string[]; lines: string[] } } {
  const transitions = new BinaryRows();
  const generic: string[] = [];
  events.forEach((e, i) => {
    if (e.type === 'probe.hit' && isTcpHit(e)) transitionRow(transitions, base + i, e, null, owners, sources);
    else generic.push(eventLine(base + i, e));
  });
  return { transitions: { columns: TRANSITION_COLUMNS, binary: transitions.end() }, events: { columns: EVENT_COLUMNS, lines: generic } };
}

/** What a batch's events need to exist before it is stored: each row's partition. */
export function partitionsNeeded(events: readonly Event[]): [PartitionedTable, number][] {
  const wanted = new Map<string, [PartitionedTable, number]>();
  // Keyed by the UTC day in the time's text (the parse only once per table and day); a batch's events
  // nearly all share one day, compared in place before any key is built.
  const last: Partial<Record<PartitionedTable, string>> = {};
  const add = (t: PartitionedTable, time: string) => {
    const day = last[t];
    if (day !== undefined && time.startsWith(day)) return;
    const k = `${t}|${(last[t] = time.slice(0, 10))}`;
    if (!wanted.has(k)) wanted.set(k, [t, timeToMs(time)]);
  };
  for (const e of events) {
    if (e.type === 'probe.hit' && isTcpHit(e)) {
      add('tcp_transitions', e.time);
      add('tcp_rollups', e.time);
      if (e.data.args.newstate === 'TCP_CLOSE') add('tcp_connections', e.time);
    } else if (!KEPT_TYPES.has(e.type)) add('events', e.time);
  }
  return [...wanted.values()];
}

/** Numbers the batch (one sequence call) and records it; each event's id in batch order. */
async function numberBatch(client: PoolClient, fresh: readonly Event[]): Promise<Map<Event, number>> {
  if (fresh.length >= BATCH_SPAN) throw new Error(`a batch of ${fresh.length} events is over the ${BATCH_SPAN} a batch number spans`);
  let min = fresh[0]!.time;
  let max = min;
  for (const e of fresh) {
    if (e.time < min) min = e.time;
    if (e.time > max) max = e.time;
  }
  const { rows } = await client.query(
    // The live streams LISTEN for batch numbers: the notice goes out when this transaction commits.
    `WITH n AS (SELECT nextval('store_batch_seq') AS id),
          b AS (INSERT INTO store_batches (id, rows, min_time, max_time) SELECT id, $1, $2, $3 FROM n RETURNING id)
     SELECT id::text, pg_notify('probefleet_batches', id::text) FROM b`,
    [fresh.length, micros(min), micros(max)]);
  const base = Number(rows[0].id) * BATCH_SPAN;
  if (!Number.isSafeInteger(base + BATCH_SPAN)) throw new Error(`batch number ${rows[0].id} is past what ids can number`);
  return new Map(fresh.map((e, i) => [e, base + i]));
}

const TRANSITION_COLUMNS = ['id', 'host', 'source_id', 'seq', 'time', 'time_ns', 'mono_ns', 'cpu', 'pid', 'comm', 'ctx', 'skaddr', 'family',
  'saddr', 'daddr', 'sport', 'dport', 'old_state', 'new_state', 'ms_in_old_state', 'owner_id', 'attribution', 'tx_bytes', 'rx_bytes', 'retrans', 'srtt_us'];

/** The nanoseconds past the microsecond, stored beside it. */
const nanos = (time: string) => Number(time.slice(26, 29));

// One row per stored TCP hit, in binary (copy-binary.ts), in TRANSITION_COLUMNS order.
function transitionRow(rows: BinaryRows, id: number, h: TcpHitEvent, msInOldState: number | null, owners: OwnerIds, sources: SourceIds): void {
  const d = h.data;
  const ownerId = d.owner === undefined ? null : owners.get(d.owner);
  if (ownerId === undefined) throw new Error(`the owner of ${h.host} seq ${h.seq} was not resolved`);
  const l = d.life;
  const a = d.args;
  const ctx = packContext(d.ctx);
  rows.row(TRANSITION_COLUMNS.length);
  rows.int8(id);
  rows.text(h.host);
  rows.int4(sources.of(h));
  rows.int8(h.seq);
  rows.time(h.time);
  rows.int2(nanos(h.time));
  if (h.monoNs === undefined) rows.null();
  else rows.int8Text(h.monoNs);
  rows.int2(d.cpu);
  rows.int4(d.pid);
  rows.text(d.comm);
  if (ctx === null) rows.null();
  else rows.int2(ctx);
  skaddrInt8(rows, a.skaddr);
  rows.text(a.family);
  rows.raw(inetBytes(a.family, a.saddr));
  rows.raw(inetBytes(a.family, a.daddr));
  rows.int4(a.sport);
  rows.int4(a.dport);
  rows.text(a.oldstate);
  rows.text(a.newstate);
  if (msInOldState === null) rows.null();
  else rows.float8(msInOldState);
  if (ownerId === null) rows.null();
  else rows.int4(ownerId);
  if (d.attribution === undefined) rows.null();
  else rows.text(d.attribution);
  if (l === undefined) {
    rows.null(); rows.null(); rows.null(); rows.null();
  } else {
    rows.int8(l.txBytes); rows.int8(l.rxBytes); rows.int8(l.retrans); rows.int4(l.srttUs);
  }
}

/** The kernel pointer ("0x…", up to 16 hex digits, checked by isTcpHit) as int8: its 64 bits, two's complement. */
function skaddrInt8(rows: BinaryRows, hex: string): void {
  const n = hex.length - 2;
  if (n <= 8) rows.int8Words(0, parseInt(hex.slice(2), 16));
  else rows.int8Words(parseInt(hex.slice(2, hex.length - 8), 16), parseInt(hex.slice(hex.length - 8), 16));
}

const EVENT_COLUMNS = ['id', 'host', 'instance', 'seq', 'kept', 'time', 'time_ns', 'mono_ns', 'type', 'data'];

function eventLine(id: number, e: Event): string {
  return copyLine([id, e.host, e.instance, e.seq, KEPT_TYPES.has(e.type), micros(e.time), nanos(e.time), e.monoNs ?? null, e.type, JSON.stringify(e.data)]);
}

/** Per host and minute of arrival: how many events came, and how late (for Grafana's lag panel). */
async function recordLag(client: PoolClient, events: readonly Event[], nowMs: number): Promise<void> {
  const minute = new Date(nowMs - (nowMs % 60000)).toISOString();
  const byHost = new Map<string, { n: number; sum: number; max: number }>();
  for (const e of events) {
    const lag = nowMs - timeToMs(e.time);
    const h = byHost.get(e.host) ?? { n: 0, sum: 0, max: -Infinity };
    h.n++;
    h.sum += lag;
    if (lag > h.max) h.max = lag;
    byHost.set(e.host, h);
  }
  const rows = [...byHost].sort(([a], [b]) => (a < b ? -1 : 1)).map(([host, h]) => [minute, host, h.n, h.sum, h.max]);
  if (rows.length === 0) return;
  await client.query(
    `INSERT INTO ingest_lag AS l (minute, host, events, sum_ms, max_ms)
     SELECT (r->>0)::timestamptz, r->>1, (r->>2)::bigint, (r->>3)::float8, (r->>4)::float8 FROM jsonb_array_elements($1::jsonb) r
     ON CONFLICT (host, minute) DO UPDATE SET events = l.events + excluded.events, sum_ms = l.sum_ms + excluded.sum_ms,
       max_ms = greatest(l.max_ms, excluded.max_ms)`, [JSON.stringify(rows)]);
}
