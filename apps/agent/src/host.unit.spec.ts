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
  kprobes: { dir: '/sys/kernel/debug/kprobes', mounted: true, problem: null, enabled: true, optimization: false },
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

describe('doctor on kprobes', () => {
  it('shows kprobes/list, kprobes/enabled and debug.kprobes-optimization', () => {
    const text = formatDoctor(doctorReport({ ...host, kprobeBlacklist: ['do_int3', 'tcp_set_state'] }, 'auto', 'x64'));
    expect(text).toContain('kprobe blacklist 2 entries, tcp_set_state LISTED');
    expect(text).toContain('kprobes/list    /sys/kernel/debug/kprobes/list (debugfs mounted now)');
    expect(text).toContain('kprobes enabled yes');
    expect(text).toContain('optimization    off (debug.kprobes-optimization = 0: kprobes stay int3)');
  });

  it('says so when debugfs cannot be had, and says nothing of kprobes on a kernel without them', () => {
    const problem = 'mounting debugfs at /sys/kernel/debug failed: permission denied';
    const none = { dir: null, mounted: false, problem, enabled: null, optimization: null };
    expect(formatDoctor(doctorReport({ ...host, kprobes: none }, 'auto', 'x64'))).toContain(`kprobes/list    unreadable: ${problem} — mechanism unknown`);
    const tracepointOnly = formatDoctor(doctorReport({ ...host, kprobeEvents: false, kprobes: { ...none, problem: null } }, 'auto', 'x64'));
    expect(tracepointOnly).not.toMatch(/kprobes\/list|optimization/);
  });
});
