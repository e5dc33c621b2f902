// The aggregator service against the real local Kafka and PostgreSQL: consumer group → store →
// projections, with redeliveries, poison messages, gaps, and PostgreSQL going away mid-stream. The
// file's database is on a PostgreSQL cluster of its own (private-postgres.ts), which one test
// restarts: never the machine's shared cluster.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Kafka, logLevel, Producer } from 'kafkajs';
import { batchHeaders, encodeBatch, type Event } from '@probefleet/events';
import { loadConfig } from '../src/config';
import { startServer } from '../src/server';
import { createPrisma, type Db } from '../src/store/prisma';
import { createMigratedDatabase, type TempDatabase } from './temp-database';
import { startPgProxy, type PgProxy } from './pg-proxy';
import { startPrivatePostgres, type PrivatePostgres } from './private-postgres';
import { testStream } from './streams';

const brokers = (process.env.KAFKA_BROKERS || `127.0.0.1:${process.env.KAFKA_PORT || 9092}`).split(',');
const kafka = new Kafka({ clientId: 'consumer-spec', brokers, logLevel: logLevel.NOTHING, connectionTimeout: 3000 });

/** Polls until `done`; a probe that throws (e.g. while PostgreSQL restarts) counts as not yet. */
async function until<T>(what: string, probe: () => Promise<T>, done: (v: T) => boolean, ms = 60000, everyMs = 200): Promise<T> {
  const end = Date.now() + ms;
  let last: T | Error = new Error('not probed yet');
  for (;;) {
    last = await probe().catch((e: Error) => e);
    if (!(last instanceof Error) && done(last)) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

describe('aggregator service (real Kafka, real PostgreSQL)', () => {
  const topic = `probefleet.test.${randomUUID()}`;
  let pg: PrivatePostgres;
  let tmp: TempDatabase;
  let proxy: PgProxy;
  let db: Db;
  let app: INestApplication;
  let producer: Producer;
  const groupId = `consumer-spec-${randomUUID()}`;
  const committed = async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      return (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]!.partitions.map((p) => `${p.partition}:${p.offset}`).sort();
    } finally {
      await admin.disconnect();
    }
  };

  const send = (events: Event[] | string, key = 'k') =>
    producer.send({
      topic, acks: -1,
      messages: [typeof events === 'string'
        ? { key, value: events }
        : { key: events[0]!.host, value: encodeBatch(events), headers: { ...batchHeaders(events) } as Record<string, string> }],
    });

  beforeAll(async () => {
    pg = await startPrivatePostgres();
    tmp = await createMigratedDatabase('probefleet_consumer', pg.url());
    const url = new URL(tmp.url);
    proxy = await startPgProxy({ host: url.hostname, port: Number(url.port || 5432) });
    url.port = String(proxy.port);
    db = createPrisma(tmp.url);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    await admin.disconnect();
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    app = await startServer(loadConfig({
      DATABASE_URL: url.toString(), KAFKA_BROKERS: brokers.join(','), KAFKA_TOPIC: topic,
      KAFKA_GROUP_ID: groupId, PORT: '0', LOG_LEVEL: 'error',
    }));
  });

  afterAll(async () => {
    await app?.close();
    await producer?.disconnect();
    await db?.$disconnect();
    await proxy?.close();
    await tmp?.drop();
    pg?.remove();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('stores every event once across redeliveries, hosts and partitions; dead-letters the poison', async () => {
    const hosts = ['alpha', 'beta', 'gamma'].map((h) => testStream(h));
    const events = hosts.map((s) => Array.from({ length: 20 }, (_, i) => s.event('agent.heartbeat', { counters: { i } })));
    for (const evs of events) {
      await send(evs.slice(0, 10));
      await send(evs.slice(5, 15)); // a redelivery overlapping the first batch
      await send(evs.slice(15, 20));
    }
    await send('this is not an event batch');
    await send(JSON.stringify([{ ...testStream('stranger').event('agent.heartbeat', { counters: {} }), v: 9 }]));

    await until('60 stored events', () => db.event.count(), (n) => n === 60);
    const letters = await until('2 dead letters', () => db.deadLetter.findMany({ orderBy: { offset: 'asc' } }), (l) => l.length === 2);
    expect(letters.map((l) => l.kind).sort()).toEqual(['malformed', 'unknown-version']);
    expect(letters.every((l) => l.topic === topic && l.reason.length > 0)).toBe(true);
    expect(await db.streamGap.count()).toBe(0);
    const res = await fetch(`${await app.getUrl()}/readyz`);
    expect(res.status).toBe(200);
  });

  it('waits while PostgreSQL is away, commits nothing, and loses nothing when it returns', async () => {
    const s = testStream('delta');
    const events = Array.from({ length: 30 }, (_, i) => s.event('agent.heartbeat', { counters: { i } }));
    await send(events.slice(0, 10));
    await until('the first 10 events of delta', () => db.event.count({ where: { host: 'delta' } }), (n) => n === 10);

    const before = await committed();
    proxy.cut();
    await send(events.slice(10, 20));
    await send(events.slice(25, 30)); // leaves 21..25 missing: a gap
    await new Promise((r) => setTimeout(r, 3000));
    expect(await committed()).toEqual(before);
    const metrics = await (await fetch(`${await app.getUrl()}/metrics`)).text();
    expect(Number(/probefleet_ingest_failures_total (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0);

    proxy.restore();
    await until('delta events after the outage', () => db.event.count({ where: { host: 'delta' } }), (n) => n === 25);
    const gaps = await db.streamGap.findMany({ where: { host: 'delta' } });
    expect(gaps).toMatchObject([{ fromSeq: 21n, toSeq: 25n, missing: 5n, closedAt: null }]);

    await send(events.slice(20, 25));
    await until('the gap to close', () => db.streamGap.findFirst({ where: { host: 'delta' } }), (g) => g?.closedAt != null);
    expect(await db.event.count({ where: { host: 'delta' } })).toBe(30);
  });

  it('loses nothing and stores nothing twice when the aggregator is killed with -9 mid-stream', async () => {
    const topic2 = `${topic}.kill`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: topic2, numPartitions: 3 }], waitForLeaders: true });
    await admin.disconnect();
    // Enough that the aggregator is still busy when it is killed (it stores ~10k events/s here).
    const hosts = Array.from({ length: 8 }, (_, i) => testStream(`kill-${i}`));
    const perHost = 12500;
    for (const s of hosts) {
      const events = Array.from({ length: perHost }, (_, i) => s.event('agent.heartbeat', { counters: { i } }));
      for (let i = 0; i < perHost; i += 500) {
        const batch = events.slice(i, i + 500);
        await producer.send({ topic: topic2, acks: -1, messages: [{ key: s.host, value: encodeBatch(batch) }] });
      }
    }
    const serve = (): ChildProcess =>
      spawn(process.execPath, [join(__dirname, '../dist/cli.js'), 'serve'], {
        env: { ...process.env, DATABASE_URL: tmp.url, KAFKA_BROKERS: brokers.join(','), KAFKA_TOPIC: topic2, KAFKA_GROUP_ID: `kill-${topic2}`, KAFKA_SESSION_TIMEOUT_MS: '6000', PORT: '0', LOG_LEVEL: 'error' },
        stdio: 'ignore',
      });
    const count = () => db.event.count({ where: { host: { startsWith: 'kill-' } } });
    const first = serve();
    await until('the first events of the killed run', count, (n) => n > 0, 60000, 20);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const stored = await count();
    expect(stored).toBeLessThan(hosts.length * perHost);

    const second = serve();
    try {
      await until('every event after the restart', count, (n) => n === hosts.length * perHost, 180000);
      const streams = await db.stream.findMany({ where: { host: { startsWith: 'kill-' } } });
      expect(streams.map((s) => [s.contiguousTo, s.maxSeq, s.events])).toEqual(hosts.map(() => [BigInt(perHost), BigInt(perHost), BigInt(perHost)]));
      expect(await db.agent.findMany({ where: { host: { startsWith: 'kill-' } }, select: { events: true } })).toEqual(hosts.map(() => ({ events: BigInt(perHost) })));
    } finally {
      second.kill('SIGTERM');
      await new Promise((r) => second.once('exit', r));
    }
  });

  it('pauses while PostgreSQL restarts under load, then stores everything', async () => {
    const s = testStream('epsilon');
    const events = Array.from({ length: 3000 }, (_, i) => s.event('agent.heartbeat', { counters: { i } }));
    const batches = Array.from({ length: 30 }, (_, i) => events.slice(i * 100, (i + 1) * 100));
    const count = () => db.event.count({ where: { host: 'epsilon' } });
    for (const b of batches.slice(0, 10)) await send(b);
    await until('the first epsilon events', count, (n) => n > 0);

    // The real server (the file's own cluster) goes down and comes back while the rest of the
    // stream is being published.
    const restart = pg.restart();
    for (const b of batches.slice(10)) await send(b);
    await restart;

    await until('every epsilon event after the restart', count, (n) => n === 3000, 120000);
    expect(await db.stream.findUnique({ where: { instance: s.instance } })).toMatchObject({ contiguousTo: 3000n, maxSeq: 3000n, events: 3000n });
    expect(await db.streamGap.count({ where: { host: 'epsilon' } })).toBe(0);
  });
});
