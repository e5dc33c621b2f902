// A small fleet whose TCP hits carry owners in every shape, deterministic (fixed uuids and times):
// the published events of the owner dictionary migration's fixture (fixtures/store-owner-inline).
// Two hosts share an owner's content (the dictionary is per host); a socket's owner changes hands;
// a lifetime closes with an unknown last hit (it keeps its earlier owner); older-agent hits carry none.
import type { Event, EventData, Owner, TcpArgs, TcpStateName } from '@probefleet/events';

const BASE = Date.parse('2026-11-25T10:00:00Z');
const uuid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const POD_A = '0c3a9f1e-2b4d-4c8e-9a7f-1d2e3f4a5b6c';
const POD_B = '7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6';
const ID_A = 'ab'.repeat(32);
const ID_B = 'cd'.repeat(32);
const kubepods = (uid: string, id: string) => `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid.replace(/-/g, '_')}.slice/cri-containerd-${id}.scope`;

export const FLEET_OWNERS: Record<string, Owner> = {
  nginx: { pid: 4242, comm: 'nginx', cgroup: kubepods(POD_A, ID_A), container: { id: ID_A, runtime: 'containerd' }, pod: { namespace: 'shop', name: 'web-1', uid: POD_A } },
  worker: { pid: 4300, comm: 'python3', cgroup: kubepods(POD_B, ID_B), container: { id: ID_B, runtime: 'containerd' }, pod: { uid: POD_B } },
  curl: { pid: 7, comm: 'curl', cgroup: '/user.slice/user-1000.slice/session-1.scope' },
  unit: { pid: 900, comm: 'sshd', cgroup: '/system.slice/ssh.service', container: { id: 'ssh.service', runtime: 'systemd' } },
  escaped: { pid: 77, comm: 'a\tb\\c', cgroup: '/system.slice/caf\u00e9\n.service', pod: { uid: '0c3a9f1e-2b4d-4c8e-9a7f-1d2e3f4a5b6d' } },
  exited: { pid: 1, comm: '', cgroup: '' },
};

type Owned = Pick<EventData<'probe.hit'>, 'owner' | 'attribution'>;

function stream(host: string, n: number, startMs: number) {
  let seq = 0;
  let ms = startMs;
  const bootId = uuid(n * 2);
  const instance = uuid(n * 2 + 1);
  const event = (type: string, data: unknown): Event => {
    seq += 1;
    ms += 3;
    const time = `${new Date(BASE + ms).toISOString().slice(0, 23)}${String((seq * 7919) % 1000000).padStart(6, '0')}Z`;
    return { v: 1, type, host, bootId, instance, seq, time, monoNs: String(ms * 1_000_000 + seq), data } as Event;
  };
  return { host, event };
}

/** Every event of the fleet, in publish order per host (host a's, then host b's). */
export function ownerFleet(): Event[] {
  const out: Event[] = [];
  const hosts = [stream('node-a', 1, 0), stream('node-b', 2, 15 * 3600_000)];
  hosts.forEach((s, h) => {
    out.push(s.event('agent.started', { kernelRelease: '6.12.1', arch: 'x86_64', agentVersion: '0.1.0', mode: 'tracepoint', capabilities: [] }));
    const hit = (skaddr: string, from: TcpStateName, to: TcpStateName, sport: number, dport: number, owned: Owned, softirq = false) =>
      out.push(s.event('probe.hit', {
        probe: 'inet_sock_set_state', cpu: h, pid: softirq ? 0 : (owned.owner?.pid ?? 55), comm: softirq ? 'swapper/0' : (owned.owner?.comm ?? 'x'),
        ...(softirq ? { ctx: { irqsOff: false, needResched: false, hardirq: false, softirq: true, nmi: false, preemptDepth: 1 } } : {}),
        args: { skaddr, family: h === 0 ? 'AF_INET' : 'AF_INET6', saddr: h === 0 ? '10.0.0.1' : 'fd00::1', daddr: h === 0 ? '10.0.0.2' : 'fd00::2', sport, dport, oldstate: from, newstate: to } as TcpArgs,
        ...owned,
      }));
    const direct = (o: Owner): Owned => ({ owner: o, attribution: 'direct' });
    const socket = (o: Owner): Owned => ({ owner: o, attribution: 'socket' });
    hit('0xffff888000001000', 'TCP_CLOSE', 'TCP_LISTEN', 443, 0, direct(FLEET_OWNERS.nginx!));
    const kinds = [FLEET_OWNERS.curl!, FLEET_OWNERS.worker!, FLEET_OWNERS.unit!, FLEET_OWNERS.escaped!, FLEET_OWNERS.exited!];
    for (let i = 0; i < 60; i++) {
      const client = kinds[i % kinds.length]!;
      const c = `0xffff8880000${(0x2000 + i * 0x40).toString(16)}`;
      const a = `0xffff8880000${(0x8000 + i * 0x40).toString(16)}`;
      const port = 40000 + i;
      // The older agent (no owner at all) for a few sockets.
      const old = i % 13 === 12;
      const o = (x: Owned): Owned => (old ? {} : x);
      hit(c, 'TCP_CLOSE', 'TCP_SYN_SENT', 0, 443, o(direct(client)));
      hit(a, 'TCP_LISTEN', 'TCP_SYN_RECV', 443, 0, o(socket(FLEET_OWNERS.nginx!)), true);
      hit(c, 'TCP_SYN_SENT', 'TCP_ESTABLISHED', port, 443, o(socket(client)), true);
      hit(a, 'TCP_SYN_RECV', 'TCP_ESTABLISHED', 443, port, o(socket(FLEET_OWNERS.nginx!)), true);
      if (i % 10 === 9) continue; // still open
      // A socket passed to another process (its owner changes hands), now and then.
      const closer = i % 7 === 3 ? FLEET_OWNERS.unit! : client;
      hit(c, 'TCP_ESTABLISHED', 'TCP_FIN_WAIT1', port, 443, o(direct(closer)));
      hit(a, 'TCP_ESTABLISHED', 'TCP_CLOSE_WAIT', 443, port, o(socket(FLEET_OWNERS.nginx!)), true);
      hit(c, 'TCP_FIN_WAIT1', 'TCP_FIN_WAIT2', port, 443, o(socket(closer)), true);
      hit(a, 'TCP_CLOSE_WAIT', 'TCP_LAST_ACK', 443, port, o(direct(FLEET_OWNERS.nginx!)));
      hit(c, 'TCP_FIN_WAIT2', 'TCP_CLOSE', port, 443, o(i % 4 === 0 ? { attribution: 'unknown' } : socket(closer)), true);
      hit(a, 'TCP_LAST_ACK', 'TCP_CLOSE', 443, port, o(socket(FLEET_OWNERS.nginx!)), true);
    }
  });
  return out;
}
