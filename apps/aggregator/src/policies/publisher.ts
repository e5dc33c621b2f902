// The control topic: the current policy set, compacted (key = policy name, a tombstone once deleted).
// The store is the source: at start-up every policy is published again (so a change stored while
// Kafka was away reaches it, and a new signing key re-signs the set), then each change. Sends are
// chained, so the topic's last word on a name is always the store's latest. Every record is signed
// (libs/signature policy-signature.ts): a put with its version, a delete as a signed tombstone
// (its headers carry op and version; compaction still drops it). Without a signer nothing is sent.
import { Injectable, Logger } from '@nestjs/common';
import type { KafkaClient, OutgoingMessage, Producer } from '@probefleet/kafka';
import { encodePolicyRecord, type PolicySpec } from '@probefleet/policy';
import type { PolicySigner } from '@probefleet/signature';
import type { AggregatorConfig } from '../config';
import { PrismaService } from '../store/prisma.service';

const BACKOFF_MS = { initial: 500, max: 10_000 };

@Injectable()
export class PolicyPublisher {
  private readonly log = new Logger(PolicyPublisher.name);
  private producer: Producer | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly config: AggregatorConfig,
    private readonly kafka: KafkaClient,
    private readonly db: PrismaService,
    private readonly signer: PolicySigner | null,
  ) {}

  /** Creates the topic when asked to, then publishes the whole set, retrying in the background. */
  start(): void {
    if (this.signer === null) {
      this.log.warn('POLICY_SIGNING_KEY_FILE is not set: no policy is published, and policy writes answer 503');
      return;
    }
    const attempt = async (wait: number): Promise<void> => {
      if (this.stopped) return;
      try {
        if (this.config.KAFKA_CREATE_TOPIC) await this.ensureTopic();
        await this.publish();
      } catch (e) {
        this.log.warn(`policies not published yet (${(e as Error).message}); retrying in ${wait} ms`);
        await new Promise((r) => setTimeout(r, wait).unref());
        return attempt(Math.min(wait * 2, BACKOFF_MS.max));
      }
    };
    void attempt(BACKOFF_MS.initial);
  }

  /** Publishes what the store holds for `names` (every policy when absent); resolves once acked. */
  publish(names?: readonly string[]): Promise<void> {
    const next = this.chain.then(async () => {
      const rows = await this.db.policy.findMany({ where: names ? { name: { in: [...names] } } : {}, orderBy: { name: 'asc' } });
      if (rows.length === 0) return;
      const signer = this.signer;
      if (signer === null) throw new Error('no POLICY_SIGNING_KEY_FILE: policy records cannot be signed');
      const messages: OutgoingMessage[] = rows.map((r) => {
        const value = r.deleted ? null : encodePolicyRecord({ name: r.name, version: r.version, spec: r.spec as PolicySpec });
        return { key: r.name, value, headers: signer.headers(r.name, value, r.version) };
      });
      await (this.producer ??= this.kafka.producer()).send(this.config.KAFKA_POLICY_TOPIC, messages);
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async ensureTopic(): Promise<void> {
    const admin = this.kafka.admin();
    try {
      if ((await admin.listTopics()).includes(this.config.KAFKA_POLICY_TOPIC)) return;
      // One partition: the agents read the whole set in order; compaction keeps each name's latest.
      await admin.createTopic(this.config.KAFKA_POLICY_TOPIC, 1, { 'cleanup.policy': 'compact' });
      this.log.log(`created the compacted topic ${this.config.KAFKA_POLICY_TOPIC}`);
    } finally {
      await admin.close();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.chain;
    await this.producer?.close();
  }
}
