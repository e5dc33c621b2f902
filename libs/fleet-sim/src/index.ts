export { Fleet, generateFleet, type FleetOptions, type FleetStats } from './fleet';
export { AgentOutbox, agentMessages, type AgentMessage } from './messages';
export { AGENT_BATCH_BYTES, AGENT_LINGER_MS } from '@probefleet/events';
export { checkTcpPaths, visibleSteps, TRANSITIONS, BIRTHS, type ConnectionKind, type Step, type Transition } from './tcp';
export { makeHosts, ROLES, KERNELS, type HostProfile, type Role, type AgentMode, type KernelRelease } from './hosts';
export { ipv6Text } from './addresses';
export { Random } from './random';
