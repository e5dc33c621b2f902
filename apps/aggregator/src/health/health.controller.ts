// Liveness (/healthz: the process answers) and readiness (/readyz: PostgreSQL answers and, when
// consuming, the consumer is a member of its group).
import { Controller, Get } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { KafkaHealth } from '../consumer/kafka.health';
import { PostgresHealth } from '../store/postgres.health';

@ApiTags('health')
@Controller()
export class HealthController {
  constructor(private readonly health: HealthCheckService, private readonly postgres: PostgresHealth, private readonly kafka: KafkaHealth) {}

  @Get('healthz')
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  @Get('readyz')
  @HealthCheck()
  ready() {
    return this.health.check([() => this.postgres.check(), () => this.kafka.check()]);
  }
}
