// The store's clock for retention (the horizon, expired events) and ingest lag: the wall clock, or
// the newest event time stored (RETENTION_CLOCK=data: weeks of fleet time replayed in fast time).
import type { Pool } from 'pg';

export class StoreClock {
  private newest = 0;

  constructor(private readonly mode: 'wall' | 'data') {}

  /** Starts the data clock at the newest transition stored. */
  async init(pool: Pool): Promise<void> {
    if (this.mode !== 'data') return;
    const { rows } = await pool.query('SELECT extract(epoch FROM max(time)) * 1000 AS ms FROM tcp_transitions');
    this.newest = Number(rows[0].ms ?? 0);
  }

  /** Called after a batch is stored with its newest event time (ms). */
  saw(ms: number): void {
    if (ms > this.newest) this.newest = ms;
  }

  readonly now = (): number => (this.mode === 'wall' ? Date.now() : this.newest || Date.now());
}
