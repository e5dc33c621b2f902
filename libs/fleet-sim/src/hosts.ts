// The fleet's hosts: roles with their services and upstreams, kernels (which decide the agent's
// mode), addresses, cpus, ephemeral port ranges and how busy each host is. All drawn from the seed.
import { ipv6Text } from './addresses';
import type { Random } from './random';

export type Role = 'web' | 'app' | 'db' | 'cache' | 'broker' | 'worker';
export type AgentMode = 'kprobe' | 'tracepoint';

/** A listening socket of a service: AF_INET on 0.0.0.0, AF_INET6 on :: (v6only, or dual-stack taking v4 clients as ::ffff:a.b.c.d). */
export interface ListenerSpec {
  family: 'AF_INET' | 'AF_INET6';
  dualStack: boolean;
}

export interface Service {
  port: number;
  /** The process that accepts and closes the service's connections. */
  comm: string;
  listeners: readonly ListenerSpec[];
}

export interface Upstream {
  /** A fleet role (its hosts' addresses are the peers), or the internet. */
  peer: Role | 'internet';
  port: number;
  /** The process that connects. */
  comm: string;
  weight: number;
}

interface RoleSpec {
  share: number;
  services: readonly Service[];
  upstreams: readonly Upstream[];
  /** Who connects to this role's services: fleet roles and/or the internet. */
  clients: readonly (Role | 'internet')[];
  /** Sockets in flight, order of magnitude. */
  concurrency: number;
  /** Relative traffic. */
  weight: number;
}

const V4: ListenerSpec = { family: 'AF_INET', dualStack: false };
const V6ONLY: ListenerSpec = { family: 'AF_INET6', dualStack: false };
const DUAL: ListenerSpec = { family: 'AF_INET6', dualStack: true };

export const ROLES: Readonly<Record<Role, RoleSpec>> = {
  web: {
    share: 0.3,
    services: [
      { port: 443, comm: 'nginx', listeners: [V4, V6ONLY] },
      { port: 80, comm: 'nginx', listeners: [V4, V6ONLY] },
    ],
    upstreams: [
      { peer: 'app', port: 8080, comm: 'nginx', weight: 8 },
      { peer: 'cache', port: 6379, comm: 'nginx', weight: 1 },
    ],
    clients: ['internet'],
    concurrency: 192,
    weight: 3,
  },
  app: {
    share: 0.3,
    services: [{ port: 8080, comm: 'java', listeners: [DUAL] }],
    upstreams: [
      { peer: 'db', port: 5432, comm: 'java', weight: 4 },
      { peer: 'cache', port: 6379, comm: 'java', weight: 4 },
      { peer: 'broker', port: 9092, comm: 'java', weight: 1 },
      { peer: 'internet', port: 443, comm: 'java', weight: 1 },
    ],
    clients: ['web'],
    concurrency: 128,
    weight: 2,
  },
  db: {
    share: 0.1,
    services: [{ port: 5432, comm: 'postgres', listeners: [V4, V6ONLY] }],
    upstreams: [{ peer: 'db', port: 5432, comm: 'postgres', weight: 1 }],
    clients: ['app', 'worker'],
    concurrency: 64,
    weight: 1,
  },
  cache: {
    share: 0.1,
    services: [{ port: 6379, comm: 'redis-server', listeners: [V4] }],
    upstreams: [],
    clients: ['app', 'web'],
    concurrency: 64,
    weight: 1.5,
  },
  broker: {
    share: 0.05,
    services: [{ port: 9092, comm: 'java', listeners: [DUAL] }],
    upstreams: [{ peer: 'broker', port: 9092, comm: 'java', weight: 1 }],
    clients: ['app', 'worker'],
    concurrency: 48,
    weight: 1,
  },
  worker: {
    share: 0.15,
    services: [],
    upstreams: [
      { peer: 'internet', port: 443, comm: 'python3', weight: 4 },
      { peer: 'db', port: 5432, comm: 'python3', weight: 2 },
      { peer: 'broker', port: 9092, comm: 'python3', weight: 1 },
      { peer: 'internet', port: 80, comm: 'curl', weight: 1 },
    ],
    clients: [],
    concurrency: 32,
    weight: 1,
  },
};

export const ROLE_NAMES = Object.keys(ROLES) as Role[];

/** A kernel the fleet runs; `next` is the release a reboot may upgrade to. */
export interface KernelRelease {
  release: string;
  mode: AgentMode;
  next?: string;
}

/**
 * Distribution kernels with kprobe events (kprobe mode), and kernels built without
 * CONFIG_KPROBE_EVENTS, where the agent falls back to the sock:inet_sock_set_state tracepoint.
 */
export const KERNELS: readonly KernelRelease[] = [
  { release: '6.1.0-41-amd64', mode: 'kprobe', next: '6.1.0-42-amd64' },
  { release: '6.1.0-42-amd64', mode: 'kprobe' },
  { release: '6.12.57+deb13-amd64', mode: 'kprobe' },
  { release: '6.8.0-87-generic', mode: 'kprobe', next: '6.8.0-88-generic' },
  { release: '6.8.0-88-generic', mode: 'kprobe' },
  { release: '5.15.0-161-generic', mode: 'kprobe' },
  { release: '5.14.0-570.58.1.el9_6.x86_64', mode: 'kprobe' },
  { release: '6.6.111-hardened1', mode: 'tracepoint', next: '6.6.112-hardened1' },
  { release: '6.6.112-hardened1', mode: 'tracepoint' },
  { release: '6.1.155-minimal', mode: 'tracepoint' },
];

export function kernelRelease(release: string): KernelRelease {
  const k = KERNELS.find((x) => x.release === release);
  if (k === undefined) throw new RangeError(`unknown kernel release ${release}`);
  return k;
}

const DATACENTERS = ['fra1', 'ams3', 'iad2', 'sfo3'];
const CPU_COUNTS = [2, 4, 4, 8, 8, 16, 32, 64];

export interface HostProfile {
  /** Host name, e.g. web-007.fra1 (the Kafka key and the envelope's host). */
  name: string;
  role: Role;
  datacenter: string;
  cpus: number;
  ipv4: string;
  ipv6: string;
  /** Share of the host's own connections over IPv6. */
  ipv6Share: number;
  /** net.ipv4.ip_local_port_range. */
  ephemeral: readonly [number, number];
  /** The kernel at the simulation's start (reboots may upgrade it). */
  kernel: string;
  mode: AgentMode;
  /** Relative share of the fleet's hits. */
  weight: number;
  concurrency: number;
  services: readonly Service[];
  upstreams: readonly Upstream[];
}

export interface HostOptions {
  /** Share of hosts whose kernel has no kprobe events (tracepoint mode). */
  tracepointShare: number;
  /** Share of connections over IPv6 on an average host. */
  ipv6Share: number;
}

/** `count` hosts: roles by share (every role once before any repeats, so small fleets talk to each other). */
export function makeHosts(count: number, opts: HostOptions, rnd: Random): HostProfile[] {
  const roles: Role[] = [];
  for (let i = 0; i < count; i++) {
    roles.push(i < ROLE_NAMES.length ? (ROLE_NAMES[i] as Role) : rnd.weighted(ROLE_NAMES.map((r) => [r, ROLES[r].share] as const)));
  }
  const numbers = new Map<string, number>();
  return roles.map((role, i) => {
    const dc = DATACENTERS[i % DATACENTERS.length] as string;
    const dcIndex = i % DATACENTERS.length;
    const n = (numbers.get(`${role}.${dc}`) ?? 0) + 1;
    numbers.set(`${role}.${dc}`, n);
    const tracepoint = rnd.chance(opts.tracepointShare);
    const kernels = KERNELS.filter((k) => k.mode === (tracepoint ? 'tracepoint' : 'kprobe'));
    const kernel = rnd.pick(kernels);
    const rack = 1 + Math.floor(i / 200);
    const slot = 1 + (i % 200);
    const spec = ROLES[role];
    return {
      name: `${role}-${String(n).padStart(3, '0')}.${dc}`,
      role,
      datacenter: dc,
      cpus: rnd.pick(CPU_COUNTS),
      ipv4: `10.${16 + dcIndex}.${rack}.${slot + 10}`,
      ipv6: ipv6Text([0xfd00, 0x10 + dcIndex, rack, 0, 0, 0, 0, slot + 10]),
      ipv6Share: Math.min(1, opts.ipv6Share * rnd.next() * 2),
      ephemeral: rnd.chance(0.8) ? [32768, 60999] : rnd.pick([[1024, 65535], [10000, 65000]] as const),
      kernel: kernel.release,
      mode: kernel.mode,
      weight: spec.weight * rnd.logNormal(0.6),
      concurrency: Math.max(4, Math.round(spec.concurrency * rnd.logNormal(0.4))),
      services: spec.services,
      upstreams: spec.upstreams,
    };
  });
}

/** Who connects to a role's services. */
export function clientsOf(role: Role): readonly (Role | 'internet')[] {
  return ROLES[role].clients;
}
