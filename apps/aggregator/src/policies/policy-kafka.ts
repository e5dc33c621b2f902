/** The policies' own Kafka client (the control topic's producer), injected so tests can see it. */
export const POLICY_KAFKA = Symbol('probefleet.policy-kafka');
