// Where the tests find the real services, and bounded checks that name what is not reachable.
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';

export const kafkaBrokers = (): string[] =>
  (process.env.KAFKA_BROKERS || `127.0.0.1:${process.env.KAFKA_PORT || 9092}`).split(',');

export const databaseUrl = (): string =>
  process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/probefleet';

export function kafkaClient(clientId: string, brokers = kafkaBrokers()): Kafka {
  return new Kafka({
    clientId,
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    requestTimeout: 15000,
    retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2000 },
  });
}

/** Resolves when the broker answers a metadata request; rejects naming the brokers otherwise. */
export async function checkKafka(brokers = kafkaBrokers()): Promise<void> {
  const admin = kafkaClient('probefleet-check', brokers).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } catch (err) {
    throw new Error(`Kafka is not reachable at ${brokers.join(',')} (start it with \`npm run stack:up\`): ${(err as Error).message}`);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Resolves when PostgreSQL answers a query; rejects naming the server otherwise. */
export async function checkPostgres(url = databaseUrl()): Promise<void> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  const where = new URL(url).host;
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable at ${where} (DATABASE_URL; \`npm run stack:up\` creates the database): ${(err as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Deletes a test's topic (best effort: a test's clean-up must not fail on it). */
export async function deleteTopic(topic: string): Promise<void> {
  const admin = kafkaClient('probefleet-test-cleanup').admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic], timeout: 5000 }).catch(() => undefined).finally(() => admin.disconnect());
}
