// Kafka messages exactly as the agent's publish loop makes them (apps/agent/src/kafka/sink.ts): each
// send takes what the spool holds up to batchBytes; each run of consecutive events of one stream in
// it becomes one message, key = host, value = encodeBatch(run), headers = batchHeaders(run).
import { batchHeaders, encodeEvent, type BatchHeaders, type Event } from '@probefleet/events';

export interface AgentMessage {
  key: string;
  value: string;
  headers: BatchHeaders;
  /** Events in the message. */
  count: number;
}

/** The agent's default kafka.batchBytes (512 KiB) and kafka.lingerMs (20). */
export const AGENT_BATCH_BYTES = 512 * 1024;
export const AGENT_LINGER_MS = 20;

/**
 * One agent's spool: events in the order they were written, read in sends of up to `batchBytes`
 * (at least one event), as the agent's publish loop reads its spool.
 */
export class AgentOutbox {
  private events: Event[] = [];
  private lines: string[] = [];
  private head = 0;
  private pendingBytes = 0;

  constructor(readonly batchBytes = AGENT_BATCH_BYTES) {}

  push(event: Event): void {
    const line = encodeEvent(event);
    this.events.push(event);
    this.lines.push(line);
    this.pendingBytes += line.length;
  }

  /** Bytes waiting (the agent's spool.unreadBytes). */
  get bytes(): number {
    return this.pendingBytes;
  }

  get size(): number {
    return this.events.length - this.head;
  }

  /** The next send's messages: up to `maxBytes` (batchBytes) of the oldest events (at least one), as messages. */
  take(maxBytes = this.batchBytes): AgentMessage[] {
    if (this.size === 0) return [];
    let end = this.head;
    let bytes = 0;
    while (end < this.events.length && (end === this.head || bytes + (this.lines[end] as string).length <= maxBytes)) {
      bytes += (this.lines[end] as string).length;
      end++;
    }
    const messages = messagesOf(this.events.slice(this.head, end), this.lines.slice(this.head, end));
    this.pendingBytes -= bytes;
    this.head = end;
    if (this.head > 4096 && this.head * 2 > this.events.length) {
      this.events = this.events.slice(this.head);
      this.lines = this.lines.slice(this.head);
      this.head = 0;
    }
    return messages;
  }
}

/** Runs of consecutive events of one stream → one message each (the agent's KafkaSink.messages). */
export function agentMessages(events: readonly Event[]): AgentMessage[] {
  return messagesOf(events, events.map(encodeEvent));
}

function messagesOf(events: readonly Event[], lines: readonly string[]): AgentMessage[] {
  const out: AgentMessage[] = [];
  let start = 0;
  for (let i = 1; i <= events.length; i++) {
    const prev = events[i - 1] as Event;
    const e = events[i];
    if (e !== undefined && e.instance === prev.instance && e.host === prev.host && e.bootId === prev.bootId && e.seq === prev.seq + 1) continue;
    const run = events.slice(start, i);
    // JSON.stringify of an array joins its elements' JSON with commas: the bytes encodeBatch makes.
    out.push({ key: prev.host, value: `[${lines.slice(start, i).join(',')}]`, headers: batchHeaders(run), count: run.length });
    start = i;
  }
  return out;
}
