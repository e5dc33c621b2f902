// The SSE streams against the real PostgreSQL: rows stored by another aggregator instance, resume
// with Last-Event-ID over 10k rows, a slow client cut off with bounded memory, the bearer token.
import { ApiClient, follow, type StreamEvent } from '@probefleet/api-client';
import { connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Event, TcpArgs } from '@probefleet/events';
import { startLiveAggregator, type LiveAggregator } from './live-app';
import { createMigratedDatabase, type TempDatabase } from './temp-database';
import { append } from '../src/store/ingest';
import { PROJECTION_LOCK } from '../src/store/pg';
import { ingest, TEST_NOW } from './test-ingest';
import { record, testStream, type TestStream } from './streams';

let db: TempDatabase;
let a: LiveAggregator;
let b: LiveAggregator;
let offset = 0;

beforeAll(async () => {
  db = await createMigratedDatabase('live_stream');
  a = await startLiveAggregator(db.url);
  b = await startLiveAggregator(db.url);
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await db?.drop();
});

/** Sockets of one stream, each CLOSE -> SYN_SENT -> ESTABLISHED -> CLOSE: three transitions apiece. */
function sockets(s: TestStream, n: number, first = 0): Event[] {
  const events: Event[] = [];
  for (let i = first; i < first + n; i++) {
    const ends = { skaddr: `0xffff8881${i.toString(16).padStart(8, '0')}`, sport: 30000 + (i % 30000), dport: 443 };
    const states: TcpArgs['oldstate'][] = ['TCP_CLOSE', 'TCP_SYN_SENT', 'TCP_ESTABLISHED', 'TCP_CLOSE'];
    for (let k = 0; k < 3; k++) events.push(s.tcp({ ...ends, oldstate: states[k]!, newstate: states[k + 1]! }));
  }
  return events;
}

/** Stores events through aggregator B's store, in batches as its consumer would. */
async function storeViaB(events: Event[], batch = 1000): Promise<void> {
  for (let i = 0; i < events.length; i += batch) await ingest(b.db as never, [record(events.slice(i, i + batch), 0, offset++)]);
}

async function take(it: AsyncGenerator<StreamEvent>, n: number, kind: string): Promise<StreamEvent[]> {
  const got: StreamEvent[] = [];
  for await (const e of it) {
    if (e.event === kind) got.push(e);
    if (got.length === n) break;
  }
  return got;
}

test('a stream on aggregator A delivers the transitions and the closed lifetimes aggregator B stored, in store order', async () => {
  const s = testStream('live-b');
  const client = new ApiClient({ url: a.url });
  const lastEventId = await lastId();
  const stop = new AbortController();
  const tStream = follow(client, 'api/v1/transitions/stream', {}, { lastEventId, signal: stop.signal });
  const cStream = follow(client, 'api/v1/connections/stream', {}, { lastEventId, signal: stop.signal });
  const reading = Promise.all([take(tStream, 15, 'transition'), take(cStream, 5, 'connection')]);
  await storeViaB(sockets(s, 5));
  const [transitions, connections] = await reading;
  stop.abort();
  const items = transitions.map((e) => JSON.parse(e.data));
  expect(items.map((t) => [t.host, Number(t.seq)])).toEqual(Array.from({ length: 15 }, (_, i) => ['live-b', i + 1]));
  const ids = transitions.map((e) => BigInt(e.id!));
  expect(ids).toEqual([...ids].sort((x, y) => (x < y ? -1 : 1)));
  const lifetimes = connections.map((e) => JSON.parse(e.data));
  expect(lifetimes.map((c) => [c.host, c.sport, c.lastState, c.states.map((v: { state: string }) => v.state)])).toEqual(
    Array.from({ length: 5 }, (_, i) => ['live-b', 30000 + i, 'TCP_CLOSE', ['TCP_CLOSE', 'TCP_SYN_SENT', 'TCP_ESTABLISHED', 'TCP_CLOSE']]));
  // A lifetime's event id is its closing transition's: the same store order as the transitions stream.
  expect(connections.map((e) => e.id)).toEqual(transitions.filter((_, i) => i % 3 === 2).map((e) => e.id));
});

test('a batch numbered earlier but committed later is not skipped: the stream waits for it, then sends both in store order', async () => {
  const early = testStream('live-early');
  // Two hours later: the batches share no rollup row (the fleet rollups lock theirs, which would order the commits).
  const late = testStream('live-late', undefined, 2 * 3600_000);
  const lastEventId = await lastId();
  const stop = new AbortController();
  const stream = follow(new ApiClient({ url: a.url }), 'api/v1/transitions/stream', {}, { lastEventId, signal: stop.signal });
  const reading = take(stream, 6, 'transition');
  // Batch N: numbered inside a transaction that stays open, as a slow ingest on another aggregator would.
  const client = await b.db.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock_shared($1)', [PROJECTION_LOCK]);
    await append(client, sockets(early, 1), TEST_NOW);
    // Batch N + 1 commits first.
    await storeViaB(sockets(late, 1));
    const committedFirst = await a.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM tcp_transitions WHERE host = 'live-late'`);
    expect(committedFirst.rows[0]!.n).toBe(3);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  const got = (await reading).map((e) => ({ id: BigInt(e.id!), host: JSON.parse(e.data).host as string }));
  stop.abort();
  expect(got.map((g) => g.host)).toEqual(['live-early', 'live-early', 'live-early', 'live-late', 'live-late', 'live-late']);
  expect(got.map((g) => g.id)).toEqual([...got.map((g) => g.id)].sort((x, y) => (x < y ? -1 : 1)));
});

test('reconnecting with Last-Event-ID misses nothing and repeats nothing across 10k rows', async () => {
  const s = testStream('live-resume');
  const client = new ApiClient({ url: a.url });
  // Start after everything stored so far: the first test's rows are not this test's.
  const start = await lastId();
  const producing = storeViaB(sockets(s, 3334).slice(0, 10_000), 500);
  const seen: StreamEvent[] = [];
  let lastEventId = start;
  let reconnects = 0;
  while (seen.length < 10_000) {
    const stop = new AbortController();
    const it = follow(client, 'api/v1/transitions/stream', { host: 'live-resume' }, { lastEventId, signal: stop.signal, reconnect: false });
    // Each connection takes a different share, then drops mid-stream.
    const share = 700 + reconnects * 311;
    for await (const e of it) {
      if (e.event !== 'transition') continue;
      seen.push(e);
      lastEventId = e.id!;
      if (seen.length % share === 0 || seen.length === 10_000) break;
    }
    stop.abort();
    reconnects++;
  }
  await producing;
  const seqs = seen.map((e) => Number(JSON.parse(e.data).seq));
  expect(seqs).toEqual(Array.from({ length: 10_000 }, (_, i) => i + 1));
  expect(new Set(seen.map((e) => e.id)).size).toBe(10_000);
  expect(reconnects).toBeGreaterThan(5);
});

test('a client far behind catches up window by window, over batch numbers never stored, missing nothing in either stream', async () => {
  const narrow = await startLiveAggregator(db.url, { live: { windowBatches: 2, pageRows: 40 } });
  try {
    const s = testStream('live-window');
    // Twelve batches of 30 transitions (10 lifetimes), with 5,000 batch numbers never used in between.
    await storeViaB(sockets(s, 60), 30);
    await b.db.pool.query(`SELECT setval('store_batch_seq', nextval('store_batch_seq') + 5000)`);
    await storeViaB(sockets(s, 60, 60), 30);
    const client = new ApiClient({ url: narrow.url });
    const stop = new AbortController();
    // From the beginning of the store: every earlier test's batches are windows with nothing for this host.
    const [transitions, connections] = await Promise.all([
      take(follow(client, 'api/v1/transitions/stream', { host: 'live-window' }, { lastEventId: '0', signal: stop.signal }), 360, 'transition'),
      take(follow(client, 'api/v1/connections/stream', { host: 'live-window' }, { lastEventId: '0', signal: stop.signal }), 120, 'connection'),
    ]);
    stop.abort();
    expect(transitions.map((e) => Number(JSON.parse(e.data).seq))).toEqual(Array.from({ length: 360 }, (_, i) => i + 1));
    expect(connections.map((e) => JSON.parse(e.data).sport)).toEqual(Array.from({ length: 120 }, (_, i) => 30000 + i));
    expect(connections.map((e) => e.id)).toEqual(transitions.filter((_, i) => i % 3 === 2).map((e) => e.id));
  } finally {
    await narrow.close();
  }
});

// The heap is measured after a full collection: what is live, not the garbage of reading 12k rows
// (without it the delta crossed 32 MB on Node 24 with nothing held).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const liveHeap = (): number => (gc(), process.memoryUsage().heapUsed);

test('a client that stops reading is cut off with a final event saying why, and the buffer it held stays bounded', async () => {
  const highWaterBytes = 64 * 1024;
  const slow = await startLiveAggregator(db.url, { live: { highWaterBytes, drainTimeoutMs: 500, graceMs: 5000, pageRows: 200 } });
  try {
    // 12k rows of its own, about 5 MB of events: far more than the socket buffers hold.
    await storeViaB(sockets(testStream('live-slow'), 4000));
    const heapBefore = liveHeap();
    const { port } = new URL(slow.url);
    const socket = connect(Number(port), '127.0.0.1');
    socket.write(`GET /api/v1/transitions/stream HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 0\r\nAccept: text/event-stream\r\n\r\n`);
    socket.pause();
    await waitFor(() => slow.streams.cutoffs === 1);
    const heapAtCutoff = liveHeap();
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => { text = (text + d).slice(-4096); });
    socket.resume();
    await new Promise((r) => socket.once('close', r));
    expect(text).toMatch(/event: cutoff\ndata: \{"reason":"client too slow: \d+ bytes unsent after 500 ms; resume with Last-Event-ID \d+"/);
    // What the aggregator held for the client: at most the high-water mark and one page of 200 rows (< 600 B each).
    expect(slow.streams.maxBufferedBytes).toBeLessThan(highWaterBytes + 200 * 600);
    expect(heapAtCutoff - heapBefore).toBeLessThan(32 * 1024 * 1024);
  } finally {
    await slow.close();
  }
});

test('with API tokens set, a stream without the bearer token is a 401, with it a stream', async () => {
  const guarded = await startLiveAggregator(db.url, { apiTokens: 'sekret' });
  try {
    for (const path of ['/api/v1/transitions/stream', '/api/v1/connections/stream']) {
      const none = await fetch(`${guarded.url}${path}`);
      expect(none.status).toBe(401);
      const stop = new AbortController();
      const ok = await fetch(`${guarded.url}${path}`, { headers: { authorization: 'Bearer sekret' }, signal: stop.signal });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toMatch(/^text\/event-stream/);
      stop.abort();
    }
    const bad = await fetch(`${guarded.url}/api/v1/transitions/stream?port=x`, { headers: { authorization: 'Bearer sekret' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/^port: /);
  } finally {
    await guarded.close();
  }
});

test('an idle stream sends heartbeat comments; a Last-Event-ID that is not an event id is a 400 naming it', async () => {
  const beating = await startLiveAggregator(db.url, { live: { heartbeatMs: 100 } });
  try {
    const stop = new AbortController();
    const res = await fetch(`${beating.url}/api/v1/connections/stream?host=nobody`, { signal: stop.signal });
    let text = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
      if ((text.match(/^: heartbeat$/gm) ?? []).length >= 2) break;
    }
    stop.abort();
    expect(text).toMatch(/^: probefleet connection stream\nretry: 1000\n\n(: heartbeat\n\n){2}/);
    const bad = await fetch(`${beating.url}/api/v1/transitions/stream`, { headers: { 'last-event-id': 'yesterday' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toBe('Last-Event-ID: expected the id of an event of this stream');
  } finally {
    await beating.close();
  }
});

async function lastId(): Promise<string> {
  const { rows } = await a.db.pool.query<{ id: string }>(`SELECT coalesce(max(id), 0)::text AS id FROM tcp_transitions`);
  return rows[0]!.id;
}

async function waitFor(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 20));
}
