// The agent's version is an agent fact shared with the simulator (@probefleet/events).
export { AGENT_VERSION } from '@probefleet/events';
