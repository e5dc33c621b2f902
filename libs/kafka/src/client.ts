// Which Kafka client: KAFKA_CLIENT=kafkajs|platformatic, for the agent and the aggregator alike.
import { kafkajsClient } from './kafkajs';
import { platformaticClient } from './platformatic';
import { CLIENT_KINDS, type ClientConfig, type ClientKind, type KafkaClient } from './types';

/** @platformatic/kafka 2.x's engines: Node >= 22.22.0. */
const PLATFORMATIC_NODE = [22, 22] as const;

const runsPlatformatic = (node: string): boolean => {
  const [major = 0, minor = 0] = node.split('.').map(Number);
  return major > PLATFORMATIC_NODE[0] || (major === PLATFORMATIC_NODE[0] && minor >= PLATFORMATIC_NODE[1]);
};

/**
 * The client when KAFKA_CLIENT is unset. kafkajs, by the rule (the maintained client only if
 * it passes everything): @platformatic/kafka passed 21 of 21 fault and delivery tests in one run
 * and was faster in every bench, but failed the paused-member test (a member SIGSTOPped past its
 * session timeout: the workload was not stored within 60 s) in the clean-clone CI run and twice in
 * reruns; kafkajs passed it every time. bench/results/kafka-clients.json, deploy/README.md.
 */
export const DEFAULT_CLIENT: ClientKind = 'kafkajs';

/**
 * The client KAFKA_CLIENT names (unset or empty: DEFAULT_CLIENT); throws naming the
 * variable for any other value, and for platformatic asked for on a Node older than it supports.
 */
export function clientKind(value = process.env.KAFKA_CLIENT, node = process.versions.node): ClientKind {
  const kind = value === undefined || value.trim() === '' ? DEFAULT_CLIENT : value.trim();
  if (!(CLIENT_KINDS as readonly string[]).includes(kind)) throw new Error(`KAFKA_CLIENT must be one of ${CLIENT_KINDS.join(', ')}, not ${JSON.stringify(value)}`);
  if (kind === 'platformatic' && !runsPlatformatic(node)) {
    throw new Error(`KAFKA_CLIENT=platformatic needs Node >= ${PLATFORMATIC_NODE.join('.')} (@platformatic/kafka 2.x); this is Node ${node}: use KAFKA_CLIENT=kafkajs, or Node 24 (scripts/node24.sh)`);
  }
  return kind as ClientKind;
}

export function kafkaClient(kind: ClientKind, cfg: ClientConfig): KafkaClient {
  return kind === 'platformatic' ? platformaticClient(cfg) : kafkajsClient(cfg);
}
