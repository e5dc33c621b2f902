// The owner dictionary (tcp_owners) against the real PostgreSQL: concurrent aggregators meeting the
// same new owners (no deadlock, each owner once, the same id for both), a process's cache sending no
// statement for known owners, a lifetime closing days after its owner's last hit moving the owner's
// day on, retention dropping only the owners no kept row or open lifetime names, and tcplife's
// counters from the closing hit on the lifetime (API and CLI).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Event, Owner, TcpArgs } from '@probefleet/events';
import { rebuild } from '../src/commands/rebuild';
import { DEFAULT_INGEST_OPTIONS, ingest } from '../src/store/ingest';
import { dropUnusedOwners, OwnerDictionary } from '../src/store/owners';
import { createPrisma, type Db } from '../src/store/prisma';
import { startApi, type ApiUnderTest } from './api-app';
import { record } from './streams';
import { createMigratedDatabase, type TempDatabase } from './temp-database';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-20T12:00:00Z');
const at = (ms: number) => new Date(ms).toISOString().replace('Z', '000000Z');
const uuid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const owner = (pid: number, comm = 'java'): Owner => ({
  pid, comm, cgroup: `/kubepods.slice/kubepods-pod${'1'.repeat(8)}_2222_4333_8444_${'5'.repeat(12)}.slice/cri-containerd-${'e'.repeat(64)}.scope`,
  container: { id: 'e'.repeat(64), runtime: 'containerd' }, pod: { namespace: 'pay', name: `api-${pid}`, uid: `${'1'.repeat(8)}-2222-4333-8444-${'5'.repeat(12)}` },
});

function hostStream(host: string, n: number) {
  let seq = 0;
  const bootId = uuid(n);
  const instance = uuid(n + 1);
  return {
    host,
    hit(ms: number, skaddr: string, oldstate: TcpArgs['oldstate'], newstate: TcpArgs['newstate'], o: Owner | undefined, extra: object = {}): Event {
      seq += 1;
      return {
        v: 1, type: 'probe.hit', host, bootId, instance, seq, time: at(ms),
        data: {
          probe: 'tcp_set_state', cpu: 0, pid: 9, comm: 'x', args: { skaddr, family: 'AF_INET', saddr: '10.1.0.1', daddr: '10.1.0.2', sport: 5000 + seq, dport: 443, oldstate, newstate },
          ...extra, ...(o === undefined ? { attribution: 'unknown' } : { owner: o, attribution: 'socket' }),
        },
      } as Event;
    },
  };
}

describe('owner dictionary', () => {
  let tmp: TempDatabase;
  let db: Db;
  const opts = { ...DEFAULT_INGEST_OPTIONS, now: () => NOW };
  const owners = async () => db.$queryRaw<{ host: string; id: number; pid: number; last_day: string }[]>`
    SELECT host, id, pid, last_day::text FROM tcp_owners ORDER BY host, pid`;

  beforeAll(async () => {
    tmp = await createMigratedDatabase('probefleet_owner_dict');
    db = createPrisma(tmp.url);
  });
  afterAll(async () => {
    await db?.$disconnect();
    await tmp?.drop();
  });

  it('two aggregators resolving the same new owners at once: no deadlock, each owner once, one id for both', async () => {
    const a = new OwnerDictionary();
    const b = new OwnerDictionary();
    const s = hostStream('race-host', 10);
    // 300 owners, in opposite orders for the two: inserts in key order cannot deadlock.
    const events = Array.from({ length: 300 }, (_, i) => s.hit(NOW - DAY + i, `0x${(0x1000 + i).toString(16)}`, 'TCP_SYN_SENT', 'TCP_ESTABLISHED', owner(1000 + i)));
    const rounds = await Promise.all(Array.from({ length: 4 }, (_, k) => (k % 2 ? a : b).resolve(db.pool, k % 2 ? events : [...events].reverse())));
    const rows = await owners();
    expect(rows).toHaveLength(300);
    const idOf = new Map(rows.map((r) => [r.pid, r.id]));
    for (const ids of rounds) for (const e of events) expect(ids.get((e.data as { owner: Owner }).owner)).toBe(idOf.get((e.data as { owner: Owner }).owner.pid));
  });

  it('sends no statement for owners it knows at that day, and moves a known owner to a later day once', async () => {
    const d = new OwnerDictionary();
    const s = hostStream('cache-host', 20);
    const today = [s.hit(NOW - DAY, '0x1', 'TCP_SYN_SENT', 'TCP_ESTABLISHED', owner(7))];
    await d.resolve(db.pool, today);
    let queries = 0;
    const counting = { query: (...args: Parameters<typeof db.pool.query>) => { queries++; return db.pool.query(...args); } } as unknown as typeof db.pool;
    await d.resolve(counting, [s.hit(NOW - DAY + 5, '0x2', 'TCP_SYN_SENT', 'TCP_ESTABLISHED', owner(7))]);
    expect(queries).toBe(0);
    await d.resolve(counting, [s.hit(NOW, '0x3', 'TCP_SYN_SENT', 'TCP_ESTABLISHED', owner(7))]);
    expect(queries).toBe(2);
    expect((await owners()).filter((r) => r.host === 'cache-host')).toEqual([expect.objectContaining({ pid: 7, last_day: at(NOW).slice(0, 10) })]);
  });

  describe('a lifetime, its owner and retention', () => {
    const s = hostStream('life-host', 30);
    const api = { current: undefined as ApiUnderTest | undefined };
    afterAll(async () => api.current?.close());

    it('a lifetime closing days after its owner\'s last hit keeps the owner, and moves its day on; tcplife\'s counters come from the closing hit', async () => {
      // Opened 9 days ago by owner 42; closed 2 days ago by a hit without owner (attribution unknown) but with tcplife's counters.
      const life = { txBytes: 5 * 2 ** 32 + 7, rxBytes: 4096, retrans: 3, srttUs: 180 };
      await ingest(db, [record([s.hit(NOW - 9 * DAY, '0xa', 'TCP_CLOSE', 'TCP_SYN_SENT', owner(42)), s.hit(NOW - 9 * DAY + 1, '0xa', 'TCP_SYN_SENT', 'TCP_ESTABLISHED', owner(42)),
        s.hit(NOW - 9 * DAY + 2, '0xb', 'TCP_SYN_SENT', 'TCP_ESTABLISHED', owner(43))], 2, 0)], opts);
      await ingest(db, [record([s.hit(NOW - 2 * DAY, '0xa', 'TCP_ESTABLISHED', 'TCP_CLOSE', undefined, { life })], 2, 1)], opts);
      const mine = (await owners()).filter((r) => r.host === 'life-host');
      expect(mine).toEqual([expect.objectContaining({ pid: 42, last_day: at(NOW - 2 * DAY).slice(0, 10) }), expect.objectContaining({ pid: 43, last_day: at(NOW - 9 * DAY).slice(0, 10) })]);
      api.current = await startApi(tmp.url);
      const { body } = await api.current.get('/api/v1/connections', { host: 'life-host', state: 'closed' });
      expect(body.items).toEqual([expect.objectContaining({ skaddr: '0xa', ownerPid: 42, attribution: 'socket', ...life })]);
      const { body: open } = await api.current.get('/api/v1/connections', { host: 'life-host', state: 'open' });
      expect(open.items).toEqual([expect.objectContaining({ skaddr: '0xb', ownerPid: 43, txBytes: null, rxBytes: null, retrans: null, srttUs: null })]);
      // The CLI shows them as tcplife does (KiB).
      const { stdout } = await promisify(execFile)(process.execPath, [join(__dirname, '..', 'dist', 'cli.js'), 'connections', '--host', 'life-host', '--state', 'closed', '-o', 'wide'],
        { env: { ...process.env, PROBEFLEET_URL: `http://127.0.0.1:${(api.current.app.getHttpServer().address() as { port: number }).port}` } });
      const [header, row] = stdout.trim().split('\n').filter((l) => !l.startsWith('#')).map((l) => l.trim().split(/\s+/));
      const cell = (name: string) => row![header!.indexOf(name)];
      expect([cell('TX_KB'), cell('RX_KB'), cell('RETRANS'), cell('SRTT_US')]).toEqual([String(Math.floor(life.txBytes / 1024)), '4', '3', '180']);
    });

    it('rebuild keeps the lifetime\'s owner and counters', async () => {
      const before = await api.current!.get('/api/v1/connections', { host: 'life-host' });
      await rebuild(db);
      const after = await api.current!.get('/api/v1/connections', { host: 'life-host' });
      const strip = (p: { items: { id: string }[] }) => p.items.map(({ id: _id, ...rest }) => rest);
      expect(strip(after.body)).toEqual(strip(before.body));
    });

    it('retention drops only the owners no kept row names: not an open lifetime\'s, however old', async () => {
      // Kept from 5 days ago: owner 42 (last day 2 days ago) stays; owner 43's last day is older but its lifetime is open.
      expect(await dropUnusedOwners(db.pool, at(NOW - 5 * DAY).slice(0, 10))).toBe(0);
      await db.$executeRaw`DELETE FROM tcp_open_connections WHERE host = 'life-host'`;
      expect(await dropUnusedOwners(db.pool, at(NOW - 5 * DAY).slice(0, 10))).toBe(1);
      expect((await owners()).filter((r) => r.host === 'life-host').map((r) => r.pid)).toEqual([42]);
      expect(await dropUnusedOwners(db.pool, at(NOW).slice(0, 10))).toBeGreaterThanOrEqual(1);
      expect((await owners()).filter((r) => r.host === 'life-host')).toEqual([]);
    });
  });
});
