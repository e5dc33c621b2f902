/** Lifecycle events: few, and the kprobe model needs every one to replay a host; retention keeps them. */
export const KEPT_TYPES = new Set<string>(['agent.started', 'agent.stopped', 'probe.registered', 'probe.armed', 'probe.disarmed', 'probe.unregistered', 'probe.state']);
