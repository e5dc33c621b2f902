// The aggregator service, one NestJS module per feature: the store, ingestion (Kafka consumer), the
// TCP API, the fleet API, fleet policies, and health/metrics. Built from an already validated configuration (see
// commands/serve.ts).
import { DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { FleetApiModule } from './api/fleet/fleet-api.module';
import { LiveApiModule } from './api/live/live-api.module';
import { TcpApiModule } from './api/tcp-api.module';
import type { AggregatorConfig } from './config';
import { ConfigModule } from './config.module';
import { IngestModule } from './consumer/ingest.module';
import { HealthModule } from './health/health.module';
import { IdentityModule } from './identity/identity.module';
import { MetricsModule } from './metrics/metrics.module';
import { PoliciesModule } from './policies/policies.module';
import { StoreModule } from './store/store.module';

@Module({})
export class AppModule {
  static forRoot(config: AggregatorConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot({ pinoHttp: { level: config.LOG_LEVEL, autoLogging: false } }),
        MetricsModule,
        StoreModule,
        IdentityModule,
        IngestModule,
        TcpApiModule,
        FleetApiModule,
        LiveApiModule,
        PoliciesModule,
        HealthModule,
      ],
    };
  }
}
