// The transitions page query on ~200k rows: PostgreSQL must answer it from an index, not a scan.
import { Prisma } from '../src/generated/prisma/client';
import { TransitionsQuery, transitionsSql } from '../src/api/transitions.service';
import { encodeCursor } from '../src/api/cursor';
import { createPrisma, type Db } from '../src/store/prisma';
import { createMigratedDatabase, type TempDatabase } from './temp-database';

interface PlanNode { 'Node Type': string; 'Index Name'?: string; Plans?: PlanNode[] }

const nodes = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(nodes)];

describe('transitions query plan', () => {
  let tmp: TempDatabase;
  let db: Db;

  beforeAll(async () => {
    tmp = await createMigratedDatabase('probefleet_api_explain');
    db = createPrisma(tmp.url);
    // 200k transitions over ~22 hours: 10 hosts, 12 states, a handful of service ports and many ephemeral ones.
    await db.$executeRaw`SELECT setseed(0.42)`;
    await db.$executeRaw`
      INSERT INTO tcp_transitions (host, instance, seq, time, skaddr, family, saddr, daddr, sport, dport, old_state, new_state)
      SELECT 'host-' || h, md5('instance' || h)::uuid, g, TIMESTAMPTZ '2026-11-25T00:00:00Z' + g * INTERVAL '400 milliseconds',
             '0xffff8881' || to_hex(g % 5000), 'AF_INET', '10.0.' || h || '.1', '10.1.' || (g % 250) || '.1',
             32768 + (random() * 28000)::int, (ARRAY[80, 443, 5432, 6379, 8080, 9092])[1 + floor(random() * 6)::int],
             states[1 + floor(random() * 12)::int], states[1 + floor(random() * 12)::int]
        FROM (SELECT g, floor(random() * 10)::int AS h FROM generate_series(1, 200000) AS g) AS rows,
             (SELECT ARRAY['TCP_ESTABLISHED', 'TCP_SYN_SENT', 'TCP_SYN_RECV', 'TCP_FIN_WAIT1', 'TCP_FIN_WAIT2', 'TCP_TIME_WAIT',
                                   'TCP_CLOSE', 'TCP_CLOSE_WAIT', 'TCP_LAST_ACK', 'TCP_LISTEN', 'TCP_CLOSING', 'TCP_NEW_SYN_RECV'] AS states) AS s`;
    await db.$executeRaw`ANALYZE tcp_transitions`;
    const [spread] = await db.$queryRaw<{ hosts: number; matching: number }[]>`
      SELECT count(DISTINCT host)::int AS hosts,
             (count(*) FILTER (WHERE host = 'host-7' AND 443 IN (sport, dport) AND new_state = 'TCP_ESTABLISHED'))::int AS matching
        FROM tcp_transitions`;
    // The filtered query below must have more than a page to choose from.
    expect(spread).toEqual({ hosts: 10, matching: expect.any(Number) });
    expect(spread!.matching).toBeGreaterThan(100);
  }, 120_000);
  afterAll(async () => {
    await db?.$disconnect();
    await tmp?.drop();
  });

  async function explain(params: Record<string, string>) {
    const sql = transitionsSql(TransitionsQuery.parse(params));
    const [row] = await db.$queryRaw<{ 'QUERY PLAN': [{ Plan: PlanNode; 'Execution Time': number }] }[]>(
      Prisma.sql`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`,
    );
    const [{ Plan, 'Execution Time': ms }] = row!['QUERY PLAN'];
    return { types: nodes(Plan).map((n) => n['Node Type']), indexes: nodes(Plan).flatMap((n) => n['Index Name'] ?? []), ms };
  }

  it.each([
    ['host + port + newState, first page', { host: 'host-7', port: '443', newState: 'TCP_ESTABLISHED' }],
    ['host + port + newState, a later page', { host: 'host-7', port: '443', newState: 'TCP_ESTABLISHED', cursor: encodeCursor(['2026-11-25T12:00:00.000000Z', '100000']) }],
    ['host + port + newState, oldest first', { host: 'host-7', port: '443', newState: 'TCP_ESTABLISHED', order: 'asc' }],
    ['no filter, a later page', { cursor: encodeCursor(['2026-11-25T12:00:00.000000Z', '100000']) }],
  ])('%s: index scans only', async (_name, params) => {
    const { types, indexes, ms } = await explain({ limit: '100', ...params });
    console.info(`EXPLAIN ${JSON.stringify(params)}: ${types.join(' > ')} [${indexes.join(', ')}] ${ms.toFixed(2)} ms`);
    expect(types).not.toContain('Seq Scan');
    expect(indexes.length).toBeGreaterThan(0);
  });
});
