// The aggregator's Kafka client, from the validated configuration; a provider (token KAFKA), so the
// consumer gets it injected.
import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import type { AggregatorConfig } from '../config';

export const KAFKA = Symbol('probefleet.kafka');

export function kafkaClient(config: AggregatorConfig): Kafka {
  const sasl: SASLOptions | undefined = config.KAFKA_SASL_MECHANISM
    ? ({ mechanism: config.KAFKA_SASL_MECHANISM, username: config.KAFKA_SASL_USERNAME!, password: config.KAFKA_SASL_PASSWORD! } as SASLOptions)
    : undefined;
  return new Kafka({
    clientId: config.KAFKA_CLIENT_ID,
    brokers: config.KAFKA_BROKERS,
    ssl: config.KAFKA_SSL,
    ...(sasl ? { sasl } : {}),
    connectionTimeout: 5000,
    requestTimeout: 30000,
    logLevel: logLevel.WARN,
  });
}
