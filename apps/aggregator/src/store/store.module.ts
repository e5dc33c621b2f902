// The store for every feature (global): the PostgreSQL pool behind Prisma, partition upkeep and
// retention, and the store's readiness.
import { Global, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { PostgresHealth } from './postgres.health';
import { PrismaService } from './prisma.service';
import { RetentionService } from './retention.service';

@Global()
@Module({
  imports: [TerminusModule],
  providers: [PrismaService, RetentionService, PostgresHealth],
  exports: [PrismaService, RetentionService, PostgresHealth],
})
export class StoreModule {}
