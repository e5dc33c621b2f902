// Kafka messages exactly as the agent's publish loop makes them (@probefleet/publish messagesOf):
// each send takes what the spool holds up to batchBytes; each run of consecutive events of one
// stream in it becomes one message, key = host, value = the run's encoded lines joined as a JSON
// array, headers from its seq range. The builder is @probefleet/events' (runsOf, batchValue,
// linesHeaders), the one the agent's publisher uses.
import { AGENT_BATCH_BYTES, batchValue, encodeEvent, linesHeaders, runsOf, streamKey, type BatchHeaders, type Event, type LineRecord } from '@probefleet/events';

export interface AgentMessage {
  key: string;
  value: Uint8Array;
  headers: BatchHeaders;
  /** Events in the message. */
  count: number;
}


const utf8 = new TextEncoder();

interface Line extends LineRecord {
  readonly event: Event;
  /** The event's monotonic time (ns), for sends cut by time. */
  readonly atNs: number;
}

const lineOf = (event: Event): Line => ({ event, line: utf8.encode(encodeEvent(event)), streamKey: streamKey(event), seq: event.seq, atNs: Number(event.monoNs) });

/**
 * One agent's spool: events in the order they were written, read in sends of up to `batchBytes`
 * (at least one event), as the agent's publish loop reads its spool.
 */
export class AgentOutbox {
  private lines: Line[] = [];
  private head = 0;
  private pendingBytes = 0;

  constructor(readonly batchBytes = AGENT_BATCH_BYTES) {}

  push(event: Event): void {
    const l = lineOf(event);
    this.lines.push(l);
    this.pendingBytes += l.line.length;
  }

  /** Bytes waiting (the agent's spool.unreadBytes). */
  get bytes(): number {
    return this.pendingBytes;
  }

  get size(): number {
    return this.lines.length - this.head;
  }

  /**
   * The next send's messages: up to `maxBytes` (batchBytes) of the oldest events (at least one), as
   * messages; only those within `windowNs` of the oldest event's time when given, and only once
   * that window is written or `flush` (a fleet played faster than real time sends what a real
   * agent would have had in one linger).
   */
  take(maxBytes = this.batchBytes, windowNs = Infinity, flush = false): AgentMessage[] {
    if (this.size === 0) return [];
    let end = this.head;
    let bytes = 0;
    const until = (this.lines[this.head] as Line).atNs + windowNs;
    // A window still being written waits (as the agent lingers), unless it is the last.
    if (Number.isFinite(windowNs) && !flush && (this.lines[this.lines.length - 1] as Line).atNs < until && this.pendingBytes < maxBytes) return [];
    while (end < this.lines.length && (end === this.head || (bytes + (this.lines[end] as Line).line.length <= maxBytes && (this.lines[end] as Line).atNs < until))) {
      bytes += (this.lines[end] as Line).line.length;
      end++;
    }
    const messages = messagesOf(this.lines.slice(this.head, end));
    this.pendingBytes -= bytes;
    this.head = end;
    if (this.head > 4096 && this.head * 2 > this.lines.length) {
      this.lines = this.lines.slice(this.head);
      this.head = 0;
    }
    return messages;
  }
}

/** Runs of consecutive events of one stream → one message each (the agent's KafkaSink.messages). */
export function agentMessages(events: readonly Event[]): AgentMessage[] {
  return messagesOf(events.map(lineOf));
}

function messagesOf(lines: readonly Line[]): AgentMessage[] {
  return runsOf(lines).map((run) => {
    const first = run[0] as Line;
    return { key: first.event.host, value: batchValue(run.map((l) => l.line)), headers: linesHeaders(first.event, first.seq, first.seq + run.length - 1), count: run.length };
  });
}
