/**
 * Lifecycle events: few, and the kprobe model needs every one to replay a host; retention keeps them.
 * So it keeps the policies' history (the control stream's, and the agents' reports of it).
 */
export const KEPT_TYPES = new Set<string>(['agent.started', 'agent.stopped', 'probe.registered', 'probe.armed', 'probe.disarmed', 'probe.unregistered', 'probe.state',
  'policy.put', 'policy.deleted', 'policy.applied', 'policy.rejected', 'policy.removed']);
