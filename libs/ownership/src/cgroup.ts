// A task's cgroup, container and pod from its /proc/<pid>/cgroup text. Pure.
//
// /proc/<pid>/cgroup has one line per hierarchy, `ID:CONTROLLERS:PATH`:
//   pure v2 (cgroup2 at /sys/fs/cgroup):   `0::/system.slice/nginx.service`
//   hybrid (systemd: v1 controllers, v2 at /sys/fs/cgroup/unified): `0::PATH` beside v1 lines
//       such as `4:memory:PATH`, `9:name=systemd:PATH`
//   v1 only: `N:controller[,controller]:PATH`, `N:name=systemd:PATH`
// The most specific path is taken: the unified (v2) one where it is more than `/` (in hybrid mode
// it is `/` for tasks of a v1-only manager), else the v1 `name=systemd` one, else a controller's
// (memory first, the one container managers always set, then the first that is more than `/`).
import type { Container, ContainerRuntime } from '@probefleet/events';

export function cgroupPath(procCgroup: string): string {
  let unified: string | undefined;
  let systemd: string | undefined;
  let memory: string | undefined;
  let other: string | undefined;
  for (const line of procCgroup.split('\n')) {
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a < 0 || b < 0) continue;
    const controllers = line.slice(a + 1, b);
    const path = line.slice(b + 1);
    if (path === '' || path === '/') continue;
    if (line.slice(0, a) === '0' && controllers === '') unified ??= path;
    else if (controllers === 'name=systemd') systemd ??= path;
    else if (controllers.split(',').includes('memory')) memory ??= path;
    else other ??= path;
  }
  return unified ?? systemd ?? memory ?? other ?? '/';
}

const HEX64 = '([0-9a-f]{64})';
/**
 * Container ids in cgroup path components, per runtime, in systemd-driver (`.scope`) and cgroupfs
 * layouts. conmon's own scope (crio-conmon-…, libpod-conmon-…) is the runtime's monitor, not the
 * container: not matched.
 */
const CONTAINER_PATTERNS: [RegExp, ContainerRuntime][] = [
  [new RegExp(`^docker-${HEX64}\\.scope$`), 'docker'],
  [new RegExp(`^cri-containerd-${HEX64}\\.scope$`), 'containerd'],
  [new RegExp(`^nerdctl-${HEX64}\\.scope$`), 'containerd'],
  [new RegExp(`^crio-${HEX64}\\.scope$`), 'cri-o'],
  [new RegExp(`^crio-${HEX64}$`), 'cri-o'],
  [new RegExp(`^libpod-${HEX64}\\.scope$`), 'podman'],
  [new RegExp(`^libpod-${HEX64}$`), 'podman'],
];
/** cgroupfs layouts where the parent names the runtime: /docker/<id>, /default/<id> (containerd's namespace). */
const PARENT_RUNTIME: Record<string, ContainerRuntime> = { docker: 'docker', default: 'containerd', libpod_parent: 'podman' };
const BARE_ID = new RegExp(`^${HEX64}$`);
const POD_SYSTEMD = /^kubepods(?:-[a-z]+)?-pod([0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{12})\.slice$/;
const POD_CGROUPFS = /^pod([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
const SERVICE = /^[^/]+\.service$/;

export interface PathIdentity {
  container?: Container;
  /** The pod's uid (the kubelet names the pod's cgroup after it). */
  podUid?: string;
}

/** The container and the pod uid a cgroup path names, the innermost match winning. */
export function identityOf(path: string): PathIdentity {
  const parts = path.split('/').filter((p) => p !== '');
  const out: PathIdentity = {};
  let inKubepods = false;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part.startsWith('kubepods')) inKubepods = true;
    const pod = POD_SYSTEMD.exec(part)?.[1]?.replace(/_/g, '-') ?? (inKubepods ? POD_CGROUPFS.exec(part)?.[1] : undefined);
    if (pod !== undefined) out.podUid = pod;
    const c = containerOf(part, parts[i - 1], inKubepods);
    if (c !== undefined) out.container = c;
  }
  return out;
}

function containerOf(part: string, parent: string | undefined, inKubepods: boolean): Container | undefined {
  for (const [re, runtime] of CONTAINER_PATTERNS) {
    const id = re.exec(part)?.[1];
    if (id !== undefined) return { id, runtime };
  }
  if (BARE_ID.test(part)) {
    // A bare id under a pod's cgroup (kubelet's cgroupfs driver): the runtime is not in the path.
    if (inKubepods) return { id: part, runtime: 'cri' };
    const runtime = parent === undefined ? undefined : PARENT_RUNTIME[parent];
    if (runtime !== undefined) return { id: part, runtime };
  }
  // A systemd service is the unit of its own; only where no container runtime is involved.
  if (!inKubepods && SERVICE.test(part) && part.length <= 255) return { id: part, runtime: 'systemd' };
  return undefined;
}
