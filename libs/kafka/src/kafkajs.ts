// The interface over kafkajs 2.2 (unmaintained since 2023, but proven here against Kafka 4.1).
import './kafkajs-timeout';
import { Kafka, logLevel, Partitioners, type SASLOptions } from 'kafkajs';
import { untilListed } from './listed';
import type { Admin, ClientConfig, EachBatch, GroupEvents, GroupMember, GroupOptions, KafkaClient, Producer } from './types';

const LEVELS = { [logLevel.ERROR]: 'error', [logLevel.WARN]: 'warn', [logLevel.INFO]: 'info', [logLevel.DEBUG]: 'debug', [logLevel.NOTHING]: 'debug' } as const;

export function kafkajsClient(cfg: ClientConfig): KafkaClient {
  const kafka = new Kafka({
    clientId: cfg.clientId,
    brokers: cfg.brokers,
    ssl: cfg.ssl ?? false,
    ...(cfg.sasl ? { sasl: { ...cfg.sasl } as SASLOptions } : {}),
    connectionTimeout: cfg.connectionTimeoutMs,
    requestTimeout: cfg.requestTimeoutMs,
    ...(cfg.retry ? { retry: { retries: cfg.retry.retries, initialRetryTime: cfg.retry.initialMs, maxRetryTime: cfg.retry.maxMs } } : {}),
    logLevel: cfg.log ? logLevel.WARN : logLevel.NOTHING,
    ...(cfg.log
      ? {
          logCreator:
            () =>
            ({ namespace, level, log: { message, ...extra } }) =>
              cfg.log?.(LEVELS[level], message, { namespace, ...extra }),
        }
      : {}),
  });

  function producer(): Producer {
    const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
    let connected: Promise<void> | undefined;
    return {
      async send(topic, messages) {
        await (connected ??= p.connect());
        await p.send({ topic, acks: -1, messages: messages.map(({ key, value, headers }) => ({ key, value, ...(headers ? { headers } : {}) })) });
      },
      close: () => p.disconnect(),
    };
  }

  function admin(): Admin {
    const a = kafka.admin();
    let connected: Promise<void> | undefined;
    const ready = () => (connected ??= a.connect());
    return {
      listTopics: async () => (await ready(), a.listTopics()),
      async createTopic(topic, partitions, configs = {}) {
        await ready();
        const configEntries = Object.entries(configs).map(([name, value]) => ({ name, value }));
        // waitForLeaders asks for the topic's metadata at once, and Kafka 4 may not know it yet there.
        await a.createTopics({ topics: [{ topic, numPartitions: partitions, configEntries }], waitForLeaders: false });
        await untilListed(() => a.listTopics(), topic);
      },
      async deleteTopic(topic) {
        await ready();
        await a.deleteTopics({ topics: [topic], timeout: 5000 });
      },
      async endOffsets(topic) {
        await ready();
        return new Map((await a.fetchTopicOffsets(topic)).map((o) => [o.partition, o.high]));
      },
      close: () => a.disconnect(),
    };
  }

  async function join(o: GroupOptions, eachBatch: EachBatch, events: GroupEvents): Promise<GroupMember> {
    const consumer = kafka.consumer({
      groupId: o.groupId,
      maxBytesPerPartition: o.maxBytesPerPartition,
      // A fetch holds a full share for every partition handled at once (kafkajs' default is 10 MiB).
      maxBytes: o.maxBytesPerPartition * o.partitionsConcurrency,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      maxWaitTimeInMs: o.maxWaitMs,
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) =>
      events.joined({ groupId: e.payload.groupId, memberId: e.payload.memberId, partitions: e.payload.memberAssignment[o.topic] ?? [] }),
    );
    consumer.on(consumer.events.STOP, () => events.left());
    consumer.on(consumer.events.CRASH, (e) => events.left(e.payload.error));
    await consumer.connect();
    await consumer.subscribe({ topic: o.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: o.partitionsConcurrency,
      eachBatch: ({ batch, resolveOffset, heartbeat, isRunning, isStale }) =>
        batch.messages.length === 0
          ? Promise.resolve()
          : eachBatch(
              {
                topic: batch.topic,
                partition: batch.partition,
                messages: batch.messages.map((m) => ({ offset: m.offset, key: m.key, value: m.value, headers: plainHeaders(m.headers) })),
              },
              {
                owned: () => isRunning() && !isStale(),
                heartbeat,
                async commit(last) {
                  resolveOffset(last);
                  await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
                },
              },
            ),
    });
    // kafkajs waits for the batches in hand before it leaves.
    return { close: () => consumer.disconnect() };
  }

  return { kind: 'kafkajs', producer, admin, join };
}

function plainHeaders(h: Record<string, Buffer | string | (Buffer | string)[] | undefined> | undefined): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    const one = Array.isArray(v) ? v[v.length - 1] : v;
    if (one !== undefined) out[k] = Buffer.isBuffer(one) ? one : Buffer.from(one);
  }
  return out;
}
