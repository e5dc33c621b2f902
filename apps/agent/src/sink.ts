// Where events go: `stdout` here, `kafka` in kafka/sink.ts.
import { encodeEvent, EventSchema, type Event } from '@probefleet/events';
import type { Format } from './config';
import { TcpStatesFormatter } from './format-text';

export interface Sink {
  /** Resolves when the event is handed over (stdout: written; kafka: on its way to the spool). */
  write(event: Event): Promise<void>;
  /** Resolves when the sink takes more, or `signal` aborts: the reader awaits it between batches (backpressure). */
  ready(signal?: AbortSignal): Promise<void>;
  /** Flushes (bounded) and releases; for Kafka, whatever is not acked stays spooled. */
  close(): Promise<void>;
}

export class StdoutSink implements Sink {
  private readonly text: TcpStatesFormatter | null;
  private headerDone = false;

  constructor(
    format: Format,
    private readonly out: NodeJS.WritableStream = process.stdout,
  ) {
    this.text = format === 'text' ? new TcpStatesFormatter() : null;
  }

  async write(event: Event): Promise<void> {
    let line: string | null;
    if (this.text) {
      line = this.text.format(event);
      if (line !== null && !this.headerDone) {
        line = `${this.text.header()}\n${line}`;
        this.headerDone = true;
      }
    } else {
      // Never emit what the aggregator would dead-letter: a schema failure here is an agent bug.
      line = encodeEvent(EventSchema.parse(event));
    }
    if (line === null) return;
    if (!this.out.write(`${line}\n`)) await new Promise<void>((resolve) => this.out.once('drain', resolve));
  }

  async ready(): Promise<void> {}

  async close(): Promise<void> {}
}
