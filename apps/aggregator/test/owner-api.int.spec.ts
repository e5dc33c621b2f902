// The socket's owner through the real store and API: owned hits ingested by ingest(), the
// transitions and lifetimes served with the owner fields, the owner filters, and 400s naming them.
import type { Event, Owner, TcpArgs } from '@probefleet/events';
import { createPrisma, type Db } from '../src/store/prisma';
import { startApi, type ApiUnderTest } from './api-app';
import { record, testStream } from './streams';
import { ingest } from './test-ingest';
import { createMigratedDatabase, type TempDatabase } from './temp-database';

const UID = '0c3a9f1e-2b4d-4c8e-9a7f-1d2e3f4a5b6c';
const ID = 'ab'.repeat(32);
const SERVER: Owner = {
  pid: 4242, comm: 'nginx', cgroup: `/kubepods.slice/kubepods-pod${UID.replace(/-/g, '_')}.slice/cri-containerd-${ID}.scope`,
  container: { id: ID, runtime: 'containerd' }, pod: { namespace: 'shop', name: 'web-1', uid: UID },
};
const CLIENT: Owner = { pid: 7, comm: 'curl', cgroup: '/user.slice/session-1.scope' };

describe('owner in the API', () => {
  let tmp: TempDatabase;
  let db: Db;
  let api: ApiUnderTest;
  const s = testStream('node-1');
  const hit = (args: Partial<TcpArgs> & Pick<TcpArgs, 'skaddr' | 'sport' | 'dport' | 'oldstate' | 'newstate'>, owner: Owner | undefined, attribution: 'direct' | 'socket' | 'unknown'): Event =>
    s.event('probe.hit', { probe: 'inet_sock_set_state', cpu: 0, pid: 1, comm: 'swapper', args: { family: 'AF_INET', saddr: '127.0.0.1', daddr: '127.0.0.1', ...args }, ...(owner ? { owner } : {}), attribution });

  beforeAll(async () => {
    tmp = await createMigratedDatabase('probefleet_owner_api');
    db = createPrisma(tmp.url);
    const events = [
      hit({ skaddr: '0x10', sport: 80, dport: 0, oldstate: 'TCP_CLOSE', newstate: 'TCP_LISTEN' }, SERVER, 'direct'),
      hit({ skaddr: '0x20', sport: 0, dport: 80, oldstate: 'TCP_CLOSE', newstate: 'TCP_SYN_SENT' }, CLIENT, 'direct'),
      hit({ skaddr: '0x30', sport: 80, dport: 5000, oldstate: 'TCP_LISTEN', newstate: 'TCP_SYN_RECV' }, SERVER, 'socket'),
      hit({ skaddr: '0x20', sport: 5000, dport: 80, oldstate: 'TCP_SYN_SENT', newstate: 'TCP_ESTABLISHED' }, CLIENT, 'socket'),
      hit({ skaddr: '0x30', sport: 80, dport: 5000, oldstate: 'TCP_SYN_RECV', newstate: 'TCP_ESTABLISHED' }, SERVER, 'socket'),
      hit({ skaddr: '0x40', sport: 9, dport: 9, oldstate: 'TCP_ESTABLISHED', newstate: 'TCP_CLOSE' }, undefined, 'unknown'),
    ];
    // Two batches: the lifetimes are read back and moved on by the second (the UPDATE path).
    await ingest(db, [record(events.slice(0, 3), 0, 0)]);
    await ingest(db, [record(events.slice(3), 0, 1)]);
    api = await startApi(tmp.url);
  });

  afterAll(async () => {
    await api?.close();
    await db?.$disconnect();
    await tmp?.drop();
  });

  const serverFields = {
    ownerPid: 4242, ownerComm: 'nginx', cgroup: SERVER.cgroup, container: { id: ID, runtime: 'containerd' },
    podNamespace: 'shop', podName: 'web-1', podUid: UID,
  };

  it('serves each transition with its owner and attribution', async () => {
    const { body } = await api.get('/api/v1/transitions', { order: 'asc' });
    expect(body.items.map((t: { attribution: string; ownerPid: number | null }) => [t.attribution, t.ownerPid])).toEqual([
      ['direct', 4242], ['direct', 7], ['socket', 4242], ['socket', 7], ['socket', 4242], ['unknown', null],
    ]);
    expect(body.items[2]).toMatchObject({ ...serverFields, attribution: 'socket', pid: 1, comm: 'swapper' });
    expect(body.items[1]).toMatchObject({ ownerPid: 7, ownerComm: 'curl', cgroup: CLIENT.cgroup, container: null, podNamespace: null, podName: null, podUid: null });
  });

  it('serves each lifetime with its owner (the latest attributed, the strongest attribution)', async () => {
    const { body } = await api.get('/api/v1/connections', { order: 'asc' });
    const by = (sk: string) => body.items.find((c: { skaddr: string }) => c.skaddr === sk);
    expect(by('0x10')).toMatchObject({ ...serverFields, attribution: 'direct' });
    expect(by('0x20')).toMatchObject({ ownerPid: 7, ownerComm: 'curl', attribution: 'direct', lastState: 'TCP_ESTABLISHED' });
    expect(by('0x30')).toMatchObject({ ...serverFields, attribution: 'socket' });
    expect(by('0x40')).toMatchObject({ ownerPid: null, attribution: 'unknown', closedAt: expect.any(String) });
  });

  it.each([
    [{ pid: 7 }, ['0x20', '0x20']],
    [{ comm: 'nginx' }, ['0x10', '0x30', '0x30']],
    [{ container: ID.slice(0, 12) }, ['0x10', '0x30', '0x30']],
    [{ container: ID }, ['0x10', '0x30', '0x30']],
    [{ namespace: 'shop', pod: 'web-1' }, ['0x10', '0x30', '0x30']],
    [{ pod: UID }, ['0x10', '0x30', '0x30']],
    [{ pod: 'web-2' }, []],
    [{ comm: 'nginx', port: 5000 }, ['0x30', '0x30']],
  ])('filters transitions by %j', async (query, skaddrs) => {
    const { status, body } = await api.get('/api/v1/transitions', { ...query, order: 'asc' });
    expect(status).toBe(200);
    expect(body.items.map((t: { skaddr: string }) => t.skaddr)).toEqual(skaddrs);
  });

  it('filters lifetimes by the owner too', async () => {
    const { body } = await api.get('/api/v1/connections', { namespace: 'shop', order: 'asc' });
    expect(body.items.map((c: { skaddr: string }) => c.skaddr)).toEqual(['0x10', '0x30']);
    const { body: curl } = await api.get('/api/v1/connections', { comm: 'curl' });
    expect(curl.items.map((c: { skaddr: string }) => c.skaddr)).toEqual(['0x20']);
  });

  it('counts by owner from raw rows (the rollups have no owner)', async () => {
    const { body } = await api.get('/api/v1/stats/transitions', { from: '2026-11-25T10:00:00Z', to: '2026-11-25T10:01:00Z', comm: 'nginx' });
    expect(body.items.reduce((n: number, i: { count: number }) => n + i.count, 0)).toBe(3);
  });

  it.each([
    ['pid', 'x'], ['pid', '0'], ['comm', 'x'.repeat(16)], ['container', 'abc'], ['container', 'ABCDEF0123456789'], ['namespace', ''], ['pod', 'x'.repeat(254)],
  ])('refuses %s=%j with a 400 naming it', async (name, value) => {
    for (const path of ['/api/v1/transitions', '/api/v1/connections']) {
      const { status, body } = await api.get(path, { [name]: value });
      expect(status).toBe(400);
      expect(body.message).toMatch(new RegExp(`^${name}: `));
    }
  });
});
