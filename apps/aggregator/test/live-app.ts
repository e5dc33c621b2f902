// An aggregator's HTTP side for the live tests: the TCP and live APIs on an ephemeral port, over
// its own PrismaService (its own pool), so two of them are two aggregator instances of one store.
import { Global, Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import { LiveApiModule } from '../src/api/live/live-api.module';
import { DEFAULT_LIVE_OPTIONS, LIVE_OPTIONS, StreamService, type LiveOptions } from '../src/api/live/stream.service';
import { TcpApiModule } from '../src/api/tcp-api.module';
import { FleetApiModule } from '../src/api/fleet/fleet-api.module';
import { loadConfig } from '../src/config';
import { ConfigModule } from '../src/config.module';
import { PrismaService } from '../src/store/prisma.service';

@Global()
@Module({ providers: [PrismaService], exports: [PrismaService] })
class TestStoreModule {}

export interface LiveAggregator { app: INestApplication; url: string; db: PrismaService; streams: StreamService; close(): Promise<void> }

export async function startLiveAggregator(databaseUrl: string, opts: { apiTokens?: string; live?: Partial<LiveOptions> } = {}): Promise<LiveAggregator> {
  const config = loadConfig({ DATABASE_URL: databaseUrl, API_TOKENS: opts.apiTokens ?? '', CONSUMER_ENABLED: 'false' });
  const moduleRef = await Test.createTestingModule({ imports: [ConfigModule.forRoot(config), TestStoreModule, TcpApiModule, FleetApiModule, LiveApiModule] })
    .overrideProvider(LIVE_OPTIONS).useValue({ ...DEFAULT_LIVE_OPTIONS, ...opts.live })
    .compile();
  const app = moduleRef.createNestApplication({ logger: false });
  app.enableShutdownHooks();
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}`, db: app.get(PrismaService), streams: app.get(StreamService), close: () => app.close() };
}
