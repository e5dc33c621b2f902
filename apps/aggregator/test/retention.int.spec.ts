// Time partitions against a real PostgreSQL, with the clock injected: created ahead of time, dropped
// whole by retention (recorded), an event older than the horizon dead-lettered, and export / rebuild /
// gaps knowing that the store starts later.
import { randomUUID } from 'node:crypto';
import type { Event } from '@probefleet/events';
import { rebuild } from '../src/commands/rebuild';
import { storedEnvelopes } from '../src/store/envelopes';
import { DEFAULT_INGEST_OPTIONS, ingest } from '../src/store/ingest';
import { Partitions, type RetentionPolicy } from '../src/store/partitions';
import { createPrisma, type Db } from '../src/store/prisma';
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
    expect(names).toEqual(expect.arrayContaining(['tcp_rollups_p202612', 'tcp_rollups_p202701', 'tcp_connections_open']));
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
});
