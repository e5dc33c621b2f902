// The aggregator service: configuration, the store, the Kafka consumer, the query API, health and
// metrics. Built from an already validated configuration (see commands/serve.ts).
import { DynamicModule, Global, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { LoggerModule } from 'nestjs-pino';
import type { AggregatorConfig } from './config';
import { ConfigModule } from './config.module';
import { ApiModule } from './api/api.module';
import { ConsumerService } from './consumer/consumer.service';
import { HealthController } from './health/health.controller';
import { Metrics } from './metrics/metrics';
import { MetricsController } from './metrics/metrics.controller';
import { PrismaService } from './store/prisma.service';
import { RetentionService } from './store/retention.service';

@Global()
@Module({ providers: [PrismaService, Metrics, RetentionService], exports: [PrismaService, Metrics, RetentionService] })
class StoreModule {}

@Module({})
export class AppModule {
  static forRoot(config: AggregatorConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot({ pinoHttp: { level: config.LOG_LEVEL, autoLogging: false } }),
        StoreModule,
        TerminusModule,
        ApiModule,
      ],
      controllers: [HealthController, MetricsController],
      providers: [ConsumerService],
    };
  }
}
