// kafkajs client and producer from the agent's kafka config.
import { kafkaSecurity } from '@probefleet/publish';
import { Kafka, logLevel } from 'kafkajs';
import type { KafkaConfig } from '../config';
import type { Logger } from '../log';

export function kafkaClient(cfg: KafkaConfig, log: Logger): Kafka {
  const klog = log.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: cfg.clientId,
    brokers: cfg.brokers,
    ...kafkaSecurity(cfg.ssl, cfg.sasl),
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
