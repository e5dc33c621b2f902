import { Btf, isValidKprobeLine, sockCommonLayout } from '@probefleet/tracefs';
import { planProbes } from './probes';

const btf = Btf.fromFile('/sys/kernel/btf/vmlinux');
const sc = sockCommonLayout(btf);

describe('planProbes in kprobe mode', () => {
  it('with ownership: tcp_set_state (reading tcp_sock too), the inet_csk_accept kretprobe, then user probes', () => {
    const probes = planProbes('kprobe', btf, { probes: [{ name: 'mine', symbol: 'tcp_v4_connect', args: [] }], ownership: { enabled: true } });
    expect(probes.map((p) => [p.name, p.kind, p.tcp, p.accept])).toEqual([
      ['tcp_set_state', 'kprobe', true, false],
      ['inet_csk_accept', 'kretprobe', false, true],
      ['mine', 'kprobe', false, false],
    ]);
    expect(probes[0]?.definition).toMatch(/ bytes_acked=\+\d+\(%di\):u64 bytes_received=\+\d+\(%di\):u64 total_retrans=\+\d+\(%di\):u32 srtt_us=\+\d+\(%di\):u32$/);
    expect(probes[1]?.definition).toBe(
      `r:probefleet/inet_csk_accept inet_csk_accept sk=$retval:x64 family=+${sc.skc_family.offset}($retval):u16 sport=+${sc.skc_num.offset}($retval):u16 dport_be=+${sc.skc_dport.offset}($retval):u16`,
    );
    for (const p of probes) expect(isValidKprobeLine(p.definition!)).toBe(true);
  });

  it("filters accepts by the config's ports and families, not its states (an accept is no transition)", () => {
    const [tcp, accept] = planProbes('kprobe', btf, { probes: [], filter: { ports: [80], states: ['TCP_SYN_SENT'], families: ['AF_INET'] }, ownership: { enabled: true } });
    expect(tcp?.filter).toContain('oldstate');
    expect(accept?.filter).toBe('(sport == 80 || dport_be == 20480) && family == 2');
  });

  it('without ownership, or in tracepoint mode, there is no accept probe', () => {
    expect(planProbes('kprobe', btf, { probes: [], ownership: { enabled: false } }).map((p) => p.name)).toEqual(['tcp_set_state']);
    expect(planProbes('tracepoint', null, { probes: [], ownership: { enabled: true } }).map((p) => p.accept)).toEqual([false]);
  });
});
