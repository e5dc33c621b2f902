// kafkajs client and producer from the agent's kafka config.
import { readFileSync } from 'node:fs';
import { Kafka, logLevel, type KafkaConfig as KafkaJsConfig, type SASLOptions } from 'kafkajs';
import type { KafkaConfig } from '../config';
import type { Logger } from '../log';

export function kafkaClient(cfg: KafkaConfig, log: Logger): Kafka {
  const ssl: KafkaJsConfig['ssl'] =
    typeof cfg.ssl === 'boolean'
      ? cfg.ssl
      : {
          rejectUnauthorized: cfg.ssl.rejectUnauthorized,
          ...(cfg.ssl.caFile ? { ca: [readFileSync(cfg.ssl.caFile, 'utf8')] } : {}),
          ...(cfg.ssl.certFile ? { cert: readFileSync(cfg.ssl.certFile, 'utf8') } : {}),
          ...(cfg.ssl.keyFile ? { key: readFileSync(cfg.ssl.keyFile, 'utf8') } : {}),
        };
  const klog = log.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: cfg.clientId,
    brokers: cfg.brokers,
    ssl,
    ...(cfg.sasl ? { sasl: { mechanism: cfg.sasl.mechanism, username: cfg.sasl.username, password: cfg.sasl.password } as SASLOptions } : {}),
    connectionTimeout: 3000,
    requestTimeout: 30_000,
    // kafkajs retries inside one send; the sink retries the whole send after that with its own backoff.
    retry: { retries: 3, initialRetryTime: cfg.retry.initialMs, maxRetryTime: cfg.retry.maxMs },
    // A broker outage is logged once per failed send by the sink; kafkajs' own chatter goes to debug.
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, log: { message, ...extra } }) =>
        klog.debug({ namespace, ...extra }, message),
  });
}
