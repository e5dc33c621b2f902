// Proof that the local stack is real: Apache Kafka 4.x speaks to kafkajs (idempotent producer,
// consumer group with commits and restart from the committed offset) and PostgreSQL round-trips.
import { randomUUID } from 'node:crypto';
import { Consumer, EachMessagePayload } from 'kafkajs';
import { Client } from 'pg';
import { checkKafka, checkPostgres, databaseUrl, kafkaClient } from '../support/stack';

const PARTITIONS = 4;
const HOSTS = ['host-a', 'host-b', 'host-c', 'host-d', 'host-e'];
const PER_HOST = 40;

interface Seen { key: string; seq: number; partition: number; offset: string }

describe('local Kafka broker with kafkajs', () => {
  const kafka = kafkaClient('probefleet-stack-test');
  const topic = `probefleet.test.${randomUUID()}`;
  const groupId = `probefleet-test-${randomUUID()}`;
  const admin = kafka.admin();
  let consumer: Consumer | undefined;

  beforeAll(async () => {
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });
  });

  afterAll(async () => {
    await consumer?.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  /** Consumes until `count` messages arrived; resolves with them and the consumer's assignment. */
  async function consume(count: number): Promise<Seen[]> {
    consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 1000, maxWaitTimeInMs: 200 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const seen: Seen[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${seen.length}/${count} messages within 60 s`)), 60000);
      consumer!
        .run({
          autoCommit: false,
          eachMessage: async ({ partition, message }: EachMessagePayload) => {
            seen.push({ key: message.key!.toString(), seq: Number(message.value!.toString()), partition, offset: message.offset });
            await consumer!.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
            if (seen.length === count) { clearTimeout(timer); resolve(); }
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
    consumer = undefined;
    return seen;
  }

  async function produce(fromSeq: number, toSeq: number): Promise<void> {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      for (const host of HOSTS) {
        const messages = [];
        for (let seq = fromSeq; seq <= toSeq; seq++) messages.push({ key: host, value: String(seq) });
        await producer.send({ topic, acks: -1, messages });
      }
    } finally {
      await producer.disconnect();
    }
  }

  it('keeps each key ordered on one partition, commits offsets, and restarts from the committed offset', async () => {
    await produce(1, PER_HOST);
    const first = await consume(HOSTS.length * PER_HOST);

    // Per key: one partition, every seq once, in order.
    for (const host of HOSTS) {
      const mine = first.filter((m) => m.key === host);
      expect(mine.map((m) => m.seq)).toEqual(Array.from({ length: PER_HOST }, (_, i) => i + 1));
      expect(new Set(mine.map((m) => m.partition)).size).toBe(1);
    }
    // The keys spread over more than one partition: the group really had several to assign.
    expect(new Set(first.map((m) => m.partition)).size).toBeGreaterThan(1);

    // The group's committed offset of every partition is its end: everything read was committed
    // (a partition that no key hashed to has no commit, which Kafka reports as -1, and is empty).
    const committed = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]!.partitions;
    const ends = await admin.fetchTopicOffsets(topic);
    for (const end of ends) {
      const offset = committed.find((c) => c.partition === end.partition)!.offset;
      expect(offset === '-1' ? end.high === '0' : offset === end.high).toBe(true);
    }

    // A restarted member of the same group resumes after the committed offsets: only new messages.
    await produce(PER_HOST + 1, PER_HOST + 5);
    const second = await consume(HOSTS.length * 5);
    expect(second.every((m) => m.seq > PER_HOST)).toBe(true);
    for (const host of HOSTS) {
      expect(second.filter((m) => m.key === host).map((m) => m.seq)).toEqual([41, 42, 43, 44, 45]);
    }
  });

  it('names the broker and fails within seconds when nothing answers there', async () => {
    const started = Date.now();
    await expect(checkKafka(['127.0.0.1:1'])).rejects.toThrow(/Kafka is not reachable at 127\.0\.0\.1:1/);
    expect(Date.now() - started).toBeLessThan(30000);
  });
});

describe('local PostgreSQL', () => {
  it('round-trips rows, including jsonb and nanosecond timestamps as text', async () => {
    const client = new Client({ connectionString: databaseUrl(), connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      await client.query('CREATE TEMP TABLE stack_check (id bigserial PRIMARY KEY, host text NOT NULL, data jsonb NOT NULL)');
      const rows = HOSTS.map((host, i) => ({ host, data: { seq: i + 1, time: '2026-11-25T19:52:23.123456789Z' } }));
      for (const r of rows) await client.query('INSERT INTO stack_check (host, data) VALUES ($1, $2)', [r.host, r.data]);
      const { rows: back } = await client.query('SELECT host, data FROM stack_check ORDER BY id');
      expect(back).toEqual(rows);
    } finally {
      await client.end();
    }
  });

  it('names the server and fails within seconds when nothing answers there', async () => {
    const started = Date.now();
    await expect(checkPostgres('postgresql://postgres@127.0.0.1:1/probefleet')).rejects.toThrow(/PostgreSQL is not reachable at 127\.0\.0\.1:1/);
    expect(Date.now() - started).toBeLessThan(10000);
  });
});
