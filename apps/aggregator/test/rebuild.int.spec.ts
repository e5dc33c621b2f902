// `rebuild` folds the event store through the live code and must give the live projections back.
import type { Event } from '@probefleet/events';
import { rebuild } from '../src/commands/rebuild';
import { ingest } from './test-ingest';
import { createPrisma, type Db } from '../src/store/prisma';
import { createMigratedDatabase, type TempDatabase } from './temp-database';
import { record, testStream } from './streams';

/** Every projection row, without surrogate ids (sequences are not rolled back with transactions). */
async function projections(db: Db) {
  const strip = <T extends { id?: unknown }>(rows: T[]) => rows.map(({ id: _id, ...rest }) => rest);
  return {
    streams: await db.stream.findMany({ orderBy: { instance: 'asc' } }),
    gaps: strip(await db.streamGap.findMany({ orderBy: [{ instance: 'asc' }, { fromSeq: 'asc' }] })),
    agents: await db.agent.findMany({ orderBy: { host: 'asc' } }),
    probes: await db.probe.findMany({ orderBy: [{ host: 'asc' }, { name: 'asc' }] }),
    transitions: strip(await db.tcpTransition.findMany({ orderBy: [{ host: 'asc' }, { sourceId: 'asc' }, { seq: 'asc' }] })),
    // Closed and open lifetimes (ids left out: sequence numbers), inet and enum arrays as text.
    connections: await db.$queryRaw<Record<string, unknown>[]>`
      SELECT host, boot_id, instance, skaddr, family, host(saddr) AS saddr, host(daddr) AS daddr, sport, dport, opened_at, closed_at, duration_ms,
             last_state::text, states::text[], entered_ns::text[], state_ms, last_seq
        FROM tcp_lifetimes ORDER BY host, opened_at, skaddr, closed_at`,
    rollups: await db.tcpRollup.findMany({ orderBy: [{ host: 'asc' }, { resolution: 'asc' }, { bucket: 'asc' }, { oldState: 'asc' }, { newState: 'asc' }, { servicePort: 'asc' }] }),
    fleetRollups: await db.tcpRollupFleet.findMany({ orderBy: [{ resolution: 'asc' }, { bucket: 'asc' }, { oldState: 'asc' }, { newState: 'asc' }] }),
  };
}

describe('probefleet rebuild', () => {
  let tmp: TempDatabase;
  let db: Db;
  beforeAll(async () => {
    tmp = await createMigratedDatabase('probefleet_rebuild');
    db = createPrisma(tmp.url);
  });
  afterAll(async () => {
    await db?.$disconnect();
    await tmp?.drop();
  });

  it('reproduces the live projections exactly', async () => {
    const a = testStream('host-a');
    const b = testStream('host-b');
    const evA: Event[] = [
      a.event('agent.started', { kernelRelease: '6.12.1', arch: 'x86_64', agentVersion: '0.1.0', mode: 'kprobe', capabilities: ['kprobe_events'] }),
      a.event('probe.registered', { probe: 'tcp_set_state', kind: 'kprobe', symbol: 'tcp_set_state', offset: 0, address: '0xffffffff8206b250', insn: 'f30f1e' }),
      a.event('probe.armed', { probe: 'tcp_set_state' }),
    ];
    for (let i = 0; i < 12; i++) {
      const sk = `0xffff8881000${(i % 4).toString(16)}0000`;
      evA.push(a.tcp({ skaddr: sk, sport: 0, dport: 80, oldstate: 'TCP_CLOSE', newstate: 'TCP_SYN_SENT' }));
      evA.push(a.tcp({ skaddr: sk, sport: 40000 + i, dport: 80, oldstate: 'TCP_SYN_SENT', newstate: i % 3 ? 'TCP_ESTABLISHED' : 'TCP_CLOSE' }));
      if (i % 3) evA.push(a.tcp({ skaddr: sk, sport: 40000 + i, dport: 80, oldstate: 'TCP_ESTABLISHED', newstate: 'TCP_CLOSE' }));
    }
    evA.push(a.event('probe.missed', { probe: 'tcp_set_state', count: 2 }), a.event('agent.loss', { overruns: [{ cpu: 1, count: 7 }] }));
    const evB = Array.from({ length: 10 }, (_, i) => b.event('agent.heartbeat', { counters: { i } }));

    // Out of order, redelivered, with one gap filled late and one never filled.
    let offset = 0;
    const batches: Event[][] = [evA.slice(0, 10), evB.slice(0, 3), evA.slice(14, 30), evB.slice(6, 10), evA.slice(5, 12), evA.slice(10, 14), evA.slice(30)];
    for (const events of batches) await ingest(db, [record(events, 0, offset++)]);
    const live = await projections(db);
    expect(live.gaps.filter((g) => g.closedAt === null)).toHaveLength(1);
    expect(live.connections.length).toBeGreaterThan(4);
    // The fleet rollups are the host rollups summed over hosts and ports.
    const summed = new Map<string, bigint>();
    for (const r of live.rollups) {
      const k = `${r.resolution}|${r.bucket.toISOString()}|${r.oldState}|${r.newState}`;
      summed.set(k, (summed.get(k) ?? 0n) + r.count);
    }
    expect(live.fleetRollups.length).toBeGreaterThan(0);
    expect(new Map(live.fleetRollups.map((r) => [`${r.resolution}|${r.bucket.toISOString()}|${r.oldState}|${r.newState}`, r.count]))).toEqual(summed);

    const result = await rebuild(db);
    expect(result.events).toBe(evA.length + 7);
    expect(await projections(db)).toEqual(live);
  });
});
