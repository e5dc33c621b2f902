// The store's pool against a real PostgreSQL: a member that stops inside a transaction (SIGSTOP, a
// frozen VM) loses its session after idleInTransactionMs, so the rows it locked come free for the
// member that took its partitions; without the option they stay locked.
import { Client } from 'pg';
import { createPool } from '../src/store/pg';
import { createTempDatabase, type TempDatabase } from './temp-database';

describe('createPool', () => {
  let tmp: TempDatabase;

  beforeAll(async () => {
    tmp = await createTempDatabase('probefleet_pgpool');
    const c = new Client({ connectionString: tmp.url });
    await c.connect();
    await c.query('CREATE TABLE streams (instance int PRIMARY KEY); INSERT INTO streams VALUES (1)');
    await c.end();
  });
  afterAll(() => tmp?.drop());

  /** Locks the row in an open transaction on a pool connection and sends nothing more; then another session asks for it. */
  async function lockThenAsk(idleInTransactionMs?: number): Promise<{ other: 'got the row' | string; holder: 'still open' | string }> {
    const pool = createPool(tmp.url, { idleInTransactionMs });
    const holder = await pool.connect();
    const other = new Client({ connectionString: tmp.url });
    await other.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT * FROM streams WHERE instance = 1 FOR UPDATE');
      // The holder goes silent: the other session waits on the row (at most 3 s here).
      await other.query(`SET lock_timeout = 3000`);
      const got = await other.query('SELECT * FROM streams WHERE instance = 1 FOR UPDATE').then(() => 'got the row', (e: Error) => e.message);
      const state = await holder.query('SELECT 1').then(() => 'still open', (e: Error) => e.message);
      return { other: got, holder: state };
    } finally {
      holder.release(true);
      await other.end();
      await pool.end();
    }
  }

  it('ends a session idle inside a transaction after idleInTransactionMs, freeing its row locks', async () => {
    const r = await lockThenAsk(500);
    expect(r.other).toBe('got the row');
    expect(r.holder).toMatch(/idle-in-transaction timeout|terminat|connection error/i);
  });

  it('without it, the silent transaction keeps its rows locked', async () => {
    const r = await lockThenAsk();
    expect(r.other).toMatch(/lock timeout/i);
    expect(r.holder).toBe('still open');
  });
});
