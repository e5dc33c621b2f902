// The interface over @platformatic/kafka 2.x (pure TypeScript, maintained; needs Node >= 22.22).
// Its consumer is a stream of messages; the batches, their per-partition concurrency and the
// manual commits that kafkajs gives are built here (batch-queue.ts).
import type * as Pf from '@platformatic/kafka' with { 'resolution-mode': 'import' };
import { BatchQueue } from './batch-queue';
import { untilListed } from './listed';
import type { Admin, ClientConfig, EachBatch, GroupEvents, GroupMember, GroupOptions, KafkaClient, Producer } from './types';

type Lib = typeof Pf;
type Message = Pf.Message<Buffer, Buffer, Buffer, Buffer>;

const MECHANISMS = { plain: 'PLAIN', 'scram-sha-256': 'SCRAM-SHA-256', 'scram-sha-512': 'SCRAM-SHA-512' } as const;

export function platformaticClient(cfg: ClientConfig): KafkaClient {
  // ESM-only: Node's require(esm) loads it (Node >= 20.19), and esbuild bundles it into the agent's
  // single executable. Loaded here, not at the top, so that kafkajs alone never loads it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const lib = require('@platformatic/kafka') as Lib;
  const base = {
    clientId: cfg.clientId,
    bootstrapBrokers: cfg.brokers,
    connectTimeout: cfg.connectionTimeoutMs,
    requestTimeout: cfg.requestTimeoutMs,
    ...(cfg.retry ? { retries: cfg.retry.retries, retryDelay: cfg.retry.initialMs } : {}),
    ...(cfg.ssl ? { tls: cfg.ssl === true ? {} : cfg.ssl } : {}),
    ...(cfg.sasl ? { sasl: { mechanism: MECHANISMS[cfg.sasl.mechanism], username: cfg.sasl.username, password: cfg.sasl.password } } : {}),
  };

  function producer(): Producer {
    const p = new lib.Producer<Buffer, Buffer, string, Buffer>({
      ...base,
      idempotent: true,
      acks: lib.ProduceAcks.ALL,
      maxInflights: 1,
      autocreateTopics: false,
      // kafkajs' (and Java's) murmur2 partitioning: a host's key lands on the same partition whichever client sent it.
      partitioner: lib.compatibilityPartitioner,
      // Header names as strings (values stay bytes): a plain record, not a Map, which the library
      // recognises only from its own realm (not from a Jest sandbox's).
      serializers: { headerKey: lib.stringSerializer },
    });
    return {
      async send(topic, messages) {
        await p.send({
          messages: messages.map(({ key, value, headers }) => ({
            topic,
            key: Buffer.isBuffer(key) ? key : Buffer.from(key),
            // No value is a null one: a tombstone.
            ...(value === null ? {} : { value }),
            ...(headers ? { headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(v)])) } : {}),
          })),
        });
      },
      close: () => p.close(),
    };
  }

  function admin(): Admin {
    const a = new lib.Admin(base);
    return {
      listTopics: () => a.listTopics(),
      async createTopic(topic, partitions, configs = {}) {
        await a.createTopics({ topics: [topic], partitions, replicas: -1, configs: Object.entries(configs).map(([name, value]) => ({ name, value })) });
        await untilListed(() => a.listTopics(), topic);
      },
      deleteTopic: (topic) => a.deleteTopics({ topics: [topic] }),
      async endOffsets(topic) {
        const meta = await a.metadata({ topics: [topic] });
        const count = meta.topics.get(topic)?.partitionsCount ?? 0;
        // Timestamp -1: the latest offset (ListOffsets' LATEST).
        const [listed] = await a.listOffsets({ topics: [{ name: topic, partitions: Array.from({ length: count }, (_, i) => ({ partitionIndex: i, timestamp: -1n })) }] });
        return new Map((listed?.partitions ?? []).map((p) => [p.partitionIndex, p.offset.toString()]));
      },
      close: () => a.close(),
    };
  }

  async function join(o: GroupOptions, eachBatch: EachBatch, events: GroupEvents): Promise<GroupMember> {
    const consumer = new lib.Consumer({
      ...base,
      groupId: o.groupId,
      autocommit: false,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      maxBytesPerPartition: o.maxBytesPerPartition,
      maxBytes: o.maxBytesPerPartition * o.partitionsConcurrency,
      maxWaitTime: o.maxWaitMs,
    });
    const owns = (partition: number) => consumer.assignments?.some((a) => a.topic === o.topic && a.partitions.includes(partition)) ?? false;
    const queue = new BatchQueue<Message>(o.topic, o.partitionsConcurrency, eachBatch, owns, (e) => cfg.log?.('error', `batch failed: ${(e as Error).message}`, {}));
    let closing = false;
    consumer.on('consumer:group:join', (e) => {
      queue.reassigned();
      events.joined({ groupId: e.groupId, memberId: e.memberId, partitions: e.assignments?.find((a) => a.topic === o.topic)?.partitions ?? [] });
    });
    consumer.on('consumer:group:leave', () => events.left());

    let stream: Pf.MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
    // A stream that ends other than by close() (a commit refused after a rebalance destroys it, a
    // broker restart can end it) is replaced by a new one from the committed offsets, retried with
    // backoff while the broker is away.
    const consume = async (): Promise<void> => {
      const s = await consumer.consume({ topics: [o.topic], mode: lib.MessagesStreamModes.COMMITTED, fallbackMode: lib.MessagesStreamFallbackModes.EARLIEST, autocommit: false });
      stream = s;
      queue.attach(s);
      let replaced = false;
      const replace = (e?: Error) => {
        if (replaced || closing) return;
        replaced = true;
        events.left(e);
        queue.reassigned();
        void again(500);
      };
      s.on('error', replace);
      s.on('close', () => replace());
    };
    const again = async (wait: number): Promise<void> => {
      await new Promise((r) => setTimeout(r, wait));
      if (closing) return;
      await consume().catch((e: Error) => {
        events.left(e);
        return again(Math.min(wait * 2, 5000));
      });
    };
    await consume();
    return {
      async close() {
        closing = true;
        await stream?.close().catch(() => undefined);
        await queue.drained();
        await consumer.close();
        events.left();
      },
    };
  }

  return { kind: 'platformatic', producer, admin, join };
}
