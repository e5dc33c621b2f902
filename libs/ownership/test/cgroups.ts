// Real cgroups for tests, named as container runtimes name theirs, in this host's hierarchies
// (hybrid: v1 controllers under /sys/fs/cgroup/<controller>, v2 at /sys/fs/cgroup/unified). Root only.
import * as fs from 'node:fs';

export const UNIFIED = '/sys/fs/cgroup/unified';
export const MEMORY = '/sys/fs/cgroup/memory';
export const hybridCgroups = (): boolean => fs.existsSync(`${UNIFIED}/cgroup.procs`) && fs.existsSync(`${MEMORY}/cgroup.procs`);

export class TestCgroups {
  private readonly made: string[] = [];

  /** Makes `path` (every missing level) under `root`; returns its directory. */
  make(root: string, path: string): string {
    let at = root;
    for (const part of path.split('/').filter(Boolean)) {
      at = `${at}/${part}`;
      if (!fs.existsSync(at)) {
        fs.mkdirSync(at);
        this.made.push(at);
      }
    }
    return at;
  }

  /** Moves process `pid` into `path` under `root` (made if missing). */
  enter(root: string, path: string, pid: number): void {
    fs.writeFileSync(`${this.make(root, path)}/cgroup.procs`, String(pid));
  }

  /** Removes what make() made, innermost first (call once their processes have exited). */
  remove(): void {
    for (const dir of this.made.reverse()) {
      try {
        fs.rmdirSync(dir);
      } catch {
        // a process still leaving it: the kernel frees it when empty
      }
    }
    this.made.length = 0;
  }
}

/** A kubelet (systemd driver) + containerd container path for a pod uid and a container id. */
export const kubepodsPath = (podUid: string, containerId: string, qos = 'besteffort'): string =>
  `/kubepods.slice/kubepods-${qos}.slice/kubepods-${qos}-pod${podUid.replace(/-/g, '_')}.slice/cri-containerd-${containerId}.scope`;
