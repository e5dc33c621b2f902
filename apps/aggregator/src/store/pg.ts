// node-postgres for the store's hot path (COPY, bulk statements in one transaction). Prisma runs
// over the same pool (its adapter takes a pg Pool), so a process holds one set of connections.
import { Pool, type PoolClient } from 'pg';

/**
 * `idleInTransactionMs`: the server ends a session that sits that long inside a transaction
 * without sending anything (PostgreSQL's idle_in_transaction_session_timeout), so a member that is
 * stopped or hung mid-batch (SIGSTOP, a frozen VM) does not keep the rows it locked — its stream's
 * `streams` row, FOR UPDATE — from the member that took its partitions. Unset: no limit.
 */
export function createPool(databaseUrl: string, { idleInTransactionMs }: { idleInTransactionMs?: number } = {}): Pool {
  // A bounded connect: a dead server is an error, not a hang.
  const pool = new Pool({
    connectionString: databaseUrl,
    connectionTimeoutMillis: 10000,
    max: 10,
    ...(idleInTransactionMs ? { idle_in_transaction_session_timeout: idleInTransactionMs } : {}),
  });
  // An idle connection the server ends (a restart) is dropped from the pool; the next query
  // reconnects. Without a listener the pool's 'error' event would end the process.
  pool.on('error', () => undefined);
  // Likewise for a checked-out connection between two queries: the next query fails instead.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** Runs `fn` in one transaction on one connection: committed when it resolves, rolled back when it throws. */
export async function inTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => { broken = true; });
    throw err;
  } finally {
    client.release(broken);
  }
}

/**
 * Ingest transactions share this lock, `rebuild` takes it exclusively: a rebuild never interleaves
 * with live ingestion, and concurrent ingesters (one per partition) never wait on each other.
 */
export const PROJECTION_LOCK = 0x70726f6a; // "proj"
