// /healthz, /readyz and /metrics: liveness, readiness of the store and of ingestion, and the metrics.
import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { IngestModule } from '../consumer/ingest.module';
import { MetricsController } from '../metrics/metrics.controller';
import { HealthController } from './health.controller';

@Module({ imports: [TerminusModule, IngestModule], controllers: [HealthController, MetricsController] })
export class HealthModule {}
