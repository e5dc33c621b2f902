// Kafka messages to events, or to dead letters with a kind and a reason: too large to read
// (oversize), not events (the decoder's kinds), keyed by another host than their events'
// (key-mismatch: one host's events must stay in one partition, in order), or older than the
// store keeps (expired), or the control stream's (forged: policies come from the API alone).
import { CONTROL_EVENT_TYPES, CONTROL_STREAM, decodeBatch, formatDecodeFailure, timeToMs, type Event } from '@probefleet/events';
import type { KafkaRecord } from '../consumer/kafka-record';
import type { DeadLetter } from './dead-letters';
import { horizon, type RetentionPolicy } from './partitions';
import { KEPT_TYPES } from './kept';

export interface Positioned { event: Event; record: KafkaRecord }

export interface DecodeOptions { policy: RetentionPolicy; maxMessageBytes: number; now: () => number }

export function decodeRecords(records: readonly KafkaRecord[], options: DecodeOptions): { events: Positioned[]; deadLetters: DeadLetter[] } {
  const events: Positioned[] = [];
  const deadLetters: DeadLetter[] = [];
  const nowMs = options.now();
  const oldest = horizon('tcp_transitions', options.policy, nowMs);
  const oldestEvent = horizon('events', options.policy, nowMs);
  for (const record of records) {
    const letter = (kind: string, reason: string) => deadLetters.push({ record, kind, reason });
    if (record.refused) {
      letter(record.refused.kind, record.refused.reason);
      continue;
    }
    const value = record.value;
    if (value === null || value.length === 0) {
      letter('malformed', 'empty message');
      continue;
    }
    if (value.length > options.maxMessageBytes) {
      letter('oversize', `${value.length} bytes, over the ${options.maxMessageBytes}-byte limit; not parsed`);
      continue;
    }
    const decoded = decodeBatch(value);
    if (!decoded.ok) {
      letter(decoded.kind, formatDecodeFailure(decoded));
      continue;
    }
    const key = record.key?.toString('utf8');
    const host = decoded.value[0]!.host;
    if (key !== host) {
      letter('key-mismatch', `key ${key === undefined ? '(none)' : JSON.stringify(key.slice(0, 300))} is not the events' host ${JSON.stringify(host)}`);
      continue;
    }
    const forged = decoded.value.find((e) => CONTROL_EVENT_TYPES.includes(e.type) || e.instance === CONTROL_STREAM.instance || e.host === CONTROL_STREAM.host);
    if (forged) {
      letter('rejected', `seq ${forged.seq}: ${forged.type} in stream ${forged.host}/${forged.instance}: the control stream and its events are written by the policies API only`);
      continue;
    }
    const expired = decoded.value.filter((e) => !KEPT_TYPES.has(e.type) && timeToMs(e.time) < (e.type === 'probe.hit' ? oldest : oldestEvent));
    if (expired.length > 0) {
      letter('expired', `${expired.length} of ${decoded.value.length} events older than the retention horizon ${new Date(Math.min(oldest, oldestEvent)).toISOString()} (first: seq ${expired[0]!.seq} at ${expired[0]!.time})`);
      continue;
    }
    for (const event of decoded.value) events.push({ event, record });
  }
  return { events, deadLetters };
}
