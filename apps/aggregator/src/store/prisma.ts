// The Prisma client (Rust-free: the generated `prisma-client` over node-postgres through
// @prisma/adapter-pg) for the schema and the API's typed reads, over the store's pg pool, which the
// hot path (COPY, bulk statements) uses directly: a process holds one set of connections.
import { PrismaPg } from '@prisma/adapter-pg';
import type { Pool } from 'pg';
import { PrismaClient } from '../generated/prisma/client';
import { createPool } from './pg';

export type Db = PrismaClient & { readonly pool: Pool };

/** Prisma and its pool over `databaseUrl`; $disconnect() ends both. */
export function createPrisma(databaseUrl: string): Db {
  const pool = createPool(databaseUrl);
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  const disconnect = prisma.$disconnect.bind(prisma);
  return Object.assign(prisma, {
    pool,
    $disconnect: async () => {
      await disconnect();
      if (!pool.ended) await pool.end();
    },
  });
}
