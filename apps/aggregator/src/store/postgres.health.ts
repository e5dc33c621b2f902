// Readiness of the store: PostgreSQL answers a query.
import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { PrismaService } from './prisma.service';

@Injectable()
export class PostgresHealth {
  constructor(private readonly indicators: HealthIndicatorService, private readonly db: PrismaService) {}

  async check() {
    const session = this.indicators.check('postgres');
    try {
      await this.db.$queryRaw`SELECT 1`;
      return session.up();
    } catch (err) {
      return session.down({ message: (err as Error).message });
    }
  }
}
