// Time partitions against a real PostgreSQL, with the clock injected: created ahead of time, dropped
// whole by retention (recorded), an event older than the horizon dead-lettered, and export / rebuild /
// gaps knowing that the store starts later; the data clock (RETENTION_CLOCK=data) following the
// partition that is furthest behind.
import { randomUUID } from 'node:crypto';
import type { Event } from '@probefleet/events';
import { rebuild } from '../src/commands/rebuild';
import { storedEnvelopes } from '../src/store/envelopes';
import { DEFAULT_INGEST_OPTIONS, ingest } from '../src/store/ingest';
import { Partitions, type RetentionPolicy } from '../src/store/partitions';
import { forgetEndedBoots } from '../src/store/projections/tcp';
import { createPrisma, type Db } from '../src/store/prisma';
import { StoreClock } from '../src/store/store-clock';
import { createMigratedDatabase, type TempDatabase } from './temp-database';
import { record } from './streams';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-20T12:00:00Z');
const policy = (days: number): RetentionPolicy => ({ days: { tcp_transitions: days, events: days, tcp_connections: days, tcp_rollups: 400 } });
const at = (ms: number) => new Date(ms).toISOString().replace('Z', '000000Z');

describe('retention', () => {
  let tmp: TempDatabase;
  let db: Db;
  beforeAll(async () => {
    tmp = await createMigratedDatabase('probefleet_retention');
    db = createPrisma(tmp.url);
  });
  afterAll(async () => {
    await db?.$disconnect();
    await tmp?.drop();
  });

  const partitions = async () => (await db.$queryRaw<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent IN ('tcp_transitions'::regclass, 'events_timed'::regclass, 'tcp_connections'::regclass, 'tcp_rollups'::regclass)
     ORDER BY 1`).map((r) => r.name);

  it('creates the partitions ahead of time', async () => {
    await new Partitions(db.pool).ahead(NOW, 2);
    const names = await partitions();
    for (const day of ['20261220', '20261221', '20261222']) {
      for (const t of ['tcp_transitions', 'events', 'tcp_connections']) expect(names).toContain(`${t}_p${day}`);
    }
    expect(names).toEqual(expect.arrayContaining(['tcp_rollups_p202612', 'tcp_rollups_p202701']));
  });

  it('drops whole partitions past the horizon, records them, and the store starts later for export, rebuild and gaps', async () => {
    const host = 'ret-host';
    const bootId = randomUUID();
    const instance = randomUUID();
    let seq = 0;
    const ev = (ms: number, type: Event['type'], data: unknown) => ({ v: 1, type, host, bootId, instance, seq: ++seq, time: at(ms), data }) as Event;
    const start = NOW - 20 * DAY;
    const events: Event[] = [
      ev(start, 'agent.started', { kernelRelease: '6.1.0', arch: 'x86_64', agentVersion: '0.1.0', mode: 'tracepoint', capabilities: [] }),
      ev(start + 1, 'probe.registered', { probe: 'inet_sock_set_state', kind: 'tracepoint', symbol: 'sock:inet_sock_set_state', offset: 0 }),
      ev(start + 2, 'probe.armed', { probe: 'inet_sock_set_state' }),
    ];
    // One socket a day for 20 days, each opened and closed that day.
    for (let d = 0; d < 20; d++) {
      const t = start + d * DAY + 1000;
      const args = { skaddr: `0xffff88810000${(d + 16).toString(16)}00`, family: 'AF_INET', saddr: '10.0.0.1', daddr: '10.0.0.2', sport: 40000 + d, dport: 443 };
      events.push(ev(t, 'probe.hit', { probe: 'inet_sock_set_state', cpu: 0, pid: 1, comm: 'curl', args: { ...args, oldstate: 'TCP_CLOSE', newstate: 'TCP_SYN_SENT' } }));
      events.push(ev(t + 5, 'probe.hit', { probe: 'inet_sock_set_state', cpu: 0, pid: 1, comm: 'curl', args: { ...args, oldstate: 'TCP_SYN_SENT', newstate: 'TCP_CLOSE' } }));
      events.push(ev(t + 10, 'agent.heartbeat', { counters: { day: d } }));
    }
    const opts = { ...DEFAULT_INGEST_OPTIONS, policy: policy(30), now: () => NOW };
    for (let i = 0; i < events.length; i += 10) await ingest(db, [record(events.slice(i, i + 10), 0, i)], opts);
    expect(await db.tcpTransition.count()).toBe(40);

    const dropped = await new Partitions(db.pool).dropExpired(policy(14), NOW);
    // The horizon is the start of the day 14 days before today's: days 0..5 of the 20 go.
    expect(dropped.filter((n) => n.startsWith('tcp_transitions_p')).sort()).toEqual(
      Array.from({ length: 6 }, (_, d) => `tcp_transitions_p${new Date(start + d * DAY).toISOString().slice(0, 10).replaceAll('-', '')}`));
    expect(await db.tcpTransition.count()).toBe(28);
    const drops = await db.retentionDrop.findMany({ where: { tableName: 'tcp_transitions' }, orderBy: { rangeFrom: 'asc' } });
    expect(drops.map((d) => Number(d.rows))).toEqual([2, 2, 2, 2, 2, 2]);
    expect(drops[5]!.rangeTo.getTime()).toBe(Date.parse('2026-12-06T00:00:00Z'));

    // Export: the lifecycle events are kept, the rest starts at the horizon, in store order.
    const exported: Event[] = [];
    for await (const { event } of storedEnvelopes(db.pool, { host })) exported.push(event);
    expect(exported.slice(0, 3).map((e) => e.type)).toEqual(['agent.started', 'probe.registered', 'probe.armed']);
    expect(exported[3]!.time >= '2026-12-06').toBe(true);
    expect(exported).toHaveLength(3 + 14 * 3);

    // A late event older than the horizon is expired, not stored.
    const late = ev(start + 2 * DAY, 'agent.heartbeat', { counters: { late: 1 } });
    const r = await ingest(db, [record([late], 0, 999)], { ...opts, policy: policy(14) });
    expect(r).toMatchObject({ stored: 0, deadLetterKinds: { expired: 1 } });

    // Rebuild folds what is stored: what retention took is no gap, the probe model replays.
    const out = await rebuild(db);
    expect(out.violations).toBe(0);
    expect(await db.streamGap.count({ where: { host, closedAt: null } })).toBe(0);
    expect(await db.probe.findMany({ where: { host } })).toMatchObject([{ name: 'inet_sock_set_state', armed: true }]);
  });

  it("forgets the open lifetimes of a host's ended boots once past the horizon, and keeps its current boot's however old", async () => {
    const host = 'reboot-host';
    const old = { bootId: randomUUID(), instance: randomUUID() };
    const current = { bootId: randomUUID(), instance: randomUUID() };
    const started = (s: typeof old, ms: number, seq: number) =>
      ({ v: 1, type: 'agent.started', host, ...s, seq, time: at(ms), data: { kernelRelease: '6.1.0', arch: 'x86_64', agentVersion: '0.1.0', mode: 'tracepoint', capabilities: [] } }) as Event;
    const connect = (s: typeof old, ms: number, seq: number, skaddr: string) => ({
      v: 1, type: 'probe.hit', host, ...s, seq, time: at(ms),
      data: { probe: 'inet_sock_set_state', cpu: 0, pid: 1, comm: 'psql', args: { skaddr, family: 'AF_INET', saddr: '10.0.0.1', daddr: '10.0.0.9', sport: 41000, dport: 5432, oldstate: 'TCP_SYN_SENT', newstate: 'TCP_ESTABLISHED' } },
    }) as Event;
    const opts = { ...DEFAULT_INGEST_OPTIONS, policy: policy(30), now: () => NOW };
    // Both sockets connect and stay ESTABLISHED: one 10 days ago, the host reboots, the other 9 days ago.
    await ingest(db, [record([started(old, NOW - 10 * DAY, 1), connect(old, NOW - 10 * DAY + 1000, 2, '0xffff888100aa0000')], 1, 0)], opts);
    await ingest(db, [record([started(current, NOW - 9 * DAY, 1), connect(current, NOW - 9 * DAY + 1000, 2, '0xffff888100bb0000')], 1, 1)], opts);
    const open = async () => (await db.$queryRaw<{ boot_id: string }[]>`SELECT boot_id::text FROM tcp_open_connections WHERE host = ${host}`).map((r) => r.boot_id);
    expect((await open()).sort()).toEqual([old.bootId, current.bootId].sort());

    // Within the horizon nothing goes; past it, only the ended boot's lifetime.
    expect(await forgetEndedBoots(db.pool, new Date(NOW - 11 * DAY).toISOString())).toBe(0);
    expect(await forgetEndedBoots(db.pool, new Date(NOW - 5 * DAY).toISOString())).toBe(1);
    expect(await open()).toEqual([current.bootId]);
  });

  describe('the data clock (RETENTION_CLOCK=data)', () => {
    const day = (d: number) => Date.parse('2026-01-01T00:00:00Z') + d * DAY;

    it('knows no time on a fresh store, follows the partition furthest behind, waits for announced ones, lets idle ones go, never goes back', () => {
      let wall = 0;
      const clock = new StoreClock('data', 1000, () => wall);
      expect(clock.known).toBe(false);
      expect(clock.now()).toBe(0);
      clock.saw(0, 't/0');
      clock.saw(0, 't/1');
      clock.saw(day(10), 't/0');
      // t/1 is storing its first batch: the clock waits where it was.
      expect(clock.now()).toBe(0);
      clock.saw(day(3), 't/1');
      expect(clock.now()).toBe(day(3));
      wall = 500;
      clock.saw(day(12), 't/0');
      expect(clock.now()).toBe(day(3));
      // t/1 caught up and fell silent: it no longer holds the clock back.
      wall = 1600;
      expect(clock.now()).toBe(day(12));
      // Back with older events (a new batch of a lagging backlog): the clock does not go back.
      clock.saw(day(5), 't/1');
      expect(clock.now()).toBe(day(12));
      expect(new StoreClock('wall').known).toBe(true);
    });

    it('a partition days behind another in a replayed backlog is stored, not expired, and its days are not dropped', async () => {
      const tmp2 = await createMigratedDatabase('probefleet_retention_clock');
      const db2 = createPrisma(tmp2.url);
      try {
        const clock = new StoreClock('data');
        await clock.init(db2.pool);
        expect(clock.known).toBe(false);
        const opts = { ...DEFAULT_INGEST_OPTIONS, policy: policy(7), now: clock.now };
        const hosts = ['fast-host', 'slow-host'].map((host) => ({ host, bootId: randomUUID(), instance: randomUUID(), seq: 0 }));
        const batch = (h: (typeof hosts)[number], d: number, withStart: boolean): Event[] => {
          const out: Event[] = [];
          const ev = (ms: number, type: Event['type'], data: unknown) => out.push({ v: 1, type, host: h.host, bootId: h.bootId, instance: h.instance, seq: ++h.seq, time: at(ms), data } as Event);
          if (withStart) {
            ev(day(d), 'agent.started', { kernelRelease: '6.1.0', arch: 'x86_64', agentVersion: '0.1.0', mode: 'tracepoint', capabilities: [] });
            ev(day(d) + 1, 'probe.registered', { probe: 'inet_sock_set_state', kind: 'tracepoint', symbol: 'sock:inet_sock_set_state', offset: 0 });
            ev(day(d) + 2, 'probe.armed', { probe: 'inet_sock_set_state' });
          }
          const args = { skaddr: `0xffff88810000${(d + 16).toString(16)}00`, family: 'AF_INET', saddr: '10.0.0.1', daddr: '10.0.0.2', sport: 40000 + d, dport: 443 };
          ev(day(d) + 1000, 'probe.hit', { probe: 'inet_sock_set_state', cpu: 0, pid: 1, comm: 'curl', args: { ...args, oldstate: 'TCP_CLOSE', newstate: 'TCP_SYN_SENT' } });
          ev(day(d) + 2000, 'agent.heartbeat', { counters: { day: d } });
          return out;
        };
        // As the consumer does: announce the partition's batch, store it, report its newest time.
        const consume = async (partition: number, events: Event[], offset: number) => {
          const source = `bench/${partition}`;
          clock.saw(0, source);
          const r = await ingest(db2, [record(events, partition, offset)], opts);
          clock.saw(r.newestMs, source);
          return r;
        };
        const fast = hosts[0]!;
        const slow = hosts[1]!;
        expect((await consume(0, batch(fast, 0, true), 0)).stored).toBe(5);
        expect((await consume(1, batch(slow, 0, true), 0)).stored).toBe(5);
        // The fast partition runs 12 days ahead; the slow one is still at day 1..4.
        for (let d = 1; d <= 12; d++) await consume(0, batch(fast, d, false), d);
        expect(clock.now()).toBe(day(0) + 2000);
        const partitions = new Partitions(db2.pool);
        for (let d = 1; d <= 4; d++) {
          const r = await consume(1, batch(slow, d, false), d);
          expect(r).toMatchObject({ stored: 2, deadLetters: 0 });
          expect(await partitions.dropExpired(policy(7), clock.now())).toEqual([]);
        }
        // The newest event of all (day 12) would have expired the slow partition's days 1..4.
        expect(clock.now()).toBe(day(4) + 2000);
        expect(await db2.deadLetter.count()).toBe(0);
        // The slow partition reaches day 9: days before day 2 leave, both partitions' alike, recorded.
        for (let d = 5; d <= 9; d++) await consume(1, batch(slow, d, false), d);
        const dropped = await partitions.dropExpired(policy(7), clock.now());
        expect(dropped.filter((n) => n.startsWith('tcp_transitions_p')).sort()).toEqual(['tcp_transitions_p20260101', 'tcp_transitions_p20260102']);
        expect(await db2.retentionDrop.count({ where: { tableName: 'tcp_transitions' } })).toBe(2);
        // A restarted aggregator's clock starts at the newest transition stored.
        const again = new StoreClock('data');
        await again.init(db2.pool);
        expect(again.now()).toBe(day(12) + 1000);
      } finally {
        await db2.$disconnect();
        await tmp2.drop();
      }
    });
  });
});
