// One SSE client: rows after its cursor, up to the horizon, page by page, each as an event whose id
// is its stream key (a client resumes with Last-Event-ID: nothing missed, nothing repeated). Memory
// per client is bounded: a page is read only once the socket has taken the previous one down to
// `highWaterBytes`; a client that does not drain within `drainTimeoutMs` is sent a final `cutoff`
// event saying why and disconnected. A comment every `heartbeatMs` keeps proxies from timing out.
import { BadRequestException, Inject, Injectable, type OnModuleDestroy, Optional, ServiceUnavailableException } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BATCH_BITS } from '../../store/batch-ids';
import { BatchHorizon, rowBound } from './batch-horizon';

const BATCH_SHIFT = BigInt(BATCH_BITS);
import type { StreamRow } from './stream-queries';

export interface LiveOptions {
  /** Bytes the socket may hold unsent before the stream waits for it to drain. */
  highWaterBytes: number;
  /** How long a client may take to drain before it is cut off. */
  drainTimeoutMs: number;
  heartbeatMs: number;
  /** Rows read per query. */
  pageRows: number;
  /**
   * Batches one query reads at most: a client far behind (a resume after hours) catches up window
   * by window, each query scanning a bounded id range instead of everything up to the horizon.
   */
  windowBatches: number;
  /** Streams open at once on this aggregator; more are refused with 503. */
  maxClients: number;
  /** How long a cut-off client has to read its final event before its socket is closed. */
  graceMs: number;
}

export const LIVE_OPTIONS = Symbol('probefleet.live-options');

export const DEFAULT_LIVE_OPTIONS: LiveOptions = { highWaterBytes: 256 * 1024, drainTimeoutMs: 10000, heartbeatMs: 15000, pageRows: 500, windowBatches: 16, maxClients: 200, graceMs: 2000 };

export type PageReader<T> = (after: bigint, before: bigint, limit: number) => Promise<StreamRow<T>[]>;

/** Last-Event-ID as a stream key, or undefined when absent. */
export function parseLastEventId(header: string | string[] | undefined): bigint | undefined {
  if (header === undefined || header === '') return undefined;
  if (typeof header !== 'string' || !/^\d{1,19}$/.test(header)) throw new BadRequestException('Last-Event-ID: expected the id of an event of this stream');
  return BigInt(header);
}

@Injectable()
export class StreamService implements OnModuleDestroy {
  readonly options: LiveOptions;
  private clients = 0;
  private readonly open = new Set<ServerResponse>();
  /** The most bytes any client's socket held unsent (the memory the streams use per client). */
  maxBufferedBytes = 0;
  cutoffs = 0;

  constructor(private readonly horizon: BatchHorizon, @Optional() @Inject(LIVE_OPTIONS) options?: Partial<LiveOptions>) {
    this.options = { ...DEFAULT_LIVE_OPTIONS, ...options };
  }

  /** Ends every stream, so the HTTP server can close (clients resume elsewhere with Last-Event-ID). */
  onModuleDestroy(): void {
    for (const res of this.open) res.end(`event: shutdown\ndata: {"reason":"the aggregator is shutting down"}\n\n`);
  }

  get openStreams(): number {
    return this.clients;
  }

  async serve<T>(req: IncomingMessage, res: ServerResponse, event: string, read: PageReader<T>): Promise<void> {
    const given = parseLastEventId(req.headers['last-event-id']);
    if (this.clients >= this.options.maxClients) throw new ServiceUnavailableException(`${this.clients} streams open, the most this aggregator serves`);
    this.clients++;
    this.open.add(res);
    try {
      await this.run(req, res, event, read, given);
    } finally {
      this.clients--;
      this.open.delete(res);
    }
  }

  private async run<T>(req: IncomingMessage, res: ServerResponse, event: string, read: PageReader<T>, given: bigint | undefined): Promise<void> {
    const o = this.options;
    let bound = rowBound(await this.horizon.horizon());
    // Without Last-Event-ID the stream starts now: what is stored from here on.
    let cursor = given ?? bound - 1n;
    let closed = false;
    let wake: (() => void) | undefined;
    const poke = () => { const w = wake; wake = undefined; w?.(); };
    const unsubscribe = this.horizon.onAdvance((batch) => { bound = rowBound(batch); poke(); });
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), o.heartbeatMs);
    const onClose = () => { closed = true; poke(); };
    req.on('close', onClose);
    res.on('close', onClose);
    res.on('finish', onClose);
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.socket?.setNoDelay(true);
    res.write(`: probefleet ${event} stream\nretry: 1000\n\n`);
    try {
      while (!closed) {
        if (cursor + 1n >= bound) {
          await new Promise<void>((resolve) => { wake = resolve; });
          continue;
        }
        const windowEnd = rowBound(cursor >> BATCH_SHIFT) + (BigInt(o.windowBatches - 1) << BATCH_SHIFT);
        const before = windowEnd < bound ? windowEnd : bound;
        const rows = await read(cursor, before, o.pageRows);
        let chunk = '';
        for (const r of rows) chunk += `id: ${r.id}\nevent: ${event}\ndata: ${JSON.stringify(r.item)}\n\n`;
        if (chunk !== '') res.write(chunk);
        // Every row below `before` is final (the horizon), so a short page leaves nothing behind it.
        cursor = rows.length === o.pageRows ? rows[rows.length - 1]!.id : before - 1n;
        // An empty window below the horizon: skip to the next batch stored (a resume from long ago).
        if (rows.length === 0 && before < bound) {
          const next = await this.horizon.nextStored(cursor >> BATCH_SHIFT);
          const start = next === undefined ? bound : next << BATCH_SHIFT;
          if (start > cursor + 1n) cursor = (start < bound ? start : bound) - 1n;
        }
        if (res.writableLength > this.maxBufferedBytes) this.maxBufferedBytes = res.writableLength;
        if (res.writableLength > o.highWaterBytes && !(await drained(res, o.drainTimeoutMs))) {
          if (closed) break;
          this.cutoffs++;
          const reason = `client too slow: ${res.writableLength} bytes unsent after ${o.drainTimeoutMs} ms; resume with Last-Event-ID ${cursor}`;
          res.end(`event: cutoff\ndata: ${JSON.stringify({ reason, lastEventId: cursor.toString() })}\n\n`);
          // What the socket still holds is let go after a grace period, whether or not the client reads it.
          setTimeout(() => res.destroy(), o.graceMs).unref();
          return;
        }
      }
    } catch (err) {
      if (!closed && !res.writableEnded) res.end(`event: error\ndata: ${JSON.stringify({ reason: (err as Error).message })}\n\n`);
    } finally {
      clearInterval(heartbeat);
      unsubscribe();
      req.off('close', onClose);
      if (!res.writableEnded) res.end();
    }
  }
}

/** Whether the response drained (or closed) within the timeout. */
function drained(res: ServerResponse, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => { clearTimeout(timer); res.off('drain', onDrain); res.off('close', onDrain); resolve(ok); };
    const onDrain = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    res.once('drain', onDrain);
    res.once('close', onDrain);
  });
}
