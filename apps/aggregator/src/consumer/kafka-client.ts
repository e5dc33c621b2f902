// The aggregator's Kafka client (KAFKA_CLIENT: kafkajs or platformatic, @probefleet/kafka), from the
// validated configuration; a provider (token KAFKA), so the consumer gets it injected.
import { Logger } from '@nestjs/common';
import { clientKind, kafkaClient as client, type KafkaClient } from '@probefleet/kafka';
import type { AggregatorConfig } from '../config';

export const KAFKA = Symbol('probefleet.kafka');

export function kafkaClient(config: AggregatorConfig): KafkaClient {
  const sasl = config.KAFKA_SASL_MECHANISM
    ? { mechanism: config.KAFKA_SASL_MECHANISM, username: config.KAFKA_SASL_USERNAME!, password: config.KAFKA_SASL_PASSWORD! }
    : undefined;
  const kind = clientKind();
  const log = new Logger(kind);
  return client(kind, {
    clientId: config.KAFKA_CLIENT_ID,
    brokers: config.KAFKA_BROKERS,
    ssl: config.KAFKA_SSL,
    ...(sasl ? { sasl } : {}),
    connectionTimeoutMs: 5000,
    requestTimeoutMs: 30000,
    // The client's warnings and errors; its chatter is not wanted.
    log: (level, message) => (level === 'error' ? log.error(message) : level === 'warn' ? log.warn(message) : undefined),
  });
}
