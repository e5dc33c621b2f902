import type { DiscoveryReport } from '@probefleet/tracefs';
import { doctorReport, formatDoctor } from './host';

// A host with everything kprobe mode needs, but for the CPU.
const host: DiscoveryReport = {
  tracefs: '/sys/kernel/tracing',
  mountedTracefs: false,
  kprobeEvents: true,
  dynamicEvents: true,
  instances: true,
  btf: { path: '/sys/kernel/btf/vmlinux', present: true, bytes: 1 },
  tracepoints: ['sock:inet_sock_set_state'],
  kprobeBlacklist: [],
  privileges: { euid: 0, capEff: null, capSysAdmin: true, capPerfmon: true, capBpf: true, canTrace: true } as DiscoveryReport['privileges'],
  problems: [],
};

describe('doctor on a CPU that is not x86-64', () => {
  it('auto mode takes the tracepoint and the report says why', () => {
    const d = doctorReport(host, 'auto', 'arm64');
    expect(d.arch).toBe('arm64');
    expect(d.run).toMatchObject({ mode: 'tracepoint', unusable: null });
    const text = formatDoctor(d);
    expect(text).toContain('kernel          ');
    expect(text).toMatch(/run mode\s+tracepoint: auto: the tcp_set_state kprobe fetches x86-64 registers \(%di, %si\) and this CPU is arm64; falling back to sock:inet_sock_set_state/);
  });

  it('a forced kprobe mode is reported unusable, with the same reason', () => {
    expect(formatDoctor(doctorReport(host, 'kprobe', 'arm64'))).toContain('UNUSABLE: the tcp_set_state kprobe fetches x86-64 registers (%di, %si) and this CPU is arm64');
  });

  it('on x86-64 the same host takes the kprobe', () => {
    expect(doctorReport(host, 'auto', 'x64').run).toMatchObject({ mode: 'kprobe', unusable: null });
  });
});
