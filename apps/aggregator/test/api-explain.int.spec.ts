// The transitions page query on ~200k rows of the store v2 layout: PostgreSQL must answer it from an
// index, not a scan.
import { Prisma } from '../src/generated/prisma/client';
import { TransitionsQuery, transitionsSql } from '../src/api/transitions.service';
import { resolveOwners } from '../src/api/owner-fields';
import { encodeCursor } from '../src/api/cursor';
import { ConnectionStreamQuery, connectionStreamSql } from '../src/api/live/stream-queries';
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
    // 200k transitions over ~22 hours (one day partition): 10 hosts, 12 states, a handful of service
    // ports and many ephemeral ones, IPv4 sources per host and 250 destination networks.
    await db.$executeRaw`SELECT probefleet_partition('tcp_transitions', TIMESTAMPTZ '2026-11-25T00:00:00Z')`;
    await db.$executeRaw`SELECT setseed(0.42)`;
    await db.$executeRaw`
      INSERT INTO tcp_sources (id, host, instance, probe) SELECT h + 1, 'host-' || h, md5('instance' || h)::uuid, 'tcp_set_state' FROM generate_series(0, 9) h`;
    // Five owners per host: nginx 72 % of its rows, java 25 %, three curls 1 % each.
    await db.$executeRaw`
      INSERT INTO tcp_owners (host, id, key, pid, comm, cgroup, last_day)
      SELECT 'host-' || h, h * 5 + k + 1, probefleet_owner_key(100 * h + k, c, '/', NULL, NULL, NULL, NULL, NULL), 100 * h + k, c, '/', DATE '2026-11-25'
        FROM generate_series(0, 9) h, generate_series(0, 4) k, LATERAL (SELECT (ARRAY['nginx', 'java', 'curl', 'curl', 'curl'])[k + 1] AS c) x`;
    await db.$executeRaw`
      INSERT INTO tcp_transitions (id, host, source_id, seq, time, time_ns, cpu, pid, comm, skaddr, family, saddr, daddr, sport, dport, old_state, new_state,
                                   owner_id)
      SELECT g, 'host-' || h, h + 1, g, TIMESTAMPTZ '2026-11-25T00:00:00Z' + g * INTERVAL '400 milliseconds', 0, 0, 1, 'curl',
             -123349791571968 + g % 5000, 'AF_INET', ('10.0.' || h || '.1')::inet, ('10.1.' || (g % 250) || '.1')::inet,
             32768 + (random() * 28000)::int, (ARRAY[80, 443, 5432, 6379, 8080, 9092])[1 + floor(random() * 6)::int],
             states[1 + floor(random() * 12)::int]::tcp_state, states[1 + floor(random() * 12)::int]::tcp_state,
             h * 5 + CASE WHEN r < 0.72 THEN 0 WHEN r < 0.97 THEN 1 ELSE 2 + floor((r - 0.97) * 100)::int END + 1
        FROM (SELECT g, floor(random() * 10)::int AS h, random() AS r FROM generate_series(1, 200000) AS g) AS rows,
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
    const sql = transitionsSql(await resolveOwners(db, TransitionsQuery.parse(params)));
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
    ['daddr, exactly', { daddr: '10.1.7.1' }],
    ['daddr as a narrow CIDR', { daddr: '10.1.7.0/24' }],
    ['saddr as a CIDR + newState', { saddr: '10.0.3.0/24', newState: 'TCP_CLOSE' }],
  ])('%s: index scans only', async (_name, params) => {
    const { types, indexes, ms } = await explain({ limit: '100', ...params });
    console.info(`EXPLAIN ${JSON.stringify(params)}: ${types.join(' > ')} [${indexes.join(', ')}] ${ms.toFixed(2)} ms`);
    expect(types).not.toContain('Seq Scan');
    expect(indexes.length).toBeGreaterThan(0);
  });

  // A host + owner page reads the host's rows newest first and keeps the owner's: a common owner fills
  // the page from them (the owner index untouched), a rare one falls back to the owner index; both
  // give the plain query's rows, first page and next.
  it.each([
    ['a common owner', 'java', false],
    ['a rare owner', 'curl', true],
  ])('host + %s: the plain query\'s rows, from the owner index only when the host\'s newest rows fall short', async (_name, comm, fallback) => {
    const first = await resolveOwners(db, TransitionsQuery.parse({ host: 'host-7', comm, limit: '100' }));
    const [row] = await db.$queryRaw<{ 'QUERY PLAN': [{ Plan: PlanNode }] }[]>(Prisma.sql`EXPLAIN (ANALYZE, FORMAT JSON) ${transitionsSql(first)}`);
    const read = nodes(row!['QUERY PLAN'][0].Plan).filter((n) => (n as { 'Actual Loops'?: number })['Actual Loops']! > 0).flatMap((n) => n['Index Name'] ?? []);
    console.info(`host-7 + ${comm}: indexes read ${[...new Set(read)].join(', ')}`);
    expect(read).toContain('tcp_transitions_p20261125_pkey');
    expect(read.includes('tcp_transitions_p20261125_owner_id_idx')).toBe(fallback);
    let after: [string, string] | undefined;
    for (let page = 0; page < 2; page++) {
      const q = after === undefined ? first : await resolveOwners(db, TransitionsQuery.parse({ host: 'host-7', comm, limit: '100', cursor: encodeCursor(after) }));
      const got = await db.$queryRaw<{ id: bigint; time_text: string }[]>(transitionsSql(q));
      const want = await db.$queryRaw<{ id: bigint }[]>`
        SELECT id FROM tcp_transitions WHERE host = 'host-7' AND owner_id = ANY(${[...q.ownerIds!]}::int[])
           AND (${after === undefined} OR (time, id) < (${after?.[0] ?? null}::timestamptz, ${after?.[1] ?? null}::bigint))
         ORDER BY time DESC, id DESC LIMIT 101`;
      expect(got.map((r) => r.id)).toEqual(want.map((r) => r.id));
      expect(got).toHaveLength(101);
      after = [got[99]!.time_text, got[99]!.id.toString()];
    }
  });

  it('the connections stream finds each closed lifetime from its closing transition by index, not by reading the day', async () => {
    // A closed lifetime for every TCP_CLOSE transition, as the projection writes it in the same batch.
    await db.$executeRaw`SELECT probefleet_partition('tcp_connections', TIMESTAMPTZ '2026-11-25T00:00:00Z')`;
    await db.$executeRaw`
      INSERT INTO tcp_connections (id, host, boot_id, instance, skaddr, family, saddr, daddr, sport, dport, opened_at, closed_at, duration_ms,
                                   last_state, states, entered_ns, state_ms, last_seq)
      SELECT t.id, t.host, md5(t.host)::uuid, k.instance, skaddr, family, saddr, daddr, sport, dport, time - INTERVAL '1 second', time, 1000,
             'TCP_CLOSE', '{TCP_ESTABLISHED,TCP_CLOSE}', '{NULL,NULL}', '{NULL,NULL}', seq
        FROM tcp_transitions t JOIN tcp_sources k ON k.host = t.host AND k.id = t.source_id WHERE new_state = 'TCP_CLOSE'`;
    await db.$executeRaw`ANALYZE tcp_connections`;
    const sql = connectionStreamSql(ConnectionStreamQuery.parse({}), 50_000n, 1n << 40n, 500);
    const [row] = await db.$queryRaw<{ 'QUERY PLAN': [{ Plan: PlanNode }] }[]>(Prisma.sql`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`);
    const plan = nodes(row!['QUERY PLAN'][0].Plan);
    const onLifetimes = plan.filter((n) => (n as { 'Relation Name'?: string })['Relation Name']?.startsWith('tcp_connections'));
    expect(onLifetimes.map((n) => [n['Node Type'], n['Index Name']])).toEqual([['Index Scan', 'tcp_connections_p20261125_closed_at_idx']]);
    expect((plan[0] as { 'Actual Rows'?: number })['Actual Rows']).toBe(500);
  });
});
