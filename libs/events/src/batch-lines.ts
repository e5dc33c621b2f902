// Kafka messages from encoded lines, without parsing them: a message value is the JSON array of
// consecutive events of one stream, i.e. `[` + lines joined by `,` + `]` — the same bytes
// `encodeBatch` gives for the parsed events.
import type { BatchHeaders } from './codec';
import type { StreamIdentity } from './envelope';
import { EVENT_VERSION } from './schemas';

/**
 * The agent's publishing defaults (kafka.batchBytes, kafka.lingerMs), which the fleet simulator
 * plays too. A send waits up to the linger for its batch to fill: 200 ms keeps a host's messages
 * at ~20 events and more from ~100 events/s, where each message's fixed costs (a produce request,
 * an Ed25519 signature on the agent, its check and its offset on the aggregator) stop mattering,
 * for ≤ 0.2 s more from kernel to `probefleet tail` (bench/results/latency.json).
 */
export const AGENT_BATCH_BYTES = 512 * 1024;
export const AGENT_LINGER_MS = 200;

export interface LineRecord {
  /** The event's encoded line (UTF-8). */
  readonly line: Uint8Array;
  /** Equal keys = same stream (host, bootId, instance). */
  readonly streamKey: string;
  readonly seq: number;
}

/** Maximal runs of records of one stream with consecutive seqs, in order: one message each. */
export function runsOf<R extends LineRecord>(records: readonly R[]): R[][] {
  const runs: R[][] = [];
  let run: R[] | undefined;
  let prev: R | undefined;
  for (const r of records) {
    if (run !== undefined && prev !== undefined && prev.streamKey === r.streamKey && r.seq === prev.seq + 1) run.push(r);
    else runs.push((run = [r]));
    prev = r;
  }
  return runs;
}

const OPEN = 0x5b;
const COMMA = 0x2c;
const CLOSE = 0x5d;

/** `[a,b,c]` of the lines, in one allocation. */
export function batchValue(lines: readonly Uint8Array[]): Uint8Array {
  let total = lines.length + 1;
  for (const l of lines) total += l.length;
  const out = new Uint8Array(total);
  out[0] = OPEN;
  let at = 1;
  for (let i = 0; i < lines.length; i++) {
    if (i > 0) out[at++] = COMMA;
    const l = lines[i] as Uint8Array;
    out.set(l, at);
    at += l.length;
  }
  out[at] = CLOSE;
  return out;
}

/** The headers of a message of `stream`'s events seqFirst..seqLast (see batchHeaders). */
export function linesHeaders(stream: Pick<StreamIdentity, 'host' | 'instance'>, seqFirst: number, seqLast: number): BatchHeaders {
  return { v: String(EVENT_VERSION), host: stream.host, instance: stream.instance, 'seq-first': String(seqFirst), 'seq-last': String(seqLast) };
}

/** The stream key of an identity (what LineRecord.streamKey compares). */
export function streamKey(s: StreamIdentity): string {
  return `${s.host}\n${s.bootId}\n${s.instance}`;
}
