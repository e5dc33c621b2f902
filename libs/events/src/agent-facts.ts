// What the agent reports about itself that the simulator must report the same way: its probe
// names and the capabilities list of agent.started. One owner here (pure), used by both.

/** The agent's kprobe group, its tcp_set_state kprobe and the fallback tracepoint. */
export const PROBE_GROUP = 'probefleet';
export const TCP_PROBE_EVENT = 'tcp_set_state';
export const TCP_TRACEPOINT = { group: 'sock', event: 'inet_sock_set_state', name: 'sock:inet_sock_set_state' } as const;

export interface HostFacts {
  tracefs: boolean;
  kprobeEvents: boolean;
  dynamicEvents: boolean;
  instances: boolean;
  btf: boolean;
  /** sock:inet_sock_set_state exists. */
  tcpTracepoint: boolean;
  canTrace: boolean;
}

/** agent.started's `capabilities`, in this order. */
export function agentCapabilities(f: HostFacts): string[] {
  const caps: string[] = [];
  if (f.tracefs) caps.push('tracefs');
  if (f.kprobeEvents) caps.push('kprobe_events');
  if (f.dynamicEvents) caps.push('dynamic_events');
  if (f.instances) caps.push('instances');
  if (f.btf) caps.push('btf');
  if (f.tcpTracepoint) caps.push(`tracepoint:${TCP_TRACEPOINT.name}`);
  if (f.canTrace) caps.push('can_trace');
  return caps;
}
