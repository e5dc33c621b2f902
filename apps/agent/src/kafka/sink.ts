// The kafka sink: events go to the disk spool at once (one write per event-loop turn), and a
// publish loop sends what the spool holds, in order, as Kafka messages of consecutive events of one
// stream (key = host), acking the spool only after the broker acked (acks=-1). What a previous
// process left in the spool is therefore sent first, with its original envelopes.
import { crc32 } from 'node:zlib';
import { batchValue, linesHeaders, runsOf, streamKey, type EncodedEvent, type Event, type LineRecord, type StreamIdentity } from '@probefleet/events';
import type { Kafka, Message, Producer } from 'kafkajs';
import type { KafkaConfig } from '../config';
import type { Logger } from '../log';
import type { AgentMetrics } from '../metrics';
import type { Sink } from '../sink';
import type { LineInput } from '../spool/frame';
import type { Spool, SpooledRecord } from '../spool/spool';
import { idempotentProducer } from './client';

export class KafkaSink implements Sink {
  private pending: LineInput[] = [];
  private readonly tags = new WeakMap<StreamIdentity, number>();
  private flushed: Promise<void> | null = null;
  private wakePublisher: (() => void) | null = null;
  private spaceWaiters: (() => void)[] = [];
  private producer: Producer | null = null;
  private stopping = false;
  private readonly abort = new AbortController();
  private readonly loop: Promise<void>;

  constructor(
    private readonly spool: Spool,
    private readonly kafka: Kafka,
    private readonly cfg: KafkaConfig,
    private readonly metrics: AgentMetrics,
    private readonly log: Logger,
  ) {
    metrics.setSpoolBytes(spool.unackedBytes);
    this.loop = this.publishLoop().catch((e: unknown) => {
      // A spool I/O failure: nothing more can be delivered, but reading must not block forever.
      log.error({ err: e }, 'publish loop failed');
      this.stopping = true;
      this.releaseSpace(true);
    });
  }

  /** Takes a checked event (the run checks at the edge); spooled at the end of this event-loop turn. */
  write(e: EncodedEvent): void {
    let tag = this.tags.get(e.stream);
    if (tag === undefined) this.tags.set(e.stream, (tag = streamTag(e.stream)));
    this.pending.push({ line: e.line, tag, seq: e.seq });
    this.flushed ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.flushPending();
        resolve();
      }),
    );
  }

  private flushPending(): void {
    this.flushed = null;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.spool.appendLines(batch);
    this.metrics.add('eventsSpooled', batch.length);
    this.metrics.setSpoolBytes(this.spool.unackedBytes);
    this.wakePublisher?.();
  }

  async ready(signal?: AbortSignal): Promise<void> {
    await this.flushed;
    if (!this.spool.full || this.stopping || signal?.aborted) return;
    this.metrics.add('readPauses');
    this.metrics.setReadingPaused(true);
    this.log.warn({ spoolBytes: this.spool.unackedBytes }, 'spool full: reading paused until the broker acks');
    // A stop while paused must not wait for the broker: the run disarms, drains and flushes.
    await new Promise<void>((resolve) => {
      this.spaceWaiters.push(resolve);
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    this.metrics.setReadingPaused(false);
    this.log.info({ spoolBytes: this.spool.unackedBytes }, 'spool has room: reading resumed');
  }

  private releaseSpace(force = false): void {
    if (this.spaceWaiters.length === 0 || (!force && this.spool.full)) return;
    const waiters = this.spaceWaiters;
    this.spaceWaiters = [];
    for (const w of waiters) w();
  }

  private async publishLoop(): Promise<void> {
    for (;;) {
      if (this.spool.unreadBytes === 0) {
        if (this.stopping) return;
        await new Promise<void>((resolve) => (this.wakePublisher = resolve));
        this.wakePublisher = null;
        continue;
      }
      if (this.spool.unreadBytes < this.cfg.batchBytes && !this.stopping) await sleep(this.cfg.lingerMs, this.abort.signal);
      const records = this.spool.read(this.cfg.batchBytes);
      const messages = this.messages(records);
      if (messages.length > 0 && !(await this.sendUntilAcked(messages))) return;
      this.spool.ack((records[records.length - 1] as SpooledRecord).end);
      this.metrics.add('eventsPublished', messages.reduce((n, m) => n + m.count, 0));
      this.metrics.setSpoolBytes(this.spool.unackedBytes);
      this.releaseSpace();
    }
  }

  private messages(records: SpooledRecord[]): KafkaMessage[] {
    return messagesOf(records, (e) => {
      this.metrics.add('eventsDropped');
      this.log.error({ err: e }, 'spooled record is not JSON: dropped');
    });
  }

  /** Sends until the broker acks; false when close() gave up waiting. */
  private async sendUntilAcked(messages: Message[]): Promise<boolean> {
    let backoff = this.cfg.retry.initialMs;
    for (let attempt = 1; ; attempt++) {
      if (this.abort.signal.aborted) return false;
      const started = process.hrtime.bigint();
      try {
        this.producer ??= idempotentProducer(this.kafka);
        await this.producer.connect();
        await this.producer.send({ topic: this.cfg.topic, acks: -1, messages: messages.map(({ key, value, headers }) => ({ key, value, headers })) });
        this.metrics.publishLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
        if (!this.metrics.brokerReachable) this.log.info({ attempt }, 'broker acked: publishing');
        this.metrics.brokerReachable = true;
        return true;
      } catch (e) {
        this.metrics.add('publishErrors');
        if (this.metrics.brokerReachable || attempt === 1) this.log.warn({ err: e, attempt, spoolBytes: this.spool.unackedBytes }, 'publish failed: retrying, events stay spooled');
        this.metrics.brokerReachable = false;
        // A fresh producer (new producer id) after a failure: a retried batch may then be a duplicate, never a gap.
        await this.dropProducer();
        // Full jitter (a uniform wait in [0, backoff)): a fleet that lost the same broker does not
        // come back in lockstep.
        await sleep(Math.random() * backoff, this.abort.signal);
        backoff = Math.min(backoff * 2, this.cfg.retry.maxMs);
      }
    }
  }

  private async dropProducer(): Promise<void> {
    const p = this.producer;
    this.producer = null;
    await p?.disconnect().catch(() => undefined);
  }

  /** Spools what is pending, then waits (up to flushTimeoutS) for the broker to ack everything. */
  async close(): Promise<void> {
    this.flushPending();
    this.stopping = true;
    this.wakePublisher?.();
    this.releaseSpace(true);
    const acked = await raceTimeout(this.loop.then(() => true), this.cfg.flushTimeoutS * 1000, false);
    if (!acked) {
      this.log.warn({ spoolBytes: this.spool.unackedBytes }, 'flush timed out: unacked events stay in the spool for the next start');
      this.abort.abort();
      await this.dropProducer();
      // A send stuck in kafkajs' own retries is not waited for beyond this.
      await raceTimeout(this.loop, 5000, undefined);
    }
    await this.dropProducer();
    this.spool.close();
  }
}

/** The spool frame's 32-bit stream tag (a CRC of host, bootId, instance). */
export function streamTag(s: StreamIdentity): number {
  return crc32(streamKey(s));
}

export type KafkaMessage = Message & { key: string; value: Buffer; count: number };

/**
 * Runs of consecutive events of one stream, one Kafka message each, from the spooled lines and
 * their frame headers: only a run's first line is parsed (for the key and headers). Records an
 * older agent spooled carry no position in their frame and are parsed; one that is not JSON is
 * passed to `bad` and left out.
 */
export function messagesOf(records: readonly SpooledRecord[], bad: (e: unknown) => void): KafkaMessage[] {
  const parse = (payload: Uint8Array): Event | null => {
    try {
      return JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8')) as Event;
    } catch (e) {
      bad(e);
      return null;
    }
  };
  const lines: (LineRecord & { event?: Event })[] = [];
  for (const r of records) {
    if (r.tag !== undefined && r.seq !== undefined) {
      lines.push({ line: r.payload, streamKey: String(r.tag), seq: r.seq });
      continue;
    }
    const ev = parse(r.payload);
    if (ev) lines.push({ line: r.payload, streamKey: String(streamTag(ev)), seq: ev.seq, event: ev });
  }
  const out: KafkaMessage[] = [];
  for (const run of runsOf(lines)) {
    const first = run[0] as (typeof lines)[number];
    const id = first.event ?? parse(first.line);
    if (!id) continue;
    const value = batchValue(run.map((r) => r.line));
    out.push({
      key: id.host,
      value: Buffer.from(value.buffer, value.byteOffset, value.byteLength),
      headers: { ...linesHeaders(id, first.seq, first.seq + run.length - 1) },
      count: run.length,
    });
  }
  return out;
}

/** `work`, or `fallback` after `ms`; the timer is cleared either way, so it never holds the process open. */
async function raceTimeout<T>(work: Promise<T>, ms: number, fallback: T): Promise<T> {
  const timer = new AbortController();
  try {
    return await Promise.race([work, sleep(ms, timer.signal).then(() => fallback)]);
  } finally {
    timer.abort();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
