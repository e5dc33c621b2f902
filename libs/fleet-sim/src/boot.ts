// One boot of a host: its kernel image (KASLR: text and the direct map move at every boot), the
// slab caches socket memory comes from, listening sockets, and process ids.
import type { Owner } from '@probefleet/events';
import type { KernelImage } from '@probefleet/kprobe-model';
import { ownerOf } from './owners';
import type { HostProfile, KernelRelease, Service } from './hosts';
import type { Random } from './random';

/**
 * The first instructions of tcp_set_state and tcp_v4_connect on x86-64 kernels built with ftrace:
 * (endbr64 with IBT,) the 5-byte nop __fentry__ call site — where a kprobe on +0 is ftrace-based —
 * then push %rbp, mov %rsp,%rbp, push %r15, push %r14, push %r13.
 */
const ENDBR64 = 'f30f1efa';
const BODY = ['0f1f440000', '55', '4889e5', '4157', '4156', '4155'];

/** Releases built with CONFIG_X86_KERNEL_IBT: a probe on +0 lands past the endbr64 (+4). */
const IBT = /^(6\.12|6\.8)\./;

function fnv(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** A function's offset from the kernel's text base, stable per release (the build decides it). */
function symbolOffset(release: string, symbol: string): bigint {
  return 0xa00000n + BigInt(fnv(symbol === 'tcp_set_state' ? release : `${release}/${symbol}`) % 0x200000) * 16n;
}

/**
 * kallsyms of this boot: the text base is KASLR'd in 2 MiB steps within the 1 GiB kernel image
 * window. `optimization`: the host's sysctl debug.kprobes-optimization.
 */
function kernelImage(release: string, optimization: boolean, rnd: Random): KernelImage {
  const text = 0xffffffff80000000n + BigInt(rnd.int(1, 0x1e0)) * 0x200000n;
  const ibt = IBT.test(release);
  const insns = ibt ? [ENDBR64, ...BODY] : BODY;
  const symbol = (name: string) => ({ address: `0x${(text + symbolOffset(release, name)).toString(16)}`, insns, fentry: ibt ? 4 : 0 });
  return { ibt, optimization, symbols: { tcp_set_state: symbol('tcp_set_state'), tcp_v4_connect: symbol('tcp_v4_connect') } };
}

/** The offset of `push %r15` in tcp_v4_connect on this image: a later instruction boundary, optimizable. */
export function userProbeOffset(image: KernelImage): number {
  return image.ibt ? 13 : 9;
}

/** Hosts whose agent config adds a user probe on tcp_v4_connect (one in three, by name). */
export function runsUserProbe(host: string): boolean {
  return fnv(`probe/${host}`) % 3 === 0;
}

/** Hosts whose admins set debug.kprobes-optimization=0 (one in four, by name): their user probes stay int3. */
export function optimizationOff(host: string): boolean {
  return fnv(host) % 4 === 0;
}

/**
 * A slab cache of socket objects (TCP 0x900 bytes, TCPv6 0x9c0, 32 KiB slabs) in this boot's direct
 * map. Freed objects are reused last-in first-out, like the per-cpu freelists, so a closed socket's
 * address soon comes back for a new one.
 */
export class SlabCache {
  private readonly free: string[] = [];

  constructor(
    private readonly objectSize: number,
    private readonly pageOffset: bigint,
    private readonly rnd: Random,
  ) {}

  alloc(): string {
    if (this.free.length === 0) {
      const slab = this.pageOffset + BigInt(this.rnd.int(0x2000, 0xfffff)) * 0x8000n;
      const n = Math.floor(0x8000 / this.objectSize);
      for (let i = n - 1; i >= 0; i--) this.free.push(`0x${(slab + BigInt(i * this.objectSize)).toString(16)}`);
    }
    return this.free.pop() as string;
  }

  release(address: string): void {
    this.free.push(address);
  }
}

export interface Listener {
  skaddr: string;
  family: 'AF_INET' | 'AF_INET6';
  dualStack: boolean;
}

export interface Boot {
  bootId: string;
  kernel: KernelRelease;
  image: KernelImage;
  /** Virtual ns (from the simulation's start) when the host booted: CLOCK_MONOTONIC is 0 there. */
  bootedAt: number;
  /** No agent ran in this boot yet: the first one finds connections that predate it. */
  fresh: boolean;
  slabs: Record<'AF_INET' | 'AF_INET6', SlabCache>;
  /** Listening sockets by service port. */
  listeners: Map<number, Listener[]>;
  /** Thread ids per process name (a connection's process steps run on one of them). */
  pids: Map<string, number[]>;
  /** Every (process, thread id): what a softirq may interrupt. */
  tasks: { comm: string; pid: number }[];
  /** The owner of each process's sockets (its first thread id is its thread group id). */
  owners: Map<string, Owner>;
}

/** Worker threads per process (what the tid of a hit in that process is drawn from). */
const THREADS: Readonly<Record<string, number>> = { java: 48, postgres: 24, 'redis-server': 4, python3: 8, curl: 1, node: 4 };

export function newBoot(profile: HostProfile, kernel: KernelRelease, bootedAt: number, rnd: Random): Boot {
  const pageOffset = 0xffff888000000000n + BigInt(rnd.int(0, 0x3fff)) * 0x40000000n;
  const slabs = { AF_INET: new SlabCache(0x900, pageOffset, rnd), AF_INET6: new SlabCache(0x9c0, pageOffset, rnd) };
  const listeners = new Map<number, Listener[]>();
  for (const s of profile.services) {
    listeners.set(s.port, s.listeners.map((l) => ({ skaddr: slabs[l.family].alloc(), family: l.family, dualStack: l.dualStack })));
  }
  const comms = new Set<string>([...profile.services.map((s: Service) => s.comm), ...profile.upstreams.map((u) => u.comm)]);
  const pids = new Map<string, number[]>();
  for (const comm of comms) {
    const n = comm === 'nginx' ? profile.cpus : (THREADS[comm] ?? 2);
    pids.set(comm, Array.from({ length: n }, () => rnd.int(600, 400000)));
  }
  const tasks = [...pids].flatMap(([comm, ids]) => ids.map((pid) => ({ comm, pid })));
  const bootId = rnd.uuid();
  const image = kernelImage(kernel.release, !optimizationOff(profile.name), rnd);
  const owners = new Map([...pids].map(([comm, ids]) => [comm, ownerOf(profile, bootId, comm, ids[0]!)]));
  return { bootId, kernel, image, bootedAt, fresh: true, slabs, listeners, pids, tasks, owners };
}
