// The Kafka client (KAFKA_CLIENT: kafkajs or platformatic, @probefleet/kafka) from the agent's kafka config.
import { clientKind, kafkaClient as client, kafkaSecurity, type KafkaClient } from '@probefleet/kafka';
import type { KafkaConfig } from '../config';
import type { Logger } from '../log';

export function kafkaClient(cfg: KafkaConfig, log: Logger): KafkaClient {
  const kind = clientKind();
  const klog = log.child({ component: kind });
  return client(kind, {
    clientId: cfg.clientId,
    brokers: cfg.brokers,
    ...kafkaSecurity(cfg.ssl, cfg.sasl),
    connectionTimeoutMs: 3000,
    requestTimeoutMs: 30_000,
    // The client retries inside one send; the sink retries the whole send after that with its own backoff.
    retry: { retries: 3, initialMs: cfg.retry.initialMs, maxMs: cfg.retry.maxMs },
    // A broker outage is logged once per failed send by the sink; the client's own chatter goes to debug.
    log: (_level, message, extra) => klog.debug(extra, message),
  });
}
