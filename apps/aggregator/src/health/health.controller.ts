// Liveness (/healthz: the process answers) and readiness (/readyz: PostgreSQL answers and, when
// consuming, the consumer is a member of its group).
import { Controller, Get, Inject } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { CONFIG } from '../config.module';
import type { AggregatorConfig } from '../config';
import { ConsumerService } from '../consumer/consumer.service';
import { PrismaService } from '../store/prisma.service';

@ApiTags('health')
@Controller()
export class HealthController {
  constructor(
    @Inject(CONFIG) private readonly config: AggregatorConfig,
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly db: PrismaService,
    private readonly consumer: ConsumerService,
  ) {}

  @Get('healthz')
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  @Get('readyz')
  @HealthCheck()
  ready() {
    return this.health.check([
      async () => {
        const session = this.indicators.check('postgres');
        try {
          await this.db.$queryRaw`SELECT 1`;
          return session.up();
        } catch (err) {
          return session.down({ message: (err as Error).message });
        }
      },
      async () => {
        const session = this.indicators.check('kafka');
        if (!this.config.CONSUMER_ENABLED) return session.up({ consumer: 'disabled' });
        return this.consumer.isMember ? session.up() : session.down({ message: 'the consumer is not (yet) a member of its group' });
      },
    ]);
  }
}
