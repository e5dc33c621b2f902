// The aggregator's Kafka client (KAFKA_CLIENT: kafkajs or platformatic, @probefleet/kafka), from the
// validated configuration; a provider (token KAFKA), so the consumer gets it injected.
import { Logger } from '@nestjs/common';
import { clientKind, explainKafkaError, kafkaClient as client, kafkaSecurity, type KafkaClient } from '@probefleet/kafka';
import type { AggregatorConfig } from '../config';

export const KAFKA = Symbol('probefleet.kafka');

export function kafkaClient(config: AggregatorConfig): KafkaClient {
  const kind = clientKind();
  const log = new Logger(kind);
  return client(kind, {
    clientId: config.KAFKA_CLIENT_ID,
    brokers: config.KAFKA_BROKERS,
    ...kafkaSecurity(tlsOf(config), saslOf(config)),
    connectionTimeoutMs: 5000,
    requestTimeoutMs: 30000,
    // The client's warnings and errors; its chatter is not wanted.
    log: (level, message) => (level === 'error' ? log.error(message) : level === 'warn' ? log.warn(message) : undefined),
  });
}

const tlsOf = (c: AggregatorConfig) => (c.KAFKA_SSL_CA_FILE ? { caFile: c.KAFKA_SSL_CA_FILE } : c.KAFKA_SSL);
const saslOf = (c: AggregatorConfig) =>
  c.KAFKA_SASL_MECHANISM ? { mechanism: c.KAFKA_SASL_MECHANISM, username: c.KAFKA_SASL_USERNAME!, password: c.KAFKA_SASL_PASSWORD! } : undefined;

/** The error with the cause named, when it is one explainKafkaError tells (TLS, SASL, plaintext to TLS). */
export function explainedKafkaError(e: unknown, config: AggregatorConfig): Error {
  const cause = explainKafkaError(e, { tls: tlsOf(config) !== false, sasl: saslOf(config) !== undefined });
  return cause ? new Error(`${cause} [${(e as Error).message}]`, { cause: e }) : (e as Error);
}
