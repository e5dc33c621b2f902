// Readiness of ingestion: the consumer is a member of its group (or consuming is turned off).
import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import type { AggregatorConfig } from '../config';
import { CONFIG } from '../config.module';
import { ConsumerService } from './consumer.service';

@Injectable()
export class KafkaHealth {
  constructor(
    @Inject(CONFIG) private readonly config: AggregatorConfig,
    private readonly indicators: HealthIndicatorService,
    private readonly consumer: ConsumerService,
  ) {}

  check() {
    const session = this.indicators.check('kafka');
    if (!this.config.CONSUMER_ENABLED) return session.up({ consumer: 'disabled' });
    return this.consumer.isMember ? session.up() : session.down({ message: 'the consumer is not (yet) a member of its group' });
  }
}
