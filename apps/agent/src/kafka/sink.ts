// The kafka sink: encoded events go to the disk spool at once (one write per event-loop turn), and
// a publish loop sends what the spool holds, in order, as Kafka messages of consecutive events of
// one stream (key = host), acking the spool only after the broker acked (acks=-1). What a previous
// process left in the spool is therefore sent first, with its original envelopes. The spool, the
// message builder and the send-until-acked loop are @probefleet/publish's.
import type { EncodedEvent, StreamIdentity } from '@probefleet/events';
import { explainKafkaError, type KafkaClient } from '@probefleet/kafka';
import type { Signer } from '@probefleet/signature';
import { messagesOf, Publisher, sleep, streamTag, type KafkaMessage, type LineInput, type Spool, type SpooledRecord } from '@probefleet/publish';
import type { KafkaConfig } from '../config';
import type { Logger } from '../log';
import type { AgentMetrics } from '../metrics';
import type { Sink } from '../sink';

export class KafkaSink implements Sink {
  private pending: LineInput[] = [];
  private readonly tags = new WeakMap<StreamIdentity, number>();
  private flushed: Promise<void> | null = null;
  private wakePublisher: (() => void) | null = null;
  private spaceWaiters: (() => void)[] = [];
  private readonly publisher: Publisher;
  private stopping = false;
  private readonly abort = new AbortController();
  private readonly loop: Promise<void>;

  constructor(
    private readonly spool: Spool,
    kafka: KafkaClient,
    private readonly cfg: KafkaConfig,
    private readonly metrics: AgentMetrics,
    private readonly log: Logger,
    private readonly signer?: Signer,
  ) {
    metrics.setSpoolBytes(spool.unackedBytes);
    this.publisher = new Publisher(kafka, cfg.topic, cfg.retry, {
      acked: (attempt, seconds) => {
        metrics.publishLatency.observe(seconds);
        if (!metrics.brokerReachable) log.info({ attempt }, 'broker acked: publishing');
        metrics.setBrokerReachable(true);
      },
      failed: (e, attempt) => {
        metrics.add('publishErrors');
        const cause = explainKafkaError(e, { tls: cfg.ssl !== false, sasl: cfg.sasl !== undefined });
        if (metrics.brokerReachable || attempt === 1) log.warn({ err: e, attempt, spoolBytes: spool.unackedBytes, ...(cause ? { cause } : {}) }, `publish failed: retrying, events stay spooled${cause ? `: ${cause}` : ''}`);
        metrics.setBrokerReachable(false);
      },
    });
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
      if (messages.length > 0 && !(await this.publisher.sendUntilAcked(messages, this.abort.signal))) return;
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
    }, this.signer);
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
      await this.publisher.dropProducer();
      // A send stuck in kafkajs' own retries is not waited for beyond this.
      await raceTimeout(this.loop, 5000, undefined);
    }
    await this.publisher.dropProducer();
    this.spool.close();
  }
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
