// Who owns a host's sockets, as the agent reports it (issue 15): the process (its thread group id,
// comm) and its cgroup, container and pod. Services of the web, app and worker roles run in
// Kubernetes pods (a containerd scope under a burstable kubepods slice, the pod named as the kubelet
// names it); db, cache and broker run as systemd services; curl runs from cron in a user session.
// Everything is derived from the host, the boot and the process by hashing: no draw from the
// simulation's random stream, so a seed gives the same fleet as before owners were added.
import type { Attribution, Life, Owner } from '@probefleet/events';
import type { HostProfile, Role } from './hosts';

/** FNV-1a of `text`, as n hex digits (rounds chained). */
function hex(text: string, n: number): string {
  let out = '';
  for (let round = 0; out.length < n; round++) {
    let h = 0x811c9dc5 ^ round;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
    out += h.toString(16).padStart(8, '0');
  }
  return out.slice(0, n);
}

const uuid = (text: string): string => {
  const h = hex(text, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[parseInt(h[16]!, 16) % 4]}${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

/** The namespace of a role's pods; undefined: the role runs as systemd services. */
const NAMESPACES: Readonly<Record<Role, string | undefined>> = { web: 'frontend', app: 'shop', worker: 'batch', db: undefined, cache: undefined, broker: undefined };
const UNITS: Readonly<Record<string, string>> = { postgres: 'postgresql.service', 'redis-server': 'redis-server.service', java: 'kafka.service' };
const ALNUM = 'bcdfghjklmnpqrstvwxz2456789';

/** The owner of `comm`'s sockets on this host in this boot; `pid` is its thread group id. */
export function ownerOf(profile: HostProfile, bootId: string, comm: string, pid: number): Owner {
  if (comm === 'curl') return { pid, comm, cgroup: '/user.slice/user-1000.slice/session-3.scope' };
  const ns = NAMESPACES[profile.role];
  if (ns === undefined) {
    const unit = UNITS[comm] ?? `${comm}.service`;
    return { pid, comm, cgroup: `/system.slice/${unit}`, container: { id: unit, runtime: 'systemd' } };
  }
  // A pod per (host, boot, process): rescheduled when the node reboots.
  const seed = `${profile.name}/${bootId}/${comm}`;
  const uid = uuid(seed);
  const id = hex(`${seed}/container`, 64);
  const suffix = Array.from(hex(`${seed}/name`, 5), (c) => ALNUM[parseInt(c, 16)]).join('');
  const name = `${comm.replace(/[^a-z0-9]/g, '')}-${hex(`${seed}/rs`, 10)}-${suffix}`;
  return {
    pid, comm, cgroup: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid.replace(/-/g, '_')}.slice/cri-containerd-${id}.scope`,
    container: { id, runtime: 'containerd' }, pod: { namespace: ns, name, uid },
  };
}

/** A step in the owner's own syscall (connect, listen, close) is direct; the rest the agent learned for the socket. */
export const attributionOf = (ctx: 'process' | 'softirq'): Attribution => (ctx === 'process' ? 'direct' : 'socket');

/** tcplife's counters of a socket closing (kprobe mode), from its address and the close's seq. */
export function lifeOf(skaddr: string, seq: number, steps: number): Life {
  const h = parseInt(hex(`${skaddr}/${seq}`, 8), 16);
  // A handshake alone (refused, reset early) moves no payload.
  const payload = steps > 2 ? 1 + (h % 200_000) : 0;
  return { txBytes: payload * ((h >>> 8) % 3 === 0 ? 40 : 1), rxBytes: payload * ((h >>> 12) % 7 + 1), retrans: (h >>> 20) % 17 === 0 ? (h >>> 4) % 5 : 0, srttUs: 40 + ((h >>> 6) % 20_000) };
}
