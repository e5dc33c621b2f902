// Which source `run` uses: kprobes on tcp_set_state when the kernel has kprobe events and BTF
// (offsets into sock_common), otherwise the sock:inet_sock_set_state tracepoint.
import type { DiscoveryReport } from '@probefleet/tracefs';
import { agentCapabilities, TCP_TRACEPOINT } from '@probefleet/events';
import type { Mode } from './config';
import type { RunMode } from './probes';

export type { RunMode } from './probes';

export interface ModeChoice {
  mode: RunMode;
  reason: string;
  /** Set when the chosen mode cannot run on this host. */
  unusable: string | null;
}

/** Capabilities as reported in agent.started. */
export function capabilities(r: DiscoveryReport): string[] {
  return agentCapabilities({
    tracefs: r.tracefs !== null,
    kprobeEvents: r.kprobeEvents,
    dynamicEvents: r.dynamicEvents,
    instances: r.instances,
    btf: r.btf.present,
    tcpTracepoint: r.tracepoints.includes(TCP_TRACEPOINT.name),
    canTrace: r.privileges.canTrace,
  });
}

function kprobeProblem(r: DiscoveryReport, cpuArch: string): string | null {
  // Our tcp_set_state kprobe reads sk/state from %di/%si: x86-64 registers (other CPUs would need
  // $arg1/$arg2 and their own register names).
  if (cpuArch !== 'x64') return `the tcp_set_state kprobe fetches x86-64 registers (%di, %si) and this CPU is ${cpuArch}`;
  if (!r.kprobeEvents) return 'kprobe_events is missing (kernel without CONFIG_KPROBE_EVENTS)';
  if (!r.btf.present) return `${r.btf.path} is missing (no BTF: sock_common offsets unknown)`;
  if (r.kprobeBlacklist?.includes('tcp_set_state')) return 'tcp_set_state is on the kprobe blacklist';
  return null;
}

function tracepointProblem(r: DiscoveryReport): string | null {
  return r.tracepoints.includes(TCP_TRACEPOINT.name) ? null : `tracepoint ${TCP_TRACEPOINT.name} is not available`;
}

/** `cpuArch`: Node's name of this CPU (`x64`, `arm64`, ...). */
export function chooseMode(r: DiscoveryReport, requested: Mode, cpuArch: string = process.arch): ModeChoice {
  const common = !r.tracefs ? 'tracefs is not mounted' : !r.privileges.canTrace ? 'not root and no CAP_SYS_ADMIN' : !r.instances ? 'tracefs has no instances directory' : null;
  const kp = common ?? kprobeProblem(r, cpuArch);
  const tp = common ?? tracepointProblem(r);
  if (requested === 'kprobe') return { mode: 'kprobe', reason: 'requested (--mode kprobe)', unusable: kp };
  if (requested === 'tracepoint') return { mode: 'tracepoint', reason: 'requested (--mode tracepoint)', unusable: tp };
  if (kp === null) return { mode: 'kprobe', reason: 'kprobe_events and BTF present: tcp_set_state kprobe', unusable: null };
  return { mode: 'tracepoint', reason: `auto: ${kp}; falling back to ${TCP_TRACEPOINT.name}`, unusable: tp };
}
