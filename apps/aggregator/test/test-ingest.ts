// ingest() as the tests use it: the store's clock is fixed a day after the test streams' times
// (test/streams.ts), so their events stay within retention whatever day the tests run.
import { DEFAULT_INGEST_OPTIONS, ingest as storeIngest, type IngestOptions } from '../src/store/ingest';
import type { KafkaRecord } from '../src/consumer/kafka-record';
import type { Db } from '../src/store/prisma';

export const TEST_NOW = Date.parse('2026-11-26T10:00:00Z');
export const TEST_INGEST_OPTIONS: IngestOptions = { ...DEFAULT_INGEST_OPTIONS, now: () => TEST_NOW };

export function ingest(db: Db, records: readonly KafkaRecord[], options: Partial<IngestOptions> = {}) {
  return storeIngest(db, records, { ...TEST_INGEST_OPTIONS, ...options });
}
