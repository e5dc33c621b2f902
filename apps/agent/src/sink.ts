// Where events go: `stdout` here, `kafka` in kafka/sink.ts. Sinks take encoded events
// synchronously (no promise per event) and hand them over once per event-loop turn.
import { encodeEvent, EventSchema, schemaOrderLine, type EncodedEvent, type Event } from '@probefleet/events';
import type { Format } from './config';
import { TcpStatesFormatter } from './format-text';

export interface Sink {
  /** Takes a checked event; it is handed over (stdout: written; kafka: spooled) before the next event-loop turn. */
  write(event: EncodedEvent): void;
  /**
   * Resolves when what was written is handed over and the sink takes more, or `signal` aborts:
   * the reader awaits it between batches (backpressure).
   */
  ready(signal?: AbortSignal): Promise<void>;
  /** Flushes (bounded) and releases; for Kafka, whatever is not acked stays spooled. */
  close(): Promise<void>;
}

export class StdoutSink implements Sink {
  private readonly text: TcpStatesFormatter | null;
  private headerDone = false;
  private pending: string[] = [];
  private flushed: Promise<void> | null = null;
  private drained: Promise<void> | null = null;

  constructor(
    format: Format,
    private readonly out: NodeJS.WritableStream = process.stdout,
  ) {
    this.text = format === 'text' ? new TcpStatesFormatter() : null;
  }

  write(e: EncodedEvent): void {
    const line = this.text ? this.textLine(e) : jsonLine(e);
    if (line === null) return;
    this.pending.push(line);
    this.flushed ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.flush();
        resolve();
      }),
    );
  }

  private textLine(e: EncodedEvent): string | null {
    const line = (this.text as TcpStatesFormatter).format(JSON.parse(e.line) as Event);
    if (line === null || this.headerDone) return line;
    this.headerDone = true;
    return `${(this.text as TcpStatesFormatter).header()}\n${line}`;
  }

  /** One write for everything pending: a write per event was a third of the agent's CPU. */
  private flush(): void {
    this.flushed = null;
    if (this.pending.length === 0) return;
    const chunk = `${this.pending.join('\n')}\n`;
    this.pending = [];
    if (!this.out.write(chunk)) this.drained ??= new Promise<void>((resolve) => this.out.once('drain', () => ((this.drained = null), resolve())));
  }

  async ready(): Promise<void> {
    await this.flushed;
    await this.drained;
  }

  async close(): Promise<void> {
    this.flush();
    await this.drained;
  }
}

/**
 * The NDJSON line as stdout has always printed it: in the key order of zod's EventSchema (it
 * parsed every event). Hits are built in that order apart from `type`, moved by schemaOrderLine;
 * the rare other events still go through the schema.
 */
function jsonLine(e: EncodedEvent): string {
  return e.type === 'probe.hit' ? schemaOrderLine(e) : encodeEvent(EventSchema.parse(JSON.parse(e.line)));
}
