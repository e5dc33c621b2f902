/** The policies' own Kafka client (the control topic's producer), injected so tests can see it. */
export const POLICY_KAFKA = Symbol('probefleet.policy-kafka');
/** The policy signer (POLICY_SIGNING_KEY_FILE), null when none is configured: writes are then refused. */
export const POLICY_SIGNER = Symbol('probefleet.policy-signer');
