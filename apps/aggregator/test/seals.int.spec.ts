// Sealing ended partitions against a real PostgreSQL, with the clock injected: only partitions
// whose range ended more than the grace ago, each once and recorded, their indexes smaller and
// their rows and answers unchanged; an interrupted rebuild's leftovers cleared; a dropped partition's
// record gone with it.
import { randomUUID } from 'node:crypto';
import type { Event } from '@probefleet/events';
import { DEFAULT_INGEST_OPTIONS, ingest } from '../src/store/ingest';
import { Partitions, type RetentionPolicy } from '../src/store/partitions';
import { createPrisma, type Db } from '../src/store/prisma';
import { sealEnded } from '../src/store/seals';
import { createMigratedDatabase, type TempDatabase } from './temp-database';
import { record } from './streams';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const NOW = Date.parse('2026-12-20T12:00:00Z');
const TODAY = NOW - 12 * HOUR;
const policy = (days: number): RetentionPolicy => ({ days: { tcp_transitions: days, events: days, tcp_connections: days, tcp_rollups: 400 } });
const at = (ms: number) => new Date(ms).toISOString().replace('Z', '000000Z');
const ymd = (ms: number) => new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');

describe('sealing ended partitions', () => {
  let tmp: TempDatabase;
  let db: Db;
  beforeAll(async () => {
    tmp = await createMigratedDatabase('probefleet_seals');
    db = createPrisma(tmp.url);
    // 20 hosts writing at once, on three days (two days ago, yesterday, today): the primary key
    // takes rows at every host's newest entry, as on a live fleet.
    const hosts = Array.from({ length: 20 }, (_, h) => ({ host: `seal-host-${h}`, bootId: randomUUID(), instance: randomUUID(), seq: 0 }));
    const opts = { ...DEFAULT_INGEST_OPTIONS, policy: policy(30), now: () => NOW };
    let offset = 0;
    for (const day of [TODAY - 2 * DAY, TODAY - DAY, TODAY]) {
      for (let round = 0; round < 10; round++) {
        const records = hosts.map((h, i) => {
          const events: Event[] = [];
          for (let k = 0; k < 40; k++) {
            const ms = day + HOUR + round * 60_000 + k * 1000 + i;
            const args = { skaddr: `0xffff8881${(h.seq + 1).toString(16).padStart(8, '0')}`, family: 'AF_INET', saddr: `10.0.${i}.1`, daddr: '10.1.0.2', sport: 30000 + (h.seq % 20000), dport: 443 };
            events.push({ v: 1, type: 'probe.hit', host: h.host, bootId: h.bootId, instance: h.instance, seq: ++h.seq, time: at(ms),
              data: { probe: 'inet_sock_set_state', cpu: 0, pid: 1, comm: 'curl', args: { ...args, oldstate: 'TCP_CLOSE', newstate: 'TCP_SYN_SENT' } } } as Event);
          }
          return record(events, 0, offset++);
        });
        await ingest(db, records, opts);
      }
    }
  });
  afterAll(async () => {
    await db?.$disconnect();
    await tmp?.drop();
  });

  const rows = () => db.$queryRaw<{ n: bigint; digest: string }[]>`
    SELECT count(*) AS n, md5(string_agg(host || seq || saddr::text || sport, ',' ORDER BY host, seq)) AS digest FROM tcp_transitions`;

  it('seals the partitions that ended more than the grace ago, once each, recorded, with smaller indexes and the same rows', async () => {
    const before = await rows();
    expect(Number(before[0]!.n)).toBe(3 * 10 * 20 * 40);
    // Yesterday ended 12 h ago: within a 13 h grace only the day before is due.
    const first = await sealEnded(db.pool, NOW, 13 * HOUR);
    expect(first.map((s) => s.partition).filter((p) => p.startsWith('tcp_transitions_p'))).toEqual([`tcp_transitions_p${ymd(TODAY - 2 * DAY)}`]);
    const transitions = first.find((s) => s.table === 'tcp_transitions')!;
    expect(transitions.indexBytesAfter).toBeLessThan(transitions.indexBytesBefore * 0.85);
    const recorded = await db.partitionSeal.findMany();
    expect(recorded.map((r) => r.partition).sort()).toEqual(first.map((s) => s.partition).sort());
    expect(Number(recorded.find((r) => r.tableName === 'tcp_transitions')!.indexBytesAfter)).toBe(transitions.indexBytesAfter);
    expect(await sealEnded(db.pool, NOW, 13 * HOUR)).toEqual([]);
    // With a 2 h grace yesterday is due too; today (and the month's rollups) never before they end.
    const second = await sealEnded(db.pool, NOW, 2 * HOUR);
    expect(second.map((s) => s.partition)).toEqual([`tcp_transitions_p${ymd(TODAY - DAY)}`]);
    expect(await rows()).toEqual(before);
    // The rebuilt indexes serve queries (and are valid: no leftover of REINDEX CONCURRENTLY).
    const { rows: invalid } = await db.pool.query('SELECT indexrelid::regclass::text AS name FROM pg_index WHERE NOT indisvalid');
    expect(invalid).toEqual([]);
    // Packed: a sealed day's btrees at fillfactor 100, today's still at btree's default.
    const fillfactors = async (partition: string) => (await db.pool.query<{ opts: string[] | null }>(
      `SELECT c.reloptions AS opts FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
        WHERE i.indrelid = $1::regclass AND a.amname = 'btree'`, [partition])).rows.map((r) => r.opts);
    const sealedOpts = await fillfactors(`tcp_transitions_p${ymd(TODAY - DAY)}`);
    expect(sealedOpts.length).toBeGreaterThan(0);
    expect(sealedOpts.every((o) => o?.includes('fillfactor=100'))).toBe(true);
    expect((await fillfactors(`tcp_transitions_p${ymd(TODAY)}`)).every((o) => o === null)).toBe(true);
  });

  it("drops what an interrupted rebuild left before sealing, and a dropped partition's record goes with it", async () => {
    const today = `tcp_transitions_p${ymd(TODAY)}`;
    // A failed CREATE INDEX CONCURRENTLY leaves an invalid index behind, as an interrupted REINDEX CONCURRENTLY does.
    await expect(db.pool.query(`CREATE UNIQUE INDEX CONCURRENTLY "${today}_leftover_ccnew" ON "${today}" (host)`)).rejects.toThrow(/could not create unique index/);
    const sealed = await sealEnded(db.pool, TODAY + DAY + 3 * HOUR, 2 * HOUR);
    expect(sealed.map((s) => s.partition)).toContain(today);
    const { rows: left } = await db.pool.query(`SELECT 1 FROM pg_class WHERE relname = $1`, [`${today}_leftover_ccnew`]);
    expect(left).toEqual([]);

    const dropped = await new Partitions(db.pool).dropExpired(policy(2), TODAY + 2 * DAY);
    expect(dropped.sort()).toEqual([`tcp_transitions_p${ymd(TODAY - 2 * DAY)}`, `tcp_transitions_p${ymd(TODAY - DAY)}`]);
    const kept = (await db.partitionSeal.findMany()).map((r) => r.partition);
    for (const name of dropped) expect(kept).not.toContain(name);
    expect(kept).toContain(today);
  });
});
