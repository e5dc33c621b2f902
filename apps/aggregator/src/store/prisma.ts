// The Prisma client (Rust-free: the generated `prisma-client` over node-postgres through
// @prisma/adapter-pg), and the transaction type the store's functions take.
import { PrismaPg } from '@prisma/adapter-pg';
import { Prisma, PrismaClient } from '../generated/prisma/client';

export type Db = PrismaClient;
export type Tx = Prisma.TransactionClient;

/** node-postgres under Prisma, with a bounded connect so a dead server is an error, not a hang. */
export function pgAdapter(databaseUrl: string): PrismaPg {
  return new PrismaPg({ connectionString: databaseUrl, connectionTimeoutMillis: 10000 });
}

export function createPrisma(databaseUrl: string): PrismaClient {
  return new PrismaClient({ adapter: pgAdapter(databaseUrl) });
}

/**
 * Ingest transactions share this lock, `rebuild` takes it exclusively: a rebuild never interleaves
 * with live ingestion, and concurrent ingesters (one per partition) never wait on each other.
 */
export const PROJECTION_LOCK = 0x70726f6a; // "proj"
