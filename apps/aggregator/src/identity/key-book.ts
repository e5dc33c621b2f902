// The hosts' public keys in PostgreSQL (agent_keys): the Verifier's KeyBook, and enrolment.
import type { KeyBook, PinnedKey } from '@probefleet/signature';
import type { Pool } from 'pg';

export class PgKeyBook implements KeyBook {
  constructor(private readonly pool: Pool) {}

  async get(host: string): Promise<PinnedKey | null> {
    const { rows } = await this.pool.query<PinnedKey>('SELECT public_key AS "publicKey", source FROM agent_keys WHERE host = $1', [host]);
    return rows[0] ?? null;
  }

  async pinFirst(host: string, publicKey: string): Promise<PinnedKey> {
    // Two aggregators pinning one host at once: the insert of one wins, the other reads its key.
    await this.pool.query(`INSERT INTO agent_keys (host, public_key, source) VALUES ($1, $2, 'tofu') ON CONFLICT (host) DO NOTHING`, [host, publicKey]);
    return (await this.get(host))!;
  }

  /** Enrols (or rotates to) `publicKey` for `host`; true when the host had another key. */
  async enrol(host: string, publicKey: string): Promise<{ replaced: boolean }> {
    const { rows } = await this.pool.query<{ replaced: boolean }>(
      `WITH old AS (SELECT public_key FROM agent_keys WHERE host = $1)
       INSERT INTO agent_keys (host, public_key, source) VALUES ($1, $2, 'enrolled')
       ON CONFLICT (host) DO UPDATE SET public_key = EXCLUDED.public_key, source = 'enrolled', updated_at = now()
       RETURNING coalesce((SELECT public_key FROM old) <> $2, false) AS replaced`,
      [host, publicKey]);
    return rows[0]!;
  }
}
