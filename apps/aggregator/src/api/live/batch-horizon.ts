// The stored-batch horizon, shared by every stream of this aggregator: the highest batch number B
// such that every batch numbered <= B has committed (or rolled back), whichever aggregator stored it.
//
// Batch numbers come from one sequence, so two aggregators (or two partitions of one) can commit out
// of number order: batch 7 may be visible while batch 6 is still being written. A stream that sent
// 7's rows and moved its cursor past them would skip 6 for ever. So streams only read up to the
// horizon, which is found without blocking ingestion, as CREATE INDEX CONCURRENTLY waits for older
// transactions: (1) read the sequence's last value B (every batch <= B has been numbered); (2) list
// the transactions holding PROJECTION_LOCK, which every ingest transaction takes before it numbers
// its batch and keeps to its end; (3) wait until those have ended. Then no batch <= B can appear any
// more. Each committed batch is announced by NOTIFY probefleet_batches (store/ingest.ts, delivered
// at commit) on a dedicated connection; a poll every few seconds covers a lost connection.
import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { CONFIG } from '../../config.module';
import type { AggregatorConfig } from '../../config';
import { BATCH_BITS } from '../../store/batch-ids';
import { PROJECTION_LOCK } from '../../store/pg';
import { PrismaService } from '../../store/prisma.service';

export const BATCH_CHANNEL = 'probefleet_batches';

/** Rows with an id below this bound belong to batches at or below the horizon. */
export const rowBound = (batch: bigint): bigint => (batch + 1n) << BigInt(BATCH_BITS);

const POLL_MS = 5000;
const WAIT_STEP_MS = 5;

@Injectable()
export class BatchHorizon implements OnModuleInit, OnModuleDestroy {
  private readonly log = new Logger(BatchHorizon.name);
  private readonly changes = new EventEmitter();
  private listener: Client | undefined;
  private current = -1n;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private poll: NodeJS.Timeout | undefined;
  private ready: Promise<void> | undefined;

  constructor(@Inject(CONFIG) private readonly config: AggregatorConfig, private readonly db: PrismaService) {
    this.changes.setMaxListeners(0);
  }

  onModuleInit(): void {
    this.ready = this.listen().then(() => this.refresh());
    this.ready.catch((err: Error) => this.log.warn(`stream horizon: ${err.message}`));
    this.poll = setInterval(() => void this.refresh().catch(() => undefined), POLL_MS);
    this.poll.unref();
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    clearInterval(this.poll);
    await this.running?.catch(() => undefined);
    await this.listener?.end().catch(() => undefined);
  }

  /** The horizon once known (the first computation done). */
  async horizon(): Promise<bigint> {
    if (this.current < 0n) await (this.ready ?? this.refresh()).catch(() => undefined);
    if (this.current < 0n) await this.refresh();
    return this.current;
  }

  /** The lowest stored batch number above `batch`, if any (store_batches lists every stored batch). */
  async nextStored(batch: bigint): Promise<bigint | undefined> {
    const { rows } = await this.db.pool.query<{ id: string | null }>('SELECT min(id)::text AS id FROM store_batches WHERE id > $1', [batch.toString()]);
    return rows[0]?.id == null ? undefined : BigInt(rows[0].id);
  }

  /** Calls fn with each new horizon; returns the unsubscribe. */
  onAdvance(fn: (batch: bigint) => void): () => void {
    this.changes.on('advance', fn);
    return () => this.changes.off('advance', fn);
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = new Client({ connectionString: this.config.DATABASE_URL, connectionTimeoutMillis: 10000 });
    client.on('notification', () => void this.refresh().catch(() => undefined));
    client.on('error', (err) => {
      this.log.warn(`stream LISTEN connection: ${err.message}; reconnecting`);
      if (this.listener === client) this.listener = undefined;
      void client.end().catch(() => undefined);
      if (!this.closed) setTimeout(() => void this.listen().then(() => this.refresh()).catch(() => undefined), 1000).unref();
    });
    await client.connect();
    await client.query(`LISTEN ${BATCH_CHANNEL}`);
    this.listener = client;
  }

  /** Recomputes the horizon; concurrent calls coalesce into one more run after the current one. */
  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          const next = await this.compute();
          if (next > this.current) {
            this.current = next;
            this.changes.emit('advance', next);
          }
        } while (this.again && !this.closed);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async compute(): Promise<bigint> {
    const pool = this.db.pool;
    const seq = await pool.query<{ last: string }>(
      `SELECT (CASE WHEN is_called THEN last_value ELSE last_value - 1 END)::text AS last FROM store_batch_seq`);
    const last = BigInt(seq.rows[0]!.last);
    let holders = await lockHolders(pool);
    while (holders.length > 0 && !this.closed) {
      await sleep(WAIT_STEP_MS);
      const still = new Set(await lockHolders(pool));
      holders = holders.filter((h) => still.has(h));
    }
    return last;
  }
}

/** The transactions (virtual ids) holding the projection lock now, this session's aside. */
async function lockHolders(pool: PrismaService['pool']): Promise<string[]> {
  const { rows } = await pool.query<{ vxid: string }>(
    `SELECT virtualtransaction AS vxid FROM pg_locks
      WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND classid = 0 AND objid = $1 AND objsubid = 1 AND granted AND pid <> pg_backend_pid()`,
    [PROJECTION_LOCK]);
  return rows.map((r) => r.vxid);
}
