import { AgentMetrics } from './metrics';
import { AGENT_VERSION } from './version';

const sample = (text: string, name: string): string | undefined => text.split('\n').find((l) => l.startsWith(name) && !l.startsWith('#'));

describe('agent /metrics', () => {
  it("has the process' own overhead, the build, broker reachability and kprobe misses per probe", async () => {
    const m = new AgentMetrics();
    m.setBrokerReachable(true);
    m.observe('probe.missed', { probe: 'tcp_set_state', count: 3 });
    m.observe('probe.missed', { probe: 'my_probe', count: 2 });
    const text = await m.registry.metrics();
    expect(Number(sample(text, 'process_cpu_seconds_total')?.split(' ')[1])).toBeGreaterThan(0);
    expect(Number(sample(text, 'process_resident_memory_bytes')?.split(' ')[1])).toBeGreaterThan(1 << 20);
    expect(sample(text, 'probefleet_agent_build_info')).toBe(`probefleet_agent_build_info{version="${AGENT_VERSION}",node="${process.version}"} 1`);
    expect(sample(text, 'probefleet_agent_broker_reachable')).toBe('probefleet_agent_broker_reachable 1');
    expect(sample(text, 'probefleet_agent_kprobe_probe_misses_total{probe="tcp_set_state"}')).toBe('probefleet_agent_kprobe_probe_misses_total{probe="tcp_set_state"} 3');
    expect(sample(text, 'probefleet_agent_kprobe_probe_misses_total{probe="my_probe"}')).toBe('probefleet_agent_kprobe_probe_misses_total{probe="my_probe"} 2');
    // The unlabelled total the alert rules use stays.
    expect(sample(text, 'probefleet_agent_kprobe_misses_total')).toBe('probefleet_agent_kprobe_misses_total 5');
    m.setBrokerReachable(false);
    expect(sample(await m.registry.metrics(), 'probefleet_agent_broker_reachable')).toBe('probefleet_agent_broker_reachable 0');
  });
});
