// Both clients against the real local broker, through our interface only: topic admin, idempotent
// acks=-1 sends with headers, the same partition for a key whichever client sent it, a consumer
// group with manual commits whose next member resumes after the last commit.
import { randomUUID } from 'node:crypto';
import { clientKind, kafkaClient } from './client';
import { CLIENT_KINDS, type Batch, type ClientKind, type KafkaClient } from './types';

const brokers = (process.env.KAFKA_BROKERS || `127.0.0.1:${process.env.KAFKA_PORT || 9092}`).split(',');
const supported = CLIENT_KINDS.filter((k) => {
  try {
    return clientKind(k) === k;
  } catch {
    return false; // platformatic on Node 20: client.unit.spec checks the refusal
  }
});
const client = (kind: ClientKind, id: string): KafkaClient =>
  kafkaClient(kind, { clientId: id, brokers, connectionTimeoutMs: 3000, requestTimeoutMs: 15000, retry: { retries: 3, initialMs: 200, maxMs: 2000 } });
const HOSTS = Array.from({ length: 12 }, (_, i) => `host-${i}`);

/** Joins, collects batches until `count` messages arrived, commits each, and leaves. */
async function consumeAll(c: KafkaClient, topic: string, groupId: string, count: number): Promise<Batch[]> {
  const batches: Batch[] = [];
  let n = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  const member = await c.join(
    { groupId, topic, maxBytesPerPartition: 1 << 20, partitionsConcurrency: 3, sessionTimeoutMs: 10000, heartbeatIntervalMs: 1000, maxWaitMs: 100 },
    async (batch, control) => {
      if (!control.owned()) return;
      batches.push(batch);
      await control.commit(batch.messages[batch.messages.length - 1]!.offset);
      if ((n += batch.messages.length) >= count) done();
    },
    { joined: () => undefined, left: () => undefined },
  );
  const timer = setTimeout(done, 30000);
  await all;
  clearTimeout(timer);
  await member.close();
  return batches;
}

describe.each(supported)('the %s client against the real broker', (kind) => {
  const topic = `probefleet.test.kafka.${kind}.${randomUUID()}`;
  const c = client(kind, `kafka-spec-${kind}`);
  const admin = c.admin();
  afterAll(async () => {
    await admin.deleteTopic(topic).catch(() => undefined);
    await admin.close();
  });

  it('creates a topic, sends keyed messages with headers at acks=-1, and a group reads each once, in order per partition, resuming after its commits', async () => {
    await admin.createTopic(topic, 3);
    expect(await admin.listTopics()).toContain(topic);
    const producer = c.producer();
    const sent = HOSTS.flatMap((host) => [0, 1].map((i) => ({ key: host, value: Buffer.from(`${host}:${i}`), headers: { host, sig: Buffer.from([0, 255, i]) } })));
    await producer.send(topic, sent.slice(0, 12));
    await producer.send(topic, sent.slice(12));

    const groupId = `kafka-spec-${randomUUID()}`;
    const first = await consumeAll(c, topic, groupId, sent.length);
    const got = first.flatMap((b) => b.messages.map((m) => ({ partition: b.partition, key: m.key?.toString(), value: m.value?.toString(), host: m.headers.host?.toString(), sig: m.headers.sig })));
    expect(got.map((m) => m.value).sort()).toEqual(sent.map((m) => m.value.toString()).sort());
    for (const m of got) {
      expect(m.host).toBe(m.key);
      expect(m.sig?.subarray(0, 2)).toEqual(Buffer.from([0, 255]));
    }
    // One host, one partition; its two messages in send order.
    for (const host of HOSTS) {
      const mine = got.filter((m) => m.key === host);
      expect(new Set(mine.map((m) => m.partition)).size).toBe(1);
      expect(mine.map((m) => m.value)).toEqual([`${host}:0`, `${host}:1`]);
    }
    expect(new Set(first.map((b) => b.partition)).size).toBe(3);

    // Committed: a new member of the group gets only what is sent after.
    await producer.send(topic, [{ key: 'host-0', value: Buffer.from('after') }]);
    await producer.close();
    const second = await consumeAll(c, topic, groupId, 1);
    expect(second.flatMap((b) => b.messages.map((m) => m.value?.toString()))).toEqual(['after']);
  });
});

describe('the two clients together', () => {
  // On Node 20 only kafkajs runs: the suite's Node 24 run (`npm test -- --node 24`) takes this one.
  const both = supported.length === CLIENT_KINDS.length;
  if (!both) it('has only kafkajs on this Node: platformatic is refused', () => expect(() => clientKind('platformatic')).toThrow(/needs Node >= 22\.22/));
  (both ? it : it.skip)('put a key on the same partition whichever sent it (murmur2, as Java and kafkajs do)', async () => {
    const kinds = CLIENT_KINDS;
    const topic = `probefleet.test.kafka.partitions.${randomUUID()}`;
    const admin = client('kafkajs', 'kafka-spec-admin').admin();
    await admin.createTopic(topic, 5);
    try {
      for (const kind of kinds) {
        const p = client(kind, `kafka-spec-${kind}`).producer();
        await p.send(topic, HOSTS.map((host) => ({ key: host, value: Buffer.from(kind) })));
        await p.close();
      }
      const batches = await consumeAll(client('kafkajs', 'kafka-spec-read'), topic, `kafka-spec-${randomUUID()}`, HOSTS.length * kinds.length);
      const where = (kind: string) => Object.fromEntries(batches.flatMap((b) => b.messages.filter((m) => m.value?.toString() === kind).map((m) => [m.key?.toString(), b.partition])));
      expect(Object.keys(where('kafkajs'))).toHaveLength(HOSTS.length);
      expect(where('platformatic')).toEqual(where('kafkajs'));
    } finally {
      await admin.deleteTopic(topic).catch(() => undefined);
      await admin.close();
    }
  });
});

describe('a kafkajs member that kafkajs gives up on', () => {
  // A batch busy past the session (an agent applying a policy under qemu TCG): the coordinator drops
  // the member, and its commit fails as non-retriable, which kafkajs does not restart from.
  it('is replaced by a new one that resumes from the last commit', async () => {
    const c = client('kafkajs', 'kafka-spec-crash');
    const topic = `probefleet.test.kafka.crash.${randomUUID()}`;
    const admin = c.admin();
    await admin.createTopic(topic, 1);
    try {
      const producer = c.producer();
      await producer.send(topic, ['a', 'b', 'c'].map((v) => ({ key: 'k', value: Buffer.from(v) })));
      await producer.close();
      const seen: string[] = [];
      const errors: string[] = [];
      let slow = true;
      let done!: () => void;
      const all = new Promise<void>((r) => (done = r));
      const member = await c.join(
        // 6 s: the broker's group.min.session.timeout.ms.
        { groupId: `kafka-spec-${randomUUID()}`, topic, maxBytesPerPartition: 1 << 20, partitionsConcurrency: 1, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000, maxWaitMs: 100 },
        async (batch, control) => {
          for (const m of batch.messages) {
            seen.push(m.value!.toString());
            if (slow && m.value?.toString() === 'b') {
              slow = false;
              await new Promise((r) => setTimeout(r, 9000));
            }
            await control.commit(m.offset);
          }
          if (seen.includes('c')) done();
        },
        { joined: () => undefined, left: (e) => (e ? errors.push(e.message) : undefined) },
      );
      const timer = setTimeout(done, 45000);
      await all;
      clearTimeout(timer);
      await member.close();
      // 'a' was committed before the member was dropped: its replacement starts at 'b'.
      expect(seen).toEqual(['a', 'b', 'b', 'c']);
      expect(errors.join('\n')).toMatch(/not aware of this member|generation|rebalanc/i);
    } finally {
      await admin.deleteTopic(topic).catch(() => undefined);
      await admin.close();
    }
  }, 60000);
});
