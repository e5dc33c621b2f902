// The Prisma client (Rust-free: the generated `prisma-client` over node-postgres through
// @prisma/adapter-pg), and the transaction type the store's functions take.
import { PrismaPg } from '@prisma/adapter-pg';
import { Prisma, PrismaClient } from '../generated/prisma/client';

export type Db = PrismaClient;
export type Tx = Prisma.TransactionClient;

export function createPrisma(databaseUrl: string): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl, connectionTimeoutMillis: 10000 }) });
}

/**
 * Ingest transactions share this lock, `rebuild` takes it exclusively: a rebuild never interleaves
 * with live ingestion, and concurrent ingesters (one per partition) never wait on each other.
 */
export const PROJECTION_LOCK = 0x70726f6a; // "proj"
