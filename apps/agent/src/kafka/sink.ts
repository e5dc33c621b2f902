// The kafka sink: events go to the disk spool at once (one write per event-loop turn), and a
// publish loop sends what the spool holds, in order, as Kafka messages of consecutive events of one
// stream (key = host), acking the spool only after the broker acked (acks=-1). What a previous
// process left in the spool is therefore sent first, with its original envelopes.
import { batchHeaders, decodeEventValue, encodeBatch, formatDecodeFailure, type Event } from '@probefleet/events';
import type { Kafka, Message, Producer } from 'kafkajs';
import type { KafkaConfig } from '../config';
import type { Logger } from '../log';
import type { AgentMetrics } from '../metrics';
import type { Sink } from '../sink';
import type { Spool, SpooledRecord } from '../spool/spool';
import { idempotentProducer } from './client';

export class KafkaSink implements Sink {
  private pending: Buffer[] = [];
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

  async write(event: Event): Promise<void> {
    // An invalid event would be dead-lettered downstream: it is an agent bug, counted and logged here.
    const checked = decodeEventValue(event);
    if (!checked.ok) {
      this.metrics.add('eventsDropped');
      this.log.error({ type: event.type, seq: event.seq, problem: formatDecodeFailure(checked) }, 'invalid event not spooled');
      return;
    }
    this.pending.push(Buffer.from(JSON.stringify(event)));
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
    this.spool.append(batch);
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

  /** Runs of consecutive events of one stream, one Kafka message each. */
  private messages(records: SpooledRecord[]): (Message & { count: number })[] {
    const runs: Event[][] = [];
    for (const r of records) {
      let ev: Event;
      try {
        ev = JSON.parse(r.payload.toString('utf8')) as Event;
      } catch (e) {
        this.metrics.add('eventsDropped');
        this.log.error({ err: e }, 'spooled record is not JSON: dropped');
        continue;
      }
      const run = runs[runs.length - 1];
      const prev = run?.[run.length - 1];
      if (run && prev && prev.instance === ev.instance && prev.host === ev.host && prev.bootId === ev.bootId && ev.seq === prev.seq + 1) run.push(ev);
      else runs.push([ev]);
    }
    return runs.map((events) => ({
      key: (events[0] as Event).host,
      value: encodeBatch(events),
      headers: { ...batchHeaders(events) },
      count: events.length,
    }));
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
        await sleep(backoff, this.abort.signal);
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
