// Messages that cannot be events: the raw bytes, where they were read, a kind and a reason.
import type { PoolClient } from 'pg';
import type { KafkaRecord } from '../consumer/kafka-record';

/** Why a message was not stored (the decoder's kinds, and the store's own). */
export type DeadLetterKind = 'malformed' | 'unknown-version' | 'unknown-type' | 'oversize' | 'key-mismatch' | 'expired' | 'rejected' | string;

export interface DeadLetter { record: KafkaRecord; kind: DeadLetterKind; reason: string }

export async function insertDeadLetters(client: PoolClient, letters: readonly DeadLetter[]): Promise<void> {
  if (letters.length === 0) return;
  await client.query(
    `INSERT INTO dead_letters (topic, partition, "offset", key, raw, kind, reason)
     SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::bytea[], $6::text[], $7::text[])
     ON CONFLICT (topic, partition, "offset") DO NOTHING`,
    [
      letters.map((d) => d.record.topic), letters.map((d) => d.record.partition), letters.map((d) => d.record.offset),
      letters.map((d) => d.record.key?.toString('utf8').replace(/\0/g, '\uFFFD') ?? null), letters.map((d) => d.record.value ?? Buffer.alloc(0)),
      letters.map((d) => d.kind), letters.map((d) => d.reason),
    ]);
}
