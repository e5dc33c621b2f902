// Fleet policies: the API, the store's control stream, and the control topic's producer.
import { Module } from '@nestjs/common';
import { AdminTokenGuard, ApiTokenGuard } from '../api/api-token.guard';
import type { AggregatorConfig } from '../config';
import { CONFIG } from '../config.module';
import { kafkaClient } from '../consumer/kafka-client';
import { PoliciesController } from './policies.controller';
import { PoliciesService } from './policies.service';
import { POLICY_KAFKA } from './policy-kafka';

@Module({
  controllers: [PoliciesController],
  providers: [ApiTokenGuard, AdminTokenGuard, PoliciesService, { provide: POLICY_KAFKA, inject: [CONFIG], useFactory: (config: AggregatorConfig) => kafkaClient(config) }],
})
export class PoliciesModule {}
