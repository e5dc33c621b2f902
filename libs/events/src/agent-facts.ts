// What the agent reports about itself that the simulator must report the same way: its version,
// probe names, tcp_set_state kprobe line and the capabilities list of agent.started. One owner
// here (pure), used by both.

/** The agent's release (apps/agent/package.json carries the same; a test holds them equal). */
export const AGENT_VERSION = '0.1.0';

/** The agent's kprobe group, its tcp_set_state kprobe and the fallback tracepoint. */
export const PROBE_GROUP = 'probefleet';
export const TCP_PROBE_EVENT = 'tcp_set_state';
/** kprobe mode, with ownership: the kretprobe that names the task accepting each socket. */
export const ACCEPT_PROBE_EVENT = 'inet_csk_accept';
export const TCP_TRACEPOINT = { group: 'sock', event: 'inet_sock_set_state', name: 'sock:inet_sock_set_state' } as const;

/**
 * The agent's tcp_set_state kprobe line on Debian 12's struct sock_common (the agent renders it from
 * the host's BTF; the fleet-sim spec checks this is what it renders from test/fixtures/btf).
 */
export const TCP_PROBE_LINE_DEBIAN =
  'p:probefleet/tcp_set_state tcp_set_state sk=%di:x64 newstate=%si:s32 oldstate=+18(%di):u8 family=+16(%di):u16 sport=+14(%di):u16 dport_be=+12(%di):u16 saddr=+4(%di):x32 daddr=+0(%di):x32 saddr6=+72(%di):x8[16] daddr6=+56(%di):x8[16]';

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
