// Publishes virtual agents' events as the agent's Kafka sink does (apps/agent/src/kafka): one spool
// per agent read in sends of up to batchBytes after lingerMs, runs of one stream as messages keyed by
// host (the default partitioner), sent by the agent's own Publisher (@probefleet/publish: idempotent
// producer, one request in flight, acks=-1, a fresh producer after a failure, full-jitter backoff).
// Virtual agents share `producers` publishers (a real fleet has one per host): an agent always uses
// the same one, so its events keep their order.
import { AgentOutbox, type AgentMessage } from '@probefleet/fleet-sim';
import type { Event } from '@probefleet/events';
import { Publisher } from '@probefleet/publish';
import type { KafkaClient } from '@probefleet/kafka';
import type { Signer } from '@probefleet/signature';
import type { Logger } from 'pino';

export interface PublisherOptions {
  topic: string;
  producers: number;
  batchBytes: number;
  lingerMs: number;
  /**
   * A message holds at most this much event time of its agent (ns): a fleet played faster than
   * real time (--rate 0) sends what each agent would have sent in one linger, not a backlog.
   */
  windowNs?: number;
  /** Give up when a send has failed for this long. */
  retryForMs: number;
  /** Each host's signer, as each agent signs with its own key (none: unsigned, AGENT_IDENTITY=off). */
  signerOf?: (host: string) => Signer;
}

export interface PublishStats {
  eventsAcked: number;
  messages: number;
  sends: number;
  bytes: number;
  sendErrors: number;
}

/** Room left in a send once it holds this little: an event is ~0.6 KiB. */
const MIN_ROOM = 4096;

class Lane {
  readonly hosts: string[] = [];
  private next = 0;

  constructor(
    private readonly publisher: Publisher,
    private readonly outboxes: Map<string, AgentOutbox>,
    private readonly signers: Map<string, Signer>,
  ) {}

  get pendingBytes(): number {
    let n = 0;
    for (const h of this.hosts) n += (this.outboxes.get(h) as AgentOutbox).bytes;
    return n;
  }

  /** One send's messages: each agent's oldest events in turn, at most batchBytes in all (the broker's 1 MB batch limit). */
  take(batchBytes: number, windowNs?: number, flush = false): AgentMessage[] {
    const out: AgentMessage[] = [];
    let room = batchBytes;
    for (let i = 0; i < this.hosts.length && room >= MIN_ROOM; i++) {
      const host = this.hosts[(this.next + i) % this.hosts.length] as string;
      const outbox = this.outboxes.get(host) as AgentOutbox;
      if (outbox.size === 0) continue;
      for (const m of outbox.take(Math.min(room, outbox.batchBytes), windowNs, flush)) {
        out.push(m);
        room -= m.value.length;
      }
    }
    this.next = (this.next + 1) % Math.max(1, this.hosts.length);
    return out;
  }

  /** The agent's send-until-acked; false when it kept failing for `retryForMs`. */
  send(messages: readonly AgentMessage[], retryForMs: number): Promise<boolean> {
    return this.publisher.sendUntilAcked(
      messages.map(({ key, value: bytes, headers }) => {
        const value = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        const signer = this.signers.get(key);
        return { key, value, headers: signer ? { ...headers, ...signer.headers({ key, value, headers }) } : { ...headers } };
      }),
      AbortSignal.timeout(retryForMs),
    );
  }

  dropProducer(): Promise<void> {
    return this.publisher.dropProducer();
  }
}

export class FleetPublisher {
  private readonly outboxes = new Map<string, AgentOutbox>();
  private readonly lanes: Lane[];
  private readonly loops: Promise<void>[];
  private closing = false;
  private failure: Error | null = null;
  private readonly wake = new Set<() => void>();
  readonly stats: PublishStats = { eventsAcked: 0, messages: 0, sends: 0, bytes: 0, sendErrors: 0 };

  constructor(
    kafka: KafkaClient,
    hosts: readonly string[],
    private readonly opts: PublisherOptions,
    private readonly log: Logger,
  ) {
    // The agent's retry defaults (kafka.retry: 300 ms doubling up to 10 s).
    const hooks = {
      failed: (e: unknown, attempt: number) => {
        this.stats.sendErrors++;
        log.warn({ err: e, attempt }, 'send failed: retrying on a fresh producer');
      },
      acked: () => {},
    };
    const signers = new Map(opts.signerOf ? hosts.map((h) => [h, opts.signerOf!(h)] as const) : []);
    const lane = () => new Lane(new Publisher(kafka, opts.topic, { initialMs: 300, maxMs: 10_000 }, hooks), this.outboxes, signers);
    this.lanes = Array.from({ length: Math.max(1, Math.min(opts.producers, hosts.length)) }, lane);
    hosts.forEach((host, i) => {
      const lane = this.lanes[i % this.lanes.length] as Lane;
      lane.hosts.push(host);
      this.outboxes.set(host, new AgentOutbox(opts.batchBytes));
    });
    this.loops = this.lanes.map((lane) => this.publishLoop(lane));
  }

  /** The agent's spool write. */
  write(event: Event): void {
    const outbox = this.outboxes.get(event.host);
    if (outbox === undefined) throw new Error(`no virtual agent for host ${event.host}`);
    outbox.push(event);
  }

  /** Events written and not acked yet. */
  get backlog(): number {
    let n = 0;
    for (const o of this.outboxes.values()) n += o.size;
    return n;
  }

  /** Throws the error that stopped publishing, if any. */
  check(): void {
    if (this.failure) throw this.failure;
  }

  /** Sends everything written, then disconnects. */
  async close(): Promise<void> {
    this.closing = true;
    for (const w of [...this.wake]) w();
    await Promise.all(this.loops);
    await Promise.all(this.lanes.map((l) => l.dropProducer()));
    this.check();
  }

  private async publishLoop(lane: Lane): Promise<void> {
    while (this.failure === null) {
      const pending = lane.pendingBytes;
      if (pending === 0 && this.closing) return;
      // The agent's publish loop: wait lingerMs for a fuller send unless batchBytes are waiting already.
      if (pending < this.opts.batchBytes && !this.closing) await this.sleep(this.opts.lingerMs);
      const messages = lane.take(this.opts.batchBytes, this.opts.windowNs, this.closing);
      if (messages.length === 0) {
        await this.sleep(1); // every window still being written: let the generator run
        continue;
      }
      await this.sendUntilAcked(lane, messages);
    }
  }

  private async sendUntilAcked(lane: Lane, messages: AgentMessage[]): Promise<void> {
    if (!(await lane.send(messages, this.opts.retryForMs))) {
      this.failure = new Error(`Kafka send failed for ${Math.round(this.opts.retryForMs / 1000)} s`);
      return;
    }
    this.stats.sends++;
    for (const m of messages) {
      this.stats.messages++;
      this.stats.eventsAcked += m.count;
      this.stats.bytes += m.value.length;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wake.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wake.add(done);
    });
  }
}
