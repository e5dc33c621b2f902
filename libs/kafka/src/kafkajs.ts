// The interface over kafkajs 2.2 (unmaintained since 2023, but proven here against Kafka 4.1).
import './kafkajs-timeout';
import './kafkajs-encoder';
import { Kafka, logLevel, Partitioners, type Consumer, type SASLOptions } from 'kafkajs';
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
    let consumer: Consumer | undefined;
    let closing = false;
    // kafkajs restarts a crashed consumer only for a retriable error. Any other (a commit after the
    // coordinator dropped a member that was busy past its session, a throw from eachBatch) would
    // end consuming for good: such a consumer is replaced by a new one, from the committed offsets,
    // retried with backoff while the broker is away (as the platformatic adapter does).
    const replace = (wait: number): void => {
      setTimeout(() => {
        if (closing) return;
        start().catch((e: Error) => {
          events.left(e);
          replace(Math.min(wait * 2, 5000));
        });
      }, wait).unref();
    };
    const start = async (): Promise<void> => {
      const c = kafka.consumer({
        groupId: o.groupId,
        maxBytesPerPartition: o.maxBytesPerPartition,
        // A fetch holds a full share for every partition handled at once (kafkajs' default is 10 MiB).
        maxBytes: o.maxBytesPerPartition * o.partitionsConcurrency,
        sessionTimeout: o.sessionTimeoutMs,
        heartbeatInterval: o.heartbeatIntervalMs,
        maxWaitTimeInMs: o.maxWaitMs,
      });
      consumer = c;
      c.on(c.events.GROUP_JOIN, (e) => events.joined({ groupId: e.payload.groupId, memberId: e.payload.memberId, partitions: e.payload.memberAssignment[o.topic] ?? [] }));
      c.on(c.events.STOP, () => events.left());
      c.on(c.events.CRASH, (e) => {
        events.left(e.payload.error);
        if (!e.payload.restart && !closing) replace(500);
      });
      try {
        await c.connect();
        await c.subscribe({ topic: o.topic, fromBeginning: true });
        await c.run({
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
                      await c.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
                    },
                  },
                ),
        });
      } catch (e) {
        await c.disconnect().catch(() => undefined);
        throw e;
      }
    };
    await start();
    return {
      async close() {
        closing = true;
        // kafkajs waits for the batches in hand before it leaves.
        await consumer?.disconnect();
      },
    };
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
