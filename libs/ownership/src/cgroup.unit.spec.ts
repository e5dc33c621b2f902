import { cgroupPath, identityOf } from './cgroup';
import { parsePodDir } from './pods';
import { parseProcNetTcp } from './scan';

const ID = '0123456789abcdef'.repeat(4);
const UID = '0c3a9f1e-2b4d-4c8e-9a7f-1d2e3f4a5b6c';

describe('cgroupPath', () => {
  it('pure v2: the one line', () => {
    expect(cgroupPath('0::/system.slice/nginx.service\n')).toBe('/system.slice/nginx.service');
  });
  it('hybrid: the unified path when it is more than /, else name=systemd, else memory', () => {
    const hybrid = (unified: string, systemd: string, memory: string) => `12:pids:/\n9:name=systemd:${systemd}\n4:memory:${memory}\n1:cpu,cpuacct:/\n0::${unified}\n`;
    expect(cgroupPath(hybrid('/a.slice/x.scope', '/b', '/c'))).toBe('/a.slice/x.scope');
    expect(cgroupPath(hybrid('/', '/user.slice/session-1.scope', '/c'))).toBe('/user.slice/session-1.scope');
    expect(cgroupPath(hybrid('/', '/', '/process_api/15ae'))).toBe('/process_api/15ae');
    expect(cgroupPath(hybrid('/', '/', '/'))).toBe('/');
  });
  it('v1 only: name=systemd first, else a controller that is more than /', () => {
    expect(cgroupPath(`3:cpu,cpuacct:/docker/${ID}\n2:name=systemd:/docker/${ID}\n`)).toBe(`/docker/${ID}`);
    expect(cgroupPath(`3:cpu,cpuacct:/x\n2:blkio:/\n`)).toBe('/x');
  });
});

describe('identityOf', () => {
  it.each([
    [`/system.slice/docker-${ID}.scope`, { container: { id: ID, runtime: 'docker' } }],
    [`/docker/${ID}`, { container: { id: ID, runtime: 'docker' } }],
    [`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID.replace(/-/g, '_')}.slice/cri-containerd-${ID}.scope`, { container: { id: ID, runtime: 'containerd' }, podUid: UID }],
    [`/kubepods.slice/kubepods-pod${UID.replace(/-/g, '_')}.slice/crio-${ID}.scope`, { container: { id: ID, runtime: 'cri-o' }, podUid: UID }],
    [`/kubepods/burstable/pod${UID}/${ID}`, { container: { id: ID, runtime: 'cri' }, podUid: UID }],
    [`/kubepods/pod${UID}/${ID}`, { container: { id: ID, runtime: 'cri' }, podUid: UID }],
    [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID.replace(/-/g, '_')}.slice`, { podUid: UID }],
    [`/machine.slice/libpod-${ID}.scope`, { container: { id: ID, runtime: 'podman' } }],
    [`/machine.slice/libpod-conmon-${ID}.scope`, {}],
    [`/user.slice/user-1000.slice/user@1000.service/app.slice/podman-1.scope/libpod-${ID}`, { container: { id: ID, runtime: 'podman' } }],
    [`/system.slice/nerdctl-${ID}.scope`, { container: { id: ID, runtime: 'containerd' } }],
    [`/default/${ID}`, { container: { id: ID, runtime: 'containerd' } }],
    ['/system.slice/nginx.service', { container: { id: 'nginx.service', runtime: 'systemd' } }],
    ['/user.slice/user-0.slice/session-3.scope', {}],
    [`/somewhere/${ID}`, {}],
    ['/', {}],
  ])('%s', (path, want) => {
    expect(identityOf(path)).toEqual(want);
  });
});

describe('parsePodDir', () => {
  it('reads <namespace>_<name>_<uid>, nothing else', () => {
    expect(parsePodDir(`kube-system_coredns-5d78c9869d-abcde_${UID}`)).toEqual({ namespace: 'kube-system', name: 'coredns-5d78c9869d-abcde', uid: UID });
    expect(parsePodDir(`shop_web_${UID.toUpperCase()}`)).toBeUndefined();
    expect(parsePodDir('not-a-pod')).toBeUndefined();
  });
});

describe('parseProcNetTcp', () => {
  it('decodes addresses in host byte order, ports, LISTEN; skips TIME_WAIT', () => {
    const v4 = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4819 1 0000000018d46f88 100 0 0 10 0
   1: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 5001 1 0000000018d46f88 100 0 0 10 0
   2: 0100007F:9C41 0100007F:1F90 06 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000018d46f88 100 0 0 10 0
`;
    expect(parseProcNetTcp(v4, 'AF_INET')).toEqual([
      { family: 'AF_INET', saddr: '127.0.0.1', sport: 8080, daddr: '0.0.0.0', dport: 0, listening: true, inode: 4819 },
      { family: 'AF_INET', saddr: '127.0.0.1', sport: 40000, daddr: '127.0.0.1', dport: 8080, listening: false, inode: 5001 },
    ]);
    const v6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:18EB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4820 1 0000000052ea641d 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 4821 1 0000000052ea641d 100 0 0 10 0
`;
    expect(parseProcNetTcp(v6, 'AF_INET6').map((s) => [s.saddr, s.sport, s.daddr])).toEqual([['::1', 6379, '::'], ['::ffff:127.0.0.1', 8080, '::ffff:127.0.0.1']]);
  });
});
