// Ingestion: the Kafka client, the consumer group member that stores each batch, and its readiness.
import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import type { AggregatorConfig } from '../config';
import { CONFIG } from '../config.module';
import { ConsumerService } from './consumer.service';
import { KAFKA, kafkaClient } from './kafka-client';
import { KafkaHealth } from './kafka.health';

@Module({
  imports: [TerminusModule],
  providers: [{ provide: KAFKA, inject: [CONFIG], useFactory: (config: AggregatorConfig) => kafkaClient(config) }, ConsumerService, KafkaHealth],
  exports: [KafkaHealth],
})
export class IngestModule {}
