// Partitions ahead of time, retention and sealing, in the service: at start and every RETENTION_INTERVAL_S.
// One aggregator at a time does it (a session advisory lock); the others skip that round.
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { CONFIG } from '../config.module';
import { retentionPolicy, type AggregatorConfig } from '../config';
import { Metrics } from '../metrics/metrics';
import type { IngestOptions } from './ingest';
import { partitionsFor } from './ingest';
import { horizon } from './partitions';
import { PrismaService } from './prisma.service';
import { forgetEndedBoots } from './projections/tcp';
import { dropUnusedOwners } from './owners';
import { sealEnded } from './seals';
import { StoreClock } from './store-clock';

const RETENTION_LOCK = 0x72657465; // "rete"
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

@Injectable()
export class RetentionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger(RetentionService.name);
  readonly clock: StoreClock;
  readonly ingestOptions: IngestOptions;
  private timer: NodeJS.Timeout | undefined;

  constructor(@Inject(CONFIG) private readonly config: AggregatorConfig, private readonly db: PrismaService, private readonly metrics: Metrics) {
    this.clock = new StoreClock(config.RETENTION_CLOCK);
    this.ingestOptions = { policy: retentionPolicy(config), maxMessageBytes: config.KAFKA_MAX_MESSAGE_BYTES, now: this.clock.now };
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.clock.init(this.db.pool);
    await this.run();
    // Sealing can take minutes on a big partition: it never holds up the start (ingest needs only the partitions).
    void this.seal();
    this.timer = setInterval(() => void this.run().then(() => this.seal()), this.config.RETENTION_INTERVAL_S * 1000);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** Creates partitions ahead and drops expired ones; returns the partitions dropped. */
  run(): Promise<string[]> {
    return this.locked([], async (now) => {
      const partitions = partitionsFor(this.db.pool);
      await partitions.ahead(now, this.config.PARTITIONS_AHEAD_DAYS);
      const dropped = await partitions.dropExpired(this.ingestOptions.policy, now);
      this.metrics.partitionsDropped.inc(dropped.length);
      if (dropped.length > 0) this.log.log(`retention dropped ${dropped.join(', ')}`);
      const forgotten = await forgetEndedBoots(this.db.pool, new Date(horizon('tcp_connections', this.ingestOptions.policy, now)).toISOString());
      if (forgotten > 0) this.log.log(`retention forgot ${forgotten} open lifetimes of ended boots`);
      const kept = Math.min(horizon('tcp_transitions', this.ingestOptions.policy, now), horizon('tcp_connections', this.ingestOptions.policy, now));
      const owners = await dropUnusedOwners(this.db.pool, new Date(kept).toISOString().slice(0, 10));
      if (owners > 0) this.log.log(`retention dropped ${owners} owners no kept row names`);
      return dropped;
    });
  }

  /** Seals the partitions that have ended (store/seals.ts); returns them. */
  seal(): Promise<string[]> {
    return this.locked([], async (now) => {
      const seals = await sealEnded(this.db.pool, now, this.config.PARTITION_SEAL_AFTER_HOURS * 3_600_000);
      for (const s of seals) {
        this.metrics.partitionsSealed.inc();
        this.metrics.sealReclaimedBytes.inc(Math.max(0, s.indexBytesBefore - s.indexBytesAfter));
        this.log.log(`sealed ${s.partition}: indexes ${mib(s.indexBytesBefore)} -> ${mib(s.indexBytesAfter)} MiB`);
      }
      return seals.map((s) => s.partition);
    });
  }

  /**
   * Runs `work` at the retention clock's now while holding the maintenance lock (one aggregator, one
   * round at a time; otherwise `none`). A failure is logged and counted, and retried next round.
   */
  private async locked<T>(none: T, work: (now: number) => Promise<T>): Promise<T> {
    const client = await this.db.pool.connect();
    try {
      const { rows } = await client.query('SELECT pg_try_advisory_lock($1) AS mine', [RETENTION_LOCK]);
      if (!rows[0].mine) return none;
      try {
        // RETENTION_CLOCK=data on a store that holds no event time yet: nothing to keep ahead of, drop or seal.
        if (!this.clock.known) return none;
        return await work(this.clock.now());
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [RETENTION_LOCK]);
      }
    } catch (err) {
      this.metrics.retentionFailures.inc();
      this.log.error(`partition maintenance failed: ${(err as Error).message}`);
      return none;
    } finally {
      client.release();
    }
  }
}
