// The Kafka consumer: one member of the aggregator's consumer group. Each batch (one partition's
// messages) is stored in one PostgreSQL transaction; its offsets are committed only after that
// transaction committed. When PostgreSQL fails, the batch is retried with backoff — the partition
// waits, nothing is committed, nothing is skipped — while heartbeats keep the member in the group.
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Batch, BatchControl, GroupMember, KafkaClient } from '@probefleet/kafka';
import { CONFIG } from '../config.module';
import type { AggregatorConfig } from '../config';
import { ingest } from '../store/ingest';
import { PrismaService } from '../store/prisma.service';
import { RetentionService } from '../store/retention.service';
import { explainedKafkaError, KAFKA } from './kafka-client';
import type { KafkaRecord } from './kafka-record';
import { Metrics } from '../metrics/metrics';
import { IdentityService } from '../identity/identity.service';

const BACKOFF_MS = { initial: 200, max: 10000 };

@Injectable()
export class ConsumerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger(ConsumerService.name);
  private consumer: GroupMember | undefined;
  private member = false;

  constructor(
    @Inject(CONFIG) private readonly config: AggregatorConfig,
    private readonly db: PrismaService,
    private readonly metrics: Metrics,
    private readonly retention: RetentionService,
    @Inject(KAFKA) private readonly kafka: KafkaClient,
    private readonly identity: IdentityService,
  ) {}

  /** A running member of the group (for /readyz). */
  get isMember(): boolean {
    return this.member;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.CONSUMER_ENABLED) return;
    await this.join().catch((e: unknown) => {
      throw explainedKafkaError(e, this.config);
    });
  }

  private async join(): Promise<void> {
    if (this.config.KAFKA_CREATE_TOPIC) await this.ensureTopic();
    // Partitions carry disjoint hosts (key = host), so their batches touch disjoint projection rows
    // and can be stored concurrently: Node prepares one while PostgreSQL writes another.
    this.consumer = await this.kafka.join(
      {
        groupId: this.config.KAFKA_GROUP_ID,
        topic: this.config.KAFKA_TOPIC,
        maxBytesPerPartition: this.config.KAFKA_MAX_BYTES_PER_PARTITION,
        partitionsConcurrency: this.config.KAFKA_PARTITIONS_CONCURRENCY,
        sessionTimeoutMs: this.config.KAFKA_SESSION_TIMEOUT_MS,
        heartbeatIntervalMs: Math.min(3000, this.config.KAFKA_SESSION_TIMEOUT_MS / 3),
        maxWaitMs: 250,
      },
      (batch, control) => this.storeBatch(batch, control),
      {
        joined: (e) => {
          this.member = true;
          this.metrics.consuming.set(1);
          this.log.log(`joined group ${e.groupId} as ${e.memberId}: partitions ${JSON.stringify(e.partitions)}`);
        },
        left: (error) => {
          this.left();
          if (error) this.log.error(`consumer left its group: ${explainedKafkaError(error, this.config).message}`);
        },
      },
    );
  }

  /** Finishes the batches in hand, then leaves the group. */
  async onApplicationShutdown(): Promise<void> {
    await this.consumer?.close();
  }

  private left(): void {
    this.member = false;
    this.metrics.consuming.set(0);
  }

  private async ensureTopic(): Promise<void> {
    const admin = this.kafka.admin();
    try {
      // Asked first: a create that finds the topic is logged as an error by some clients.
      if (!(await admin.listTopics()).includes(this.config.KAFKA_TOPIC)) await admin.createTopic(this.config.KAFKA_TOPIC, this.config.KAFKA_TOPIC_PARTITIONS);
    } finally {
      await admin.close();
    }
  }

  private async storeBatch(batch: Batch, { owned, heartbeat, commit }: BatchControl): Promise<void> {
    if (batch.messages.length === 0) return;
    const records: KafkaRecord[] = batch.messages.map((m) => ({ topic: batch.topic, partition: batch.partition, offset: m.offset, key: m.key, value: m.value, headers: m.headers }));
    let wait = BACKOFF_MS.initial;
    for (;;) {
      if (!owned()) return; // shutting down or rebalanced: the next owner re-reads from the last commit
      const timer = this.metrics.batchSeconds.startTimer();
      const source = `${batch.topic}/${batch.partition}`;
      this.retention.clock.saw(0, source);
      try {
        // Signatures are checked before decoding (AGENT_IDENTITY); a key lookup that fails is retried with the batch.
        const result = await ingest(this.db, await this.identity.screen(records), this.retention.ingestOptions);
        this.retention.clock.saw(result.newestMs, source);
        timer();
        this.metrics.batches.inc();
        this.metrics.events.inc({ result: 'stored' }, result.stored);
        this.metrics.events.inc({ result: 'duplicate' }, result.duplicates);
        for (const [kind, n] of Object.entries(result.deadLetterKinds)) this.metrics.deadLetters.inc({ kind }, n);
        this.metrics.violations.inc(result.violations.length);
        for (const v of result.violations) this.log.warn(`kprobe model refused ${v.host}/${v.instance} seq ${v.seq}: ${v.reason}`);
        break;
      } catch (err) {
        this.metrics.failures.inc();
        this.log.error(`storing ${records.length} messages of ${batch.topic}[${batch.partition}] failed, retrying in ${wait} ms: ${(err as Error).message}`);
        await sleepWithHeartbeats(wait, heartbeat);
        wait = Math.min(wait * 2, BACKOFF_MS.max);
      }
    }
    await commit(batch.messages[batch.messages.length - 1]!.offset);
    await heartbeat();
  }
}

async function sleepWithHeartbeats(ms: number, heartbeat: () => Promise<void>): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, Math.min(1000, until - Date.now())));
    await heartbeat().catch(() => undefined);
  }
}
