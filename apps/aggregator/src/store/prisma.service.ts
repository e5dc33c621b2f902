// The store (Prisma over the pg pool the hot path uses) as a Nest provider, closed on shutdown.
import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import type { Pool } from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client';
import { CONFIG } from '../config.module';
import { createPool } from './pg';
import type { AggregatorConfig } from '../config';

@Injectable()
export class PrismaService extends PrismaClient implements OnModuleDestroy {
  readonly pool: Pool;

  constructor(@Inject(CONFIG) config: AggregatorConfig) {
    // A member silent past its Kafka session has lost its partitions to another member: its open
    // transaction must not hold their rows longer than that (a paused member blocked the other's
    // inserts for the whole pause; faults.e2e, the paused-member test).
    const pool = createPool(config.DATABASE_URL, { idleInTransactionMs: config.KAFKA_SESSION_TIMEOUT_MS });
    super({ adapter: new PrismaPg(pool) });
    this.pool = pool;
  }

  async onModuleDestroy(): Promise<void> {
    await this.$disconnect();
    if (!this.pool.ended) await this.pool.end();
  }
}
