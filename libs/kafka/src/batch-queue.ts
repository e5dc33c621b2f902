// Batches from a stream of messages, as the consumer group's eachBatch needs them: every message
// read for a partition and not yet handed out goes into its next batch; batches of different
// partitions run at once (up to `concurrency`), one partition's strictly one after the other.
// The stream is paused while `maxQueued` messages wait, so a slow store bounds memory.
import type { Batch, BatchControl, EachBatch } from './types';

export interface StreamMessage {
  partition: number;
  offset: bigint;
  key?: Buffer | null;
  value?: Buffer | null;
  headers: Map<Buffer | string, Buffer>;
  /** Commits past this message. */
  commit(): void | Promise<void>;
}

export interface MessageSource<M> {
  on(event: 'data', listener: (m: M) => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

interface Partition<M> {
  queued: M[];
  /** The offset after the last message queued: a re-read after a rebalance starts below it. */
  next: bigint;
  running: boolean;
}

export class BatchQueue<M extends StreamMessage> {
  private readonly parts = new Map<number, Partition<M>>();
  private running = 0;
  private queued = 0;
  private cursor = 0;
  private closing = false;
  private source: MessageSource<M> | undefined;
  private idle: (() => void)[] = [];
  private scheduled = false;

  constructor(
    private readonly topic: string,
    private readonly concurrency: number,
    private readonly eachBatch: EachBatch,
    private readonly owns: (partition: number) => boolean,
    private readonly failed: (e: unknown) => void,
    private readonly maxQueued = 20_000,
  ) {}

  attach(source: MessageSource<M>): void {
    this.source = source;
    source.on('data', (m) => this.push(m));
  }

  /** After a rebalance: what waits for a partition this member lost is dropped (its new owner reads it from the commit). */
  reassigned(): void {
    for (const [n, p] of this.parts) {
      if (this.owns(n)) continue;
      this.queued -= p.queued.length;
      p.queued = [];
      p.next = -1n;
    }
    this.flow();
  }

  /** Hands out nothing more; resolves when the batches in hand are done. */
  drained(): Promise<void> {
    this.closing = true;
    return this.running === 0 ? Promise.resolve() : new Promise((resolve) => this.idle.push(resolve));
  }

  private push(m: M): void {
    let p = this.parts.get(m.partition);
    if (!p) this.parts.set(m.partition, (p = { queued: [], next: -1n, running: false }));
    if (m.offset < p.next) return; // queued or handed out already: a re-read from the committed offset
    p.next = m.offset + 1n;
    p.queued.push(m);
    this.queued++;
    this.flow();
    // After this I/O turn: a fetch's messages arrive one by one in one turn, and make one batch.
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.schedule();
      });
    }
  }

  private flow(): void {
    if (this.queued >= this.maxQueued) this.source?.pause();
    else this.source?.resume();
  }

  private schedule(): void {
    const ids = [...this.parts.keys()];
    for (let i = 0; i < ids.length && this.running < this.concurrency && !this.closing; i++) {
      const n = ids[(this.cursor + i) % ids.length] as number;
      const p = this.parts.get(n) as Partition<M>;
      if (p.running || p.queued.length === 0) continue;
      const batch = p.queued;
      p.queued = [];
      this.queued -= batch.length;
      p.running = true;
      this.running++;
      void this.run(n, batch).finally(() => {
        p.running = false;
        this.running--;
        if (this.running === 0 && this.closing) for (const f of this.idle.splice(0)) f();
        this.schedule();
      });
    }
    // Round robin: the next round starts after this one's first partition, so none waits behind the others.
    this.cursor = (this.cursor + 1) % Math.max(1, ids.length);
    this.flow();
  }

  private async run(partition: number, messages: M[]): Promise<void> {
    const batch: Batch = {
      topic: this.topic,
      partition,
      messages: messages.map((m) => ({ offset: String(m.offset), key: m.key ?? null, value: m.value ?? null, headers: plainHeaders(m.headers) })),
    };
    const control: BatchControl = {
      owned: () => !this.closing && this.owns(partition),
      heartbeat: () => Promise.resolve(), // the client heartbeats on its own timer
      commit: async (last) => {
        const m = messages.find((x) => x.offset === BigInt(last));
        if (!m) throw new Error(`offset ${last} is not in this batch of ${this.topic}[${partition}]`);
        await m.commit();
      },
    };
    try {
      await this.eachBatch(batch, control);
    } catch (e) {
      this.failed(e);
    }
  }
}

function plainHeaders(h: Map<Buffer | string, Buffer>): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of h) out[String(k)] = v;
  return out;
}
