// The aggregator's Kafka client, from the validated configuration; a provider (token KAFKA), so the
// consumer gets it injected.
import { explainKafkaError, kafkaSecurity } from '@probefleet/publish';
import { Kafka, logLevel } from 'kafkajs';
import type { AggregatorConfig } from '../config';

export const KAFKA = Symbol('probefleet.kafka');

export function kafkaClient(config: AggregatorConfig): Kafka {
  return new Kafka({
    clientId: config.KAFKA_CLIENT_ID,
    brokers: config.KAFKA_BROKERS,
    ...kafkaSecurity(tlsOf(config), saslOf(config)),
    connectionTimeout: 5000,
    requestTimeout: 30000,
    logLevel: logLevel.WARN,
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
