// The publish path shared by the agent and the simulator: Kafka messages from spooled lines (no
// JSON parse), and sends that go on until the broker acks (acks=-1) on an idempotent producer
// (@probefleet/kafka, whichever client KAFKA_CLIENT picks) — a fresh one after any failure (new
// producer id: a retried batch may be a duplicate, never a gap), waiting a fully jittered
// exponential backoff in between.
import { crc32 } from 'node:zlib';
import { batchValue, linesHeaders, runsOf, streamKey, type Event, type LineRecord, type StreamIdentity } from '@probefleet/events';
import type { KafkaClient, OutgoingMessage, Producer } from '@probefleet/kafka';
import type { Signer } from '@probefleet/signature';
import type { SpooledRecord } from './spool';

/** The spool frame's 32-bit stream tag (a CRC of host, bootId, instance). */
export function streamTag(s: StreamIdentity): number {
  return crc32(streamKey(s));
}

export type KafkaMessage = OutgoingMessage & { key: string; value: Buffer; count: number };

/**
 * Runs of consecutive events of one stream, one Kafka message each, from the spooled lines and
 * their frame headers: only a run's first line is parsed (for the key and headers). Records an
 * older agent spooled carry no position in their frame and are parsed; one that is not JSON is
 * passed to `bad` and left out. Two streams whose tags collide (2^-32) and whose seqs happen to
 * continue each other would share a message; the aggregator's batch check refuses it. With a
 * `signer`, each message carries its signature headers (once per message, not per event: an Ed25519
 * sign costs tens of microseconds).
 */
export function messagesOf(records: readonly SpooledRecord[], bad: (e: unknown) => void, signer?: Signer): KafkaMessage[] {
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
    const bytes = batchValue(run.map((r) => r.line));
    const value = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const headers: Record<string, string> = { ...linesHeaders(id, first.seq, first.seq + run.length - 1) };
    if (signer) Object.assign(headers, signer.headers({ key: id.host, value, headers }));
    out.push({ key: id.host, value, headers, count: run.length });
  }
  return out;
}

export interface SendHooks {
  /** Each failed attempt (before the wait). */
  failed(e: unknown, attempt: number): void;
  /** The send that succeeded, with its latency (s). */
  acked(attempt: number, seconds: number): void;
}

export interface RetryOptions {
  initialMs: number;
  maxMs: number;
}

/** Sends to one topic until acked; one producer at a time, replaced after a failure. */
export class Publisher {
  private producer: Producer | null = null;

  constructor(
    private readonly kafka: KafkaClient,
    private readonly topic: string,
    private readonly retry: RetryOptions,
    private readonly hooks: SendHooks,
    private readonly random: () => number = Math.random,
  ) {}

  /** Resolves true once the broker acked `messages`, false when `signal` aborts first. */
  async sendUntilAcked(messages: readonly OutgoingMessage[], signal: AbortSignal): Promise<boolean> {
    let backoff = this.retry.initialMs;
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) return false;
      const started = process.hrtime.bigint();
      try {
        this.producer ??= this.kafka.producer();
        await this.producer.send(this.topic, messages);
        this.hooks.acked(attempt, Number(process.hrtime.bigint() - started) / 1e9);
        return true;
      } catch (e) {
        this.hooks.failed(e, attempt);
        await this.dropProducer();
        // Full jitter (a uniform wait in [0, backoff)): agents that lost the same broker do not
        // come back in lockstep.
        await sleep(this.random() * backoff, signal);
        backoff = Math.min(backoff * 2, this.retry.maxMs);
      }
    }
  }

  async dropProducer(): Promise<void> {
    const p = this.producer;
    this.producer = null;
    await p?.close().catch(() => undefined);
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
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
