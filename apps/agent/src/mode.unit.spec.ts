import type { DiscoveryReport } from '@probefleet/tracefs';
import { chooseMode } from './mode';

const host: DiscoveryReport = {
  tracefs: '/sys/kernel/tracing',
  mountedTracefs: false,
  kprobeEvents: true,
  dynamicEvents: true,
  instances: true,
  btf: { path: '/sys/kernel/btf/vmlinux', present: true, bytes: 1 },
  tracepoints: ['sock:inet_sock_set_state'],
  kprobeBlacklist: [],
  kprobes: { dir: null, mounted: false, problem: null, enabled: null, optimization: null },
  privileges: { euid: 0, capEff: null, capSysAdmin: true, capPerfmon: true, capBpf: true, canTrace: true } as DiscoveryReport['privileges'],
  problems: [],
};

describe('chooseMode', () => {
  it('takes the kprobe on x86-64 with kprobe_events and BTF', () => {
    expect(chooseMode(host, 'auto', 'x64')).toMatchObject({ mode: 'kprobe', unusable: null });
  });

  it('on another CPU, auto falls back to the tracepoint and says why; a forced kprobe mode is unusable', () => {
    const auto = chooseMode(host, 'auto', 'arm64');
    expect(auto).toMatchObject({ mode: 'tracepoint', unusable: null });
    expect(auto.reason).toContain('x86-64 registers (%di, %si) and this CPU is arm64');
    expect(chooseMode(host, 'kprobe', 'arm64').unusable).toContain('this CPU is arm64');
  });
});
