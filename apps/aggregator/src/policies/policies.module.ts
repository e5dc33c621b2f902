// Fleet policies: the API, the store's control stream, and the control topic's producer and signer.
import { Module } from '@nestjs/common';
import { AdminTokenGuard, ApiTokenGuard } from '../api/api-token.guard';
import type { AggregatorConfig } from '../config';
import { CONFIG } from '../config.module';
import { kafkaClient } from '../consumer/kafka-client';
import { PoliciesController } from './policies.controller';
import { PoliciesService } from './policies.service';
import { loadPolicySigner } from '@probefleet/signature';
import { POLICY_KAFKA, POLICY_SIGNER } from './policy-kafka';

@Module({
  controllers: [PoliciesController],
  providers: [
    ApiTokenGuard, AdminTokenGuard, PoliciesService,
    { provide: POLICY_KAFKA, inject: [CONFIG], useFactory: (config: AggregatorConfig) => kafkaClient(config) },
    // loadConfig already refused a bad key file; this reads the one it checked.
    { provide: POLICY_SIGNER, inject: [CONFIG], useFactory: (config: AggregatorConfig) => (config.POLICY_SIGNING_KEY_FILE ? loadPolicySigner(config.POLICY_SIGNING_KEY_FILE) : null) },
  ],
})
export class PoliciesModule {}
