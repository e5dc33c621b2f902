// The aggregator's HTTP service: Nest application, JSON logs, OpenAPI at /docs.
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { INestApplication } from '@nestjs/common';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import type { AggregatorConfig } from './config';

export async function startServer(config: AggregatorConfig): Promise<INestApplication> {
  const app = await NestFactory.create(AppModule.forRoot(config), { bufferLogs: true });
  app.useLogger(app.get(Logger));
  app.enableShutdownHooks();
  const docs = new DocumentBuilder()
    .setTitle('probefleet')
    .setDescription('TCP state transitions, connections and the fleet of agents, from kernel traces')
    .addBearerAuth()
    .build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, docs));
  await app.listen(config.PORT, config.HOST);
  app.get(Logger).log(`probefleet aggregator listening on http://${config.HOST}:${config.PORT} (API /api/v1, docs /docs)`);
  return app;
}
