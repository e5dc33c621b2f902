// The store's clock for retention (the horizon, expired events): the wall clock, or the event time
// the store has reached (RETENTION_CLOCK=data: weeks of fleet time replayed in fast time).
//
// The data clock is a watermark: the oldest of the newest event times of the sources being consumed
// (each Kafka partition is a source), never the newest of all. A replayed backlog is consumed byte
// by byte per partition, so a partition with more bytes per day of fleet time falls days behind the
// others; a clock at the newest event of any partition would call its backlog expired and drop the
// day partitions it is still filling. A source announced (`saw(0, source)` before its batch) but
// not stored yet holds the clock where it was; a source silent for longer than `idleMs` of wall time
// (caught up, or no longer assigned) no longer holds it back. The clock never goes back. Until an
// event time is known (a fresh store), it is 0: nothing is expired, nothing dropped.
import type { Pool } from 'pg';

/** Sources silent this long (wall time) no longer hold the data clock back. */
export const IDLE_SOURCE_MS = 30_000;

interface Source {
  /** Newest event time stored from it (ms), or 0 while none. */
  newest: number;
  /** While `newest` is 0: the clock when it was announced, where it holds the clock. */
  holdAt: number;
  /** Wall time it was last announced or reported. */
  seenAt: number;
}

export class StoreClock {
  /** The newest transition stored when the aggregator started: the clock until a source reports. */
  private stored = 0;
  private readonly sources = new Map<string, Source>();
  private reached = 0;

  constructor(
    private readonly mode: 'wall' | 'data',
    private readonly idleMs = IDLE_SOURCE_MS,
    private readonly wall: () => number = Date.now,
  ) {}

  /** Starts the data clock at the newest transition stored. */
  async init(pool: Pool): Promise<void> {
    if (this.mode !== 'data') return;
    const { rows } = await pool.query('SELECT extract(epoch FROM max(time)) * 1000 AS ms FROM tcp_transitions');
    this.stored = Number(rows[0].ms ?? 0);
  }

  /**
   * A batch of `source` (a Kafka topic/partition): announced before it is stored with ms = 0, then
   * reported after with its newest event time (ms; 0 when it stored none).
   */
  saw(ms: number, source = ''): void {
    const s = this.sources.get(source);
    if (s === undefined) this.sources.set(source, { newest: ms, holdAt: ms > 0 ? 0 : this.now(), seenAt: this.wall() });
    else {
      if (ms > s.newest) s.newest = ms;
      s.seenAt = this.wall();
    }
  }

  /** Whether the clock knows a time (always, for the wall clock). */
  get known(): boolean {
    return this.now() > 0;
  }

  readonly now = (): number => {
    if (this.mode === 'wall') return Date.now();
    const t = this.wall();
    let active = Infinity;
    let newest = this.stored;
    for (const s of this.sources.values()) {
      if (s.newest > newest) newest = s.newest;
      if (t - s.seenAt > this.idleMs) continue;
      const at = s.newest > 0 ? s.newest : s.holdAt;
      if (at < active) active = at;
    }
    // Nothing active: the newest event time known (every source caught up, or none reported yet).
    const at = active === Infinity ? newest : active;
    if (at > this.reached) this.reached = at;
    return this.reached;
  };
}
