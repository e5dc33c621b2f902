// One Kafka batch into the store, atomically: decodes every message, appends the new events (the
// unique (instance, seq) absorbs redeliveries), updates every projection with them, and stores the
// messages that cannot be events as dead letters with the reason — all in one transaction.
import { decodeBatch, formatDecodeFailure, type Event } from '@probefleet/events';
import { Prisma } from '../generated/prisma/client';
import { insertEvents } from './event-rows';
import { project } from './project';
import { PROJECTION_LOCK, type Db } from './prisma';
import type { ModelViolation } from './projections/probes';

export interface KafkaRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

export interface IngestResult {
  stored: number;
  duplicates: number;
  deadLetters: number;
  violations: ModelViolation[];
}

interface Positioned { event: Event; partition: number; offset: bigint }

export function decodeRecords(records: readonly KafkaRecord[]): { events: Positioned[]; deadLetters: Prisma.DeadLetterCreateManyInput[] } {
  const events: Positioned[] = [];
  const deadLetters: Prisma.DeadLetterCreateManyInput[] = [];
  for (const r of records) {
    const offset = BigInt(r.offset);
    const where = { topic: r.topic, partition: r.partition, offset, key: r.key?.toString('utf8') ?? null };
    if (r.value === null || r.value.length === 0) {
      deadLetters.push({ ...where, raw: new Uint8Array(0), kind: 'malformed', reason: 'empty message' });
      continue;
    }
    const decoded = decodeBatch(r.value);
    if (!decoded.ok) {
      deadLetters.push({ ...where, raw: new Uint8Array(r.value), kind: decoded.kind, reason: formatDecodeFailure(decoded) });
      continue;
    }
    for (const event of decoded.value) events.push({ event, partition: r.partition, offset });
  }
  return { events, deadLetters };
}

export async function ingest(db: Db, records: readonly KafkaRecord[]): Promise<IngestResult> {
  const { events, deadLetters } = decodeRecords(records);
  // A redelivery may repeat a stream position inside one batch too: keep its first copy.
  const seen = new Set<string>();
  const unique = events.filter((e) => {
    const position = `${e.event.instance}/${e.event.seq}`;
    if (seen.has(position)) return false;
    seen.add(position);
    return true;
  });
  return db.$transaction(
    async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock_shared(${PROJECTION_LOCK})`;
      if (deadLetters.length > 0) await tx.deadLetter.createMany({ data: deadLetters, skipDuplicates: true });
      if (unique.length === 0) return { stored: 0, duplicates: events.length, deadLetters: deadLetters.length, violations: [] };
      const fresh = await insertEvents(tx, unique);
      const violations = await project(tx, fresh);
      return { stored: fresh.length, duplicates: events.length - fresh.length, deadLetters: deadLetters.length, violations };
    },
    { maxWait: 10000, timeout: 120000 },
  );
}
