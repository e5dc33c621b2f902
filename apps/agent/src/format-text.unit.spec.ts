import type { Event } from '@probefleet/events';
import { TcpStatesFormatter } from './format-text';

const hit = (monoNs: bigint, skaddr: string, oldstate: string, newstate: string): Event =>
  ({
    v: 1, type: 'probe.hit', host: 'h', bootId: '00000000-0000-0000-0000-000000000000', instance: '00000000-0000-0000-0000-000000000001',
    seq: 1, time: '2026-11-25T19:52:23.123456789Z', monoNs: monoNs.toString(),
    data: {
      probe: 'tcp_set_state', cpu: 0, pid: 42, comm: 'curl',
      args: { skaddr, family: 'AF_INET', saddr: '127.0.0.1', daddr: '127.0.0.1', sport: 5000, dport: 80, oldstate, newstate },
    },
  }) as Event;

describe('TcpStatesFormatter', () => {
  it('prints a header and one row per transition with the ms spent in the old state per socket', () => {
    const f = new TcpStatesFormatter();
    expect(f.header()).toMatch(/^TIME\s+SKADDR\s+PID\s+COMM\s+LADDR\s+LPORT\s+RADDR\s+RPORT\s+OLDSTATE -> NEWSTATE\s+MS\s+TX_KB\s+RX_KB\s+RETRANS\s+SRTT_US$/);
    const first = f.format(hit(1_000_000_000n, '0xa', 'TCP_CLOSE', 'TCP_SYN_SENT'));
    expect(first?.split(/\s+/)).toEqual(['19:52:23.123', '0xa', '42', 'curl', '127.0.0.1', '5000', '127.0.0.1', '80', 'CLOSE', '->', 'SYN_SENT']);
    // Another socket in between does not disturb the first one's timing.
    expect(f.format(hit(1_200_000_000n, '0xb', 'TCP_CLOSE', 'TCP_SYN_SENT'))).not.toMatch(/\d\.\d{3}$/);
    expect(f.format(hit(1_001_500_000n, '0xa', 'TCP_SYN_SENT', 'TCP_ESTABLISHED'))).toMatch(/SYN_SENT -> ESTABLISHED\s+1\.500$/);
    expect(f.format(hit(3_001_500_000n, '0xa', 'TCP_ESTABLISHED', 'TCP_CLOSE'))).toMatch(/ESTABLISHED -> CLOSE\s+2000\.000$/);
    // After CLOSE the address may be reused by a new socket: no duration carried over.
    expect(f.format(hit(4_000_000_000n, '0xa', 'TCP_CLOSE', 'TCP_SYN_SENT'))).toMatch(/CLOSE -> SYN_SENT$/);
  });

  it("prints the socket's owner (tcplife's PID and COMM), and no pid when it is unknown", () => {
    const f = new TcpStatesFormatter();
    const h = hit(1n, '0xa', 'TCP_LISTEN', 'TCP_SYN_RECV') as Event & { data: Record<string, unknown> };
    const owned = { ...h, data: { ...h.data, owner: { pid: 7, comm: 'nginx', cgroup: '/' }, attribution: 'socket' } } as Event;
    expect(f.format(owned)?.split(/\s+/).slice(1, 4)).toEqual(['0xa', '7', 'nginx']);
    const unknown = { ...h, data: { ...h.data, attribution: 'unknown' } } as Event;
    expect(f.format(unknown)?.split(/\s+/).slice(1, 4)).toEqual(['0xa', '-', '-']);
  });

  it("ends the close row of a kprobe run with tcplife's columns, under their headers", () => {
    const f = new TcpStatesFormatter();
    const h = hit(1n, '0xa', 'TCP_LAST_ACK', 'TCP_CLOSE') as Event & { data: Record<string, unknown> };
    const closed = { ...h, data: { ...h.data, life: { txBytes: 5 * 1024 + 1000, rxBytes: 1023, retrans: 3, srttUs: 41 } } } as Event;
    const row = f.format(closed)!;
    expect(row.split(/\s+/).slice(-4)).toEqual(['5', '0', '3', '41']);
    const header = f.header();
    for (const [col, value] of [['TX_KB', '5'], ['SRTT_US', '41']] as const) expect(row.slice(header.indexOf(col)).startsWith(value)).toBe(true);
    // Other rows leave them blank.
    expect(f.format(hit(2n, '0xb', 'TCP_CLOSE', 'TCP_SYN_SENT'))).toMatch(/SYN_SENT$/);
  });

  it('ignores events that are not TCP transitions', () => {
    const f = new TcpStatesFormatter();
    const started = { ...hit(1n, '0xa', 'TCP_CLOSE', 'TCP_LISTEN'), type: 'agent.stopped', data: { reason: 'x' } } as Event;
    expect(f.format(started)).toBeNull();
  });
});
