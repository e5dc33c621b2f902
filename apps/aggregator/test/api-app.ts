// The query API on an ephemeral port, as the application wires it: CONFIG and PrismaService global.
import { Global, Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import { FleetApiModule } from '../src/api/fleet/fleet-api.module';
import { TcpApiModule } from '../src/api/tcp-api.module';
import { loadConfig } from '../src/config';
import { ConfigModule } from '../src/config.module';
import { PrismaService } from '../src/store/prisma.service';

@Global()
@Module({ providers: [PrismaService], exports: [PrismaService] })
class TestStoreModule {}

export interface ApiUnderTest {
  app: INestApplication;
  /** GET a path with a query; the parsed JSON body and the status. */
  get(path: string, query?: Record<string, string | number | boolean>, headers?: Record<string, string>): Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  close(): Promise<void>;
}

export async function startApi(databaseUrl: string, apiTokens = ''): Promise<ApiUnderTest> {
  const config = loadConfig({ DATABASE_URL: databaseUrl, API_TOKENS: apiTokens, CONSUMER_ENABLED: 'false' });
  const moduleRef = await Test.createTestingModule({ imports: [ConfigModule.forRoot(config), TestStoreModule, TcpApiModule, FleetApiModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return {
    app,
    async get(path, query = {}, headers = {}) {
      const url = new URL(path, `http://127.0.0.1:${port}`);
      for (const [k, v] of Object.entries(query)) url.searchParams.append(k, String(v));
      const res = await fetch(url, { headers });
      return { status: res.status, body: await res.json() };
    },
    close: () => app.close(),
  };
}
