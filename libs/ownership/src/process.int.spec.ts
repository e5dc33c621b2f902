// Real cgroups on this host (hybrid: v1 controllers under /sys/fs/cgroup/*, v2 at
// /sys/fs/cgroup/unified), named as kubelet+containerd and docker name theirs, with real processes in
// them: the resolver reads what the kernel says about those processes. Root only.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { hybridCgroups, kubepodsPath, MEMORY, TestCgroups, UNIFIED } from '../test/cgroups';
import { PodNames } from './pods';
import { ProcessResolver } from './process';

const isRoot = process.getuid?.() === 0;
const hybrid = hybridCgroups();
const d = isRoot && hybrid ? describe : describe.skip;

d('ProcessResolver on real cgroups', () => {
  const children: ChildProcess[] = [];
  const podUid = randomUUID();
  const containerId = randomBytes(32).toString('hex');
  const dockerId = randomBytes(32).toString('hex');
  const podsDir = mkdtempSync(join(tmpdir(), 'pf-pods-'));
  // kubelet's systemd-driver layout in the unified hierarchy; the pod slice names the uid with _.
  const kubePath = kubepodsPath(podUid, containerId);
  const dockerPath = `/pf-test-${process.pid}/docker/${dockerId}`;

  const cgroups = new TestCgroups();
  const mkcg = (root: string, path: string) => cgroups.make(root, path);
  const start = (): ChildProcess => {
    const c = spawn('sleep', ['300'], { stdio: 'ignore' });
    children.push(c);
    return c;
  };

  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    return new Promise<void>((resolve) => setTimeout(() => {
      cgroups.remove();
      rmSync(podsDir, { recursive: true, force: true });
      resolve();
    }, 300));
  });

  it('a process in a kubepods/cri-containerd scope (unified) gets that cgroup, the container, and its pod by name', () => {
    const c = start();
    writeFileSync(`${mkcg(UNIFIED, kubePath)}/cgroup.procs`, String(c.pid));
    mkdirSync(join(podsDir, `shop_web-7d9f_${podUid}`));
    const r = new ProcessResolver({ pods: new PodNames(podsDir) });
    expect(r.owner(c.pid!)).toEqual({
      pid: c.pid, comm: 'sleep', cgroup: kubePath,
      container: { id: containerId, runtime: 'containerd' },
      pod: { namespace: 'shop', name: 'web-7d9f', uid: podUid },
    });
  });

  it('a process in a v1 controller only (unified at /) gets the v1 path: docker, cgroupfs layout', () => {
    const c = start();
    writeFileSync(`${mkcg(MEMORY, dockerPath)}/cgroup.procs`, String(c.pid));
    // The unified hierarchy of this hybrid host has no controllers (systemd's tracking only): its
    // root is a safe place, and leaves the v1 path as the most specific.
    writeFileSync(`${UNIFIED}/cgroup.procs`, String(c.pid));
    expect(new ProcessResolver().owner(c.pid!)).toEqual({ pid: c.pid, comm: 'sleep', cgroup: dockerPath, container: { id: dockerId, runtime: 'docker' } });
  });

  it('a thread reports its process (Tgid) and its own comm; a pod the kubelet does not show keeps its uid, counted', () => {
    // node: its worker threads are tasks of their own with the process's Tgid.
    const c = spawn(process.execPath, ['-e', "require('worker_threads'); process.title='pf-owner'; setInterval(()=>{}, 1000)"], { stdio: 'ignore' });
    children.push(c);
    const podUid2 = randomUUID();
    const path = `/kubepods.slice/kubepods-pod${podUid2.replace(/-/g, '_')}.slice/crio-${containerId}.scope`;
    writeFileSync(`${mkcg(UNIFIED, path)}/cgroup.procs`, String(c.pid));
    const pods = new PodNames(podsDir);
    const r = new ProcessResolver({ pods });
    return new Promise<void>((resolve) => setTimeout(() => {
      const tids = readdirSync(`/proc/${c.pid}/task`).map(Number).filter((t) => t !== c.pid);
      expect(tids.length).toBeGreaterThan(0);
      const o = r.owner(tids[0]!);
      expect(o).toMatchObject({ pid: c.pid, comm: readFileSync(`/proc/${tids[0]}/comm`, 'utf8').trim(), cgroup: path, container: { id: containerId, runtime: 'cri-o' }, pod: { uid: podUid2 } });
      expect(o?.pod?.name).toBeUndefined();
      expect(pods.misses).toBe(1);
      // A pod appearing later (replaced pods get new uids) is found at the next miss.
      mkdirSync(join(podsDir, `default_api-1_${podUid2}`));
      expect(new ProcessResolver({ pods: new PodNames(podsDir, 0) }).owner(c.pid!)?.pod).toEqual({ namespace: 'default', name: 'api-1', uid: podUid2 });
      resolve();
    }, 500));
  });

  it('a task that is gone has no owner', () => {
    const c = start();
    const pid = c.pid!;
    c.kill('SIGKILL');
    return new Promise<void>((resolve) => c.once('exit', () => setTimeout(() => {
      expect(new ProcessResolver().owner(pid)).toBeUndefined();
      resolve();
    }, 50)));
  });
});
