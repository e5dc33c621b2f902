// A task (the pid a trace hit reports is a thread id) → the owner: its process, the thread's comm,
// the cgroup, container and pod. Read from /proc once per task and cached, so the hot path is a
// map lookup; entries expire (a pid can be reused) and the cache is bounded.
import { readFileSync } from 'node:fs';
import type { Owner } from '@probefleet/events';
import { cgroupPath, identityOf } from './cgroup';
import type { PodNames } from './pods';

const TGID = /^Tgid:\s*(\d+)$/m;
const MAX_COMM = 15;

export interface ProcessResolverOptions {
  procRoot?: string;
  pods?: PodNames;
  /** How long a task's owner is trusted before /proc is read again. */
  ttlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

export class ProcessResolver {
  private readonly cache = new Map<number, { owner: Owner | undefined; at: number }>();
  private readonly procRoot: string;
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  reads = 0;

  constructor(private readonly o: ProcessResolverOptions = {}) {
    this.procRoot = o.procRoot ?? '/proc';
    this.ttlMs = o.ttlMs ?? 2000;
    this.maxEntries = o.maxEntries ?? 8192;
    this.now = o.now ?? (() => performance.now());
  }

  /** The owner of task `tid`, undefined when it is gone (or is a kernel thread without a process). */
  owner(tid: number): Owner | undefined {
    const t = this.now();
    const hit = this.cache.get(tid);
    if (hit !== undefined && t - hit.at < this.ttlMs) return hit.owner;
    const owner = this.read(tid);
    if (this.cache.size >= this.maxEntries) this.cache.clear();
    this.cache.set(tid, { owner, at: t });
    return owner;
  }

  /** The owner of a process found by the start-up scan (its thread group leader). */
  read(tid: number): Owner | undefined {
    this.reads++;
    const dir = `${this.procRoot}/${tid}`;
    let status: string;
    let comm: string;
    let cgroup: string;
    try {
      status = readFileSync(`${dir}/status`, 'utf8');
      comm = readFileSync(`${dir}/comm`, 'utf8').replace(/\n$/, '');
      cgroup = readFileSync(`${dir}/cgroup`, 'utf8');
    } catch {
      return undefined;
    }
    const pid = Number(TGID.exec(status)?.[1] ?? 0);
    if (pid < 1) return undefined;
    const path = cgroupPath(cgroup);
    const { container, podUid } = identityOf(path);
    return {
      pid,
      comm: Buffer.byteLength(comm) > MAX_COMM ? Buffer.from(comm).subarray(0, MAX_COMM).toString() : comm,
      cgroup: path,
      ...(container === undefined ? {} : { container }),
      ...(podUid === undefined ? {} : { pod: this.o.pods?.pod(podUid) ?? { uid: podUid } }),
    };
  }
}
