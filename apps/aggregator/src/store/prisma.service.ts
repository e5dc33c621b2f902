// The Prisma client as a Nest provider: one pool per process, closed on shutdown.
import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { PrismaClient } from '../generated/prisma/client';
import { CONFIG } from '../config.module';
import { pgAdapter } from './prisma';
import type { AggregatorConfig } from '../config';

@Injectable()
export class PrismaService extends PrismaClient implements OnModuleDestroy {
  constructor(@Inject(CONFIG) config: AggregatorConfig) {
    super({ adapter: pgAdapter(config.DATABASE_URL) });
  }

  async onModuleDestroy(): Promise<void> {
    await this.$disconnect();
  }
}
