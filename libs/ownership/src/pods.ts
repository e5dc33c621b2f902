// Pod namespace and name by uid. The cgroup path gives only the uid; the names are read from the
// node's kubelet log directories, `/var/log/pods/<namespace>_<name>_<uid>` (kubelet makes one per pod
// for the CRI's container logs, whatever the runtime, and removes it with the pod). That needs no
// credentials and no API server. Where the directory is missing (no kubelet, logs elsewhere, a
// static pod not yet started), the pod is reported by its uid alone and the miss is counted.
import { readdirSync } from 'node:fs';
import type { Pod } from '@probefleet/events';

const ENTRY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)_([^_/]+)_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/** `<namespace>_<name>_<uid>` → its parts (a namespace is a DNS label, so it holds no `_`). */
export function parsePodDir(entry: string): Required<Pod> | undefined {
  const m = ENTRY.exec(entry);
  if (m === null || m[1]!.length > 63 || m[3]!.length > 253) return undefined;
  return { namespace: m[1]!, name: m[3]!, uid: m[4]! };
}

export class PodNames {
  private byUid = new Map<string, Required<Pod>>();
  private readAt = -Infinity;
  misses = 0;

  constructor(
    private readonly dir = '/var/log/pods',
    /** A uid not found re-reads the directory, but not more often than this (a new pod appears there at its start). */
    private readonly retryMs = 1000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The pod of `uid`, with its names where the node shows them. */
  pod(uid: string): Pod {
    let p = this.byUid.get(uid);
    if (p === undefined && this.now() - this.readAt >= this.retryMs) {
      this.reload();
      p = this.byUid.get(uid);
    }
    if (p === undefined) {
      this.misses++;
      return { uid };
    }
    return p;
  }

  private reload(): void {
    this.readAt = this.now();
    let entries: string[];
    try {
      entries = readdirSync(this.dir);
    } catch {
      entries = [];
    }
    const next = new Map<string, Required<Pod>>();
    for (const e of entries) {
      const p = parsePodDir(e);
      if (p !== undefined) next.set(p.uid, p);
    }
    this.byUid = next;
  }
}
