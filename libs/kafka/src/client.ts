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
 * The client when KAFKA_CLIENT is unset: the maintained @platformatic/kafka, by the rule (it
 * passed every delivery and fault test on Node 24, three runs of the fault suite, and was faster
 * in every bench of the same run). On a Node older than it supports (the machine's Node 20), kafkajs.
 * Its one failure, the paused-member test, was the store's (a SIGSTOPped member's open transaction
 * held the rows the other member needed), fixed in the aggregator's pool: deploy/README.md,
 * bench/results/kafka-clients.json.
 */
export const DEFAULT_CLIENT: ClientKind = 'platformatic';

/** Unset KAFKA_CLIENT on a Node that cannot run DEFAULT_CLIENT. */
export const OLD_NODE_CLIENT: ClientKind = 'kafkajs';

/**
 * The client KAFKA_CLIENT names (unset or empty: DEFAULT_CLIENT, or OLD_NODE_CLIENT on a Node older
 * than 22.22); throws naming the variable for any other value, and for platformatic asked for on a
 * Node older than it supports.
 */
export function clientKind(value = process.env.KAFKA_CLIENT, node = process.versions.node): ClientKind {
  if (value === undefined || value.trim() === '') return runsPlatformatic(node) ? DEFAULT_CLIENT : OLD_NODE_CLIENT;
  const kind = value.trim();
  if (!(CLIENT_KINDS as readonly string[]).includes(kind)) throw new Error(`KAFKA_CLIENT must be one of ${CLIENT_KINDS.join(', ')}, not ${JSON.stringify(value)}`);
  if (kind === 'platformatic' && !runsPlatformatic(node)) {
    throw new Error(`KAFKA_CLIENT=platformatic needs Node >= ${PLATFORMATIC_NODE.join('.')} (@platformatic/kafka 2.x); this is Node ${node}: use KAFKA_CLIENT=kafkajs, or Node 24 (scripts/node24.sh)`);
  }
  return kind as ClientKind;
}

export function kafkaClient(kind: ClientKind, cfg: ClientConfig): KafkaClient {
  return kind === 'platformatic' ? platformaticClient(cfg) : kafkajsClient(cfg);
}
