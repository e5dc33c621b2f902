// The query API against a real PostgreSQL seeded through ingest(): filters, keyset pages, 400s, 401s.
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { rawStatsSql, rollupStatsSql, statsSql, StatsQuery, type StatsRow } from '../src/api/stats.service';
import { createPrisma, type Db } from '../src/store/prisma';
import { startApi, type ApiUnderTest } from './api-app';
import { seedFleet, type Seed, type SeededConnection, type SeededTransition } from './api-seed';
import { createMigratedDatabase, type TempDatabase } from './temp-database';

type Query = Record<string, string | number>;

describe('query API', () => {
  let tmp: TempDatabase;
  let db: Db;
  let api: ApiUnderTest;
  let seed: Seed;

  beforeAll(async () => {
    tmp = await createMigratedDatabase('probefleet_api');
    seed = await seedFleet(createPrisma(tmp.url));
    db = createPrisma(tmp.url);
    api = await startApi(tmp.url);
  });
  afterAll(async () => {
    await api?.close();
    await db?.$disconnect();
    await tmp?.drop();
  });

  /** Every page of an endpoint, following nextCursor; the items in the order they came. */
  async function allPages(path: string, query: Query): Promise<{ items: Record<string, unknown>[]; pages: number }> {
    const items: Record<string, unknown>[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const { status, body } = await api.get(path, cursor === null ? query : { ...query, cursor });
      expect(status).toBe(200);
      expect(body.items.length).toBeLessThanOrEqual(Number(query.limit));
      items.push(...body.items);
      cursor = body.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 1000);
    return { items, pages };
  }

  const byTimeThenId = (a: SeededTransition, b: SeededTransition) => a.time.localeCompare(b.time) || a.ord - b.ord;
  const transitionKey = (t: { instance?: unknown; seq?: unknown }) => `${t.instance}/${t.seq}`;
  const newestFirst = (ts: SeededTransition[]) => [...ts].sort(byTimeThenId).reverse().map(transitionKey);

  describe('GET /api/v1/transitions', () => {
    const at = (ms: number) => new Date(Date.parse('2026-11-25T10:00:00Z') + ms).toISOString();
    const cases: [string, Query, (t: SeededTransition) => boolean][] = [
      ['no filter', {}, () => true],
      ['host', { host: 'api-a' }, (t) => t.host === 'api-a'],
      ['family', { family: 'AF_INET6' }, (t) => t.family === 'AF_INET6'],
      ['port as dport', { port: 443 }, (t) => t.sport === 443 || t.dport === 443],
      ['port as sport', { port: 8080 }, (t) => t.sport === 8080 || t.dport === 8080],
      ['saddr', { saddr: '2001:db8::1' }, (t) => t.saddr === '2001:db8::1'],
      ['daddr', { daddr: '10.0.0.9' }, (t) => t.daddr === '10.0.0.9'],
      ['saddr as an IPv4 CIDR', { saddr: '10.0.0.0/8' }, (t) => t.saddr.startsWith('10.')],
      ['daddr as a narrow IPv4 CIDR', { daddr: '10.0.0.2/31' }, (t) => ['10.0.0.2', '10.0.0.3'].includes(t.daddr)],
      ['daddr as an IPv6 CIDR', { daddr: '2001:db8::/32' }, (t) => t.daddr.startsWith('2001:db8:')],
      ['saddr as the IPv4-compatible address, in the agent spelling', { saddr: '::102:304' }, (t) => t.saddr === '::102:304'],
      ['saddr as the same address, dotted', { saddr: '::1.2.3.4' }, (t) => t.saddr === '::102:304'],
      ['daddr inside ::ffff:0:0/96 (IPv4-mapped)', { daddr: '::ffff:0.0.0.0/96' }, (t) => t.daddr === '::ffff:10.9.9.9'],
      ['saddr ::/0 (every IPv6 source)', { saddr: '::/0' }, (t) => t.family === 'AF_INET6'],
      ['family + daddr CIDR', { family: 'AF_INET', daddr: '10.0.0.8/29' }, (t) => t.family === 'AF_INET' && t.daddr === '10.0.0.9'],
      ['oldState', { oldState: 'TCP_ESTABLISHED' }, (t) => t.oldState === 'TCP_ESTABLISHED'],
      ['newState', { newState: 'TCP_CLOSE' }, (t) => t.newState === 'TCP_CLOSE'],
      // from is inclusive and to exclusive; both fall exactly on transition times.
      ['from/to', { from: at(10), to: at(20) }, (t) => t.time >= `${at(10).slice(0, 23)}000Z` && t.time < `${at(20).slice(0, 23)}000Z`],
      ['from with an offset', { from: '2026-11-25T11:01:00+01:00' }, (t) => t.time >= '2026-11-25T10:01:00.000000Z'],
      ['host + port + newState', { host: 'api-a', port: 80, newState: 'TCP_ESTABLISHED' },
        (t) => t.host === 'api-a' && (t.sport === 80 || t.dport === 80) && t.newState === 'TCP_ESTABLISHED'],
    ];

    it.each(cases)('filters by %s: exactly the matching rows, newest first', async (_name, query, matches) => {
      const expected = newestFirst(seed.transitions.filter(matches));
      expect(expected.length).toBeGreaterThan(0);
      const { status, body } = await api.get('/api/v1/transitions', { ...query, limit: 1000 });
      expect(status).toBe(200);
      expect(body.items.map(transitionKey)).toEqual(expected);
      expect(body.nextCursor).toBeNull();
    });

    it('serves each row in a JSON-friendly shape', async () => {
      const { body } = await api.get('/api/v1/transitions', { host: 'api-a', port: 8080, newState: 'TCP_CLOSE_WAIT' });
      const { a1 } = seed.streams;
      const seeded = seed.transitions.find((t) => t.sport === 8080 && t.newState === 'TCP_CLOSE_WAIT')!;
      expect(body.items).toEqual([{
        id: expect.stringMatching(/^\d+$/), host: 'api-a', instance: a1.instance, seq: String(seeded.seq), time: seeded.time,
        skaddr: '0xffff8881000a0100', family: 'AF_INET', saddr: '10.0.0.1', daddr: '10.0.0.9', sport: 8080, dport: 50000,
        oldState: 'TCP_ESTABLISHED', newState: 'TCP_CLOSE_WAIT', msInOldState: 1, pid: 100, comm: 'curl', cpu: 0, inIrq: false,
        // A hit without attribution (an agent before it): the owner fields are null.
        ownerPid: null, ownerComm: null, cgroup: null, container: null, podNamespace: null, podName: null, podUid: null, attribution: null,
      }]);
    });

    it.each([['desc', 7], ['asc', 7], ['desc', 5], ['asc', 5]] as const)('pages (%s, limit %i) return every row once, ties on time included', async (order, limit) => {
      const { items, pages } = await allPages('/api/v1/transitions', { order, limit });
      const expected = newestFirst(seed.transitions);
      expect(items.map(transitionKey)).toEqual(order === 'desc' ? expected : [...expected].reverse());
      expect(pages).toBe(Math.ceil(seed.transitions.length / limit));
    });

    it('serves addresses as the agent wrote them (IPv4-compatible IPv6 too)', async () => {
      const { body } = await api.get('/api/v1/transitions', { port: 50100 });
      expect(body.items.length).toBe(5);
      for (const t of body.items) expect(t).toMatchObject({ family: 'AF_INET6', saddr: '::102:304', daddr: '::ffff:10.9.9.9' });
      const { body: c } = await api.get('/api/v1/connections', { port: 50100 });
      expect(c.items).toEqual([expect.objectContaining({ saddr: '::102:304', daddr: '::ffff:10.9.9.9', skaddr: '0xffff8881000b0100' })]);
    });

    it('pages a filtered result the same way', async () => {
      const { items } = await allPages('/api/v1/transitions', { host: 'api-a', port: 80, limit: 3 });
      expect(items.map(transitionKey)).toEqual(newestFirst(seed.transitions.filter((t) => t.host === 'api-a' && (t.sport === 80 || t.dport === 80))));
    });
  });

  describe('GET /api/v1/connections', () => {
    const connectionKey = (c: { host?: unknown; skaddr?: unknown }) => `${c.host}/${c.skaddr}`;
    // Connections sharing an opening time are told apart by id, which follows insertion order.
    const newestOpenedFirst = (cs: SeededConnection[]) =>
      [...cs].sort((a, b) => a.openedAt.localeCompare(b.openedAt) || a.transitions[0]!.ord - b.transitions[0]!.ord).reverse().map(connectionKey);
    // a1: 2 lifecycle events at ms 1..2, then sockets of 5 transitions each: the third opens at ms 13.
    const thirdA1Opened = '2026-11-25T10:00:00.013000Z';
    const cases: [string, Query, (c: SeededConnection) => boolean][] = [
      ['no filter', {}, () => true],
      ['host', { host: 'api-b' }, (c) => c.host === 'api-b'],
      ['state=open', { state: 'open' }, (c) => c.closedAt === null],
      ['state=closed', { state: 'closed' }, (c) => c.closedAt !== null],
      ['lastState', { lastState: 'TCP_ESTABLISHED' }, (c) => c.lastState === 'TCP_ESTABLISHED'],
      ['port', { port: 80 }, (c) => c.sport === 80 || c.dport === 80],
      ['family + daddr', { family: 'AF_INET', daddr: '10.0.0.3' }, (c) => c.family === 'AF_INET' && c.daddr === '10.0.0.3'],
      ['saddr', { saddr: '2001:db8::1' }, (c) => c.saddr === '2001:db8::1'],
      ['daddr as a CIDR', { daddr: '10.0.0.0/30' }, (c) => ['10.0.0.2', '10.0.0.3'].includes(c.daddr)],
      ['saddr as an IPv6 CIDR', { saddr: '2001:db8::/48' }, (c) => c.saddr === '2001:db8::1'],
      ['from (openedAt)', { from: '2026-11-25T10:01:00Z' }, (c) => c.openedAt >= '2026-11-25T10:01:00.000000Z'],
      ['to (openedAt, exclusive)', { to: thirdA1Opened }, (c) => c.openedAt < thirdA1Opened],
    ];

    it('opens the third a1 socket where the filters above assume', () => {
      expect(seed.connections.filter((c) => c.host === 'api-a')[2]!.openedAt).toBe(thirdA1Opened);
    });

    it.each(cases)('filters by %s: exactly the matching lifetimes, newest first', async (_name, query, matches) => {
      const expected = newestOpenedFirst(seed.connections.filter(matches));
      expect(expected.length).toBeGreaterThan(0);
      const { status, body } = await api.get('/api/v1/connections', { ...query, limit: 1000 });
      expect(status).toBe(200);
      expect(body.items.map(connectionKey)).toEqual(expected);
    });

    it('serves a lifetime with the time spent in each state', async () => {
      const { body } = await api.get('/api/v1/connections', { port: 8080 });
      const server = seed.connections.find((c) => c.sport === 8080)!;
      const { a1 } = seed.streams;
      expect(body.items).toEqual([{
        id: expect.stringMatching(/^\d+$/), host: 'api-a', bootId: a1.bootId, instance: a1.instance, skaddr: '0xffff8881000a0100',
        family: 'AF_INET', saddr: '10.0.0.1', daddr: '10.0.0.9', sport: 8080, dport: 50000,
        openedAt: server.openedAt, closedAt: server.closedAt, durationMs: 3, lastState: 'TCP_CLOSE',
        states: [
          { state: 'TCP_SYN_RECV', enteredAt: null, ms: null },
          ...server.transitions.map((t, i) => ({ state: t.newState, enteredAt: expect.any(String), ms: i < 3 ? 1 : null })),
        ],
        ownerPid: null, ownerComm: null, cgroup: null, container: null, podNamespace: null, podName: null, podUid: null, attribution: null,
        txBytes: null, rxBytes: null, retrans: null, srttUs: null,
      }]);
      const { body: open } = await api.get('/api/v1/connections', { state: 'open', host: 'api-b' });
      expect(open.items).toEqual([expect.objectContaining({ closedAt: null, durationMs: null, lastState: 'TCP_ESTABLISHED', sport: 50003 })]);
    });

    it.each(['desc', 'asc'] as const)('pages (%s) return every lifetime once', async (order) => {
      const { items } = await allPages('/api/v1/connections', { order, limit: 3 });
      const expected = newestOpenedFirst(seed.connections);
      expect(items.map(connectionKey)).toEqual(order === 'desc' ? expected : [...expected].reverse());
    });
  });

  describe('GET /api/v1/stats/transitions', () => {
    /** Counts from the seed: per bucket start (epoch-aligned), oldState, newState. */
    function expectedCounts(bucketMs: number, matches: (t: SeededTransition) => boolean = () => true) {
      const counts = new Map<string, { start: string; oldState: string; newState: string; count: number }>();
      for (const t of seed.transitions.filter(matches)) {
        const start = new Date(Math.floor(Date.parse(t.time) / bucketMs) * bucketMs).toISOString();
        const key = `${start} ${t.oldState} ${t.newState}`;
        const entry = counts.get(key) ?? { start, oldState: t.oldState, newState: t.newState, count: 0 };
        entry.count += 1;
        counts.set(key, entry);
      }
      return [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, v]) => v);
    }
    const span = { from: '2026-11-25T10:00:00Z', to: '2026-11-25T10:05:00Z' };

    // Whole minutes are served by the minute rollups (1h too: the span is minute- but not hour-aligned).
    it.each([['1m', 60_000, 'rollup'], ['30s', 30_000, 'raw'], ['1h', 3600_000, 'rollup'], ['1s', 1000, 'raw']] as const)('counts exactly per %s bucket (from %s rows)', async (bucket, ms, source) => {
      expect(statsSql(StatsQuery.parse({ ...span, bucket })).source).toBe(source);
      const { status, body } = await api.get('/api/v1/stats/transitions', { ...span, bucket });
      expect(status).toBe(200);
      expect(body).toEqual({ ...span, bucket, bucketSeconds: ms / 1000, items: expectedCounts(ms) });
      expect(body.items.length).toBeGreaterThan(1);
    });

    it('applies the transition filters and the span', async () => {
      const { body } = await api.get('/api/v1/stats/transitions', { host: 'api-a', port: 80, from: '2026-11-25T10:01:00Z', to: span.to, bucket: '1m' });
      expect(body.items).toEqual(expectedCounts(60_000, (t) => t.host === 'api-a' && t.dport === 80 && t.time >= '2026-11-25T10:01'));
      expect(body.items.reduce((n: number, i: { count: number }) => n + i.count, 0)).toBe(15);
    });

    it.each([
      [{ ...span, bucket: '1m' }, 60], [{ ...span, bucket: '5m', host: 'api-a' }, 60], [{ from: '2026-11-25T10:00:00Z', to: '2026-11-25T11:00:00Z', bucket: '1h' }, 3600],
      [{ from: '2026-11-25T09:00:00+01:00', to: '2026-11-25T12:00:00Z', bucket: '2h', newState: 'TCP_CLOSE' }, 3600],
      [{ ...span, bucket: '1m', oldState: 'TCP_ESTABLISHED', host: 'api-b' }, 60],
    ] as const)('%j: the rollups (resolution %i) count what raw rows count', async (params, resolution) => {
      const q = StatsQuery.parse(params);
      expect(statsSql(q).source).toBe('rollup');
      const [rollup, raw] = await Promise.all([db.$queryRaw<StatsRow[]>(rollupStatsSql(q, resolution)), db.$queryRaw<StatsRow[]>(rawStatsSql(q))]);
      const plain = (rows: StatsRow[]) => rows.map((r) => ({ ...r, count: Number(r.count) }));
      expect(raw.length).toBeGreaterThan(0);
      expect(plain(rollup)).toEqual(plain(raw));
    });

    it.each([
      [{ ...span, bucket: '1m', port: '80' }, 'a port (sport or dport, not the rollups\' service port)'],
      [{ ...span, bucket: '1m', daddr: '10.0.0.0/8' }, 'an address'],
      [{ ...span, bucket: '1m', family: 'AF_INET' }, 'a family'],
      [{ from: '2026-11-25T10:00:30Z', to: span.to, bucket: '1m' }, 'a bound off the minute'],
      [{ from: '2026-11-25T10:00:00.000001Z', to: span.to, bucket: '1m' }, 'a bound a microsecond off'],
      [{ ...span, bucket: '90s' }, 'a bucket of no whole minutes'],
    ])('%j: raw rows (%s)', (params, _why) => {
      expect(statsSql(StatsQuery.parse(params)).source).toBe('raw');
    });

    it('defaults to the last hour in 1m buckets', async () => {
      const before = Date.now();
      const { status, body } = await api.get('/api/v1/stats/transitions');
      expect(status).toBe(200);
      expect(body).toMatchObject({ bucket: '1m', bucketSeconds: 60 });
      expect(Date.parse(body.to) - Date.parse(body.from)).toBe(3600_000);
      expect(Date.parse(body.to)).toBeGreaterThanOrEqual(before);
    });

    it.each([
      [{ bucket: '5x' }, 'bucket: expected a duration like 30s, 1m, 5m, 1h or 1d'],
      [{ bucket: '0m' }, 'bucket: expected a duration like 30s, 1m, 5m, 1h or 1d'],
      [{ bucket: '8d' }, 'bucket: expected at most 7d'],
      [{ bucket: '1s', from: '2026-11-25T00:00:00Z', to: '2026-11-26T00:00:00Z' }, 'bucket: expected at most 10000 buckets between from and to; take a wider bucket'],
      [{ from: '2026-11-25T10:00:00Z', to: '2026-11-25T09:00:00Z' }, 'to: expected a time after from'],
      [{ limit: 10 }, 'limit: unknown parameter'],
    ])('%j → 400 naming the parameter', async (query, message) => {
      expect(await api.get('/api/v1/stats/transitions', query)).toEqual({ status: 400, body: { statusCode: 400, error: 'Bad Request', message } });
    });
  });

  describe('fleet and store records', () => {
    it('GET /agents lists every host from its latest agent, and filters by host', async () => {
      const { status, body } = await api.get('/api/v1/agents');
      expect(status).toBe(200);
      expect(body.items.map((a: { host: string }) => a.host)).toEqual(['api-a', 'api-b', 'api-c']);
      const { body: a } = await api.get('/api/v1/agents', { host: 'api-a' });
      expect(a.items).toEqual([expect.objectContaining({
        // a1 stored 30 events (28 TCP hits), a2 16 (15 hits).
        host: 'api-a', instance: seed.streams.a2.instance, kernelRelease: '6.1.0', mode: 'kprobe', events: '46', hits: '43', lastSeen: '2026-11-25T10:01:30.016Z',
      })]);
    });

    it('GET /probes lists probes, filtered by host', async () => {
      const { body } = await api.get('/api/v1/probes');
      expect(body.items.map((p: { host: string; name: string }) => `${p.host}/${p.name}`)).toEqual(['api-a/tcp_set_state', 'api-b/inet_sock_set_state']);
      const { body: a } = await api.get('/api/v1/probes', { host: 'api-a' });
      expect(a.items).toEqual([expect.objectContaining({ name: 'tcp_set_state', kind: 'kprobe', address: '0xffffffff8206b250', bucket: 27, hits: '0', armed: false })]);
    });

    it('GET /events pages one stream in seq order, by instance or by host, from a seq', async () => {
      const { a1, a2 } = seed.streams;
      const { items, pages } = await allPages('/api/v1/events', { instance: a1.instance, limit: 10 });
      expect(items.map((e) => e.seq)).toEqual(Array.from({ length: 30 }, (_, i) => String(i + 1)));
      expect(pages).toBe(3);
      expect(items[0]).toMatchObject({ type: 'agent.started', host: 'api-a', instance: a1.instance, time: '2026-11-25T10:00:00.001000000Z', monoNs: '1000000' });
      const { body } = await api.get('/api/v1/events', { host: 'api-a', fromSeq: 15, limit: 3 });
      expect(body).toMatchObject({ instance: a2.instance, items: [{ seq: '15' }, { seq: '16' }], nextCursor: null });
      expect(await api.get('/api/v1/events', { host: 'nowhere' })).toEqual({ status: 200, body: { instance: null, items: [], nextCursor: null } });
    });

    it('GET /gaps filters by host and open', async () => {
      const { c1, c2 } = seed.streams;
      const { body: all } = await api.get('/api/v1/gaps', { host: 'api-c' });
      expect(all.items.map((g: { instance: string }) => g.instance)).toEqual([c2.instance, c1.instance]);
      const { body: open } = await api.get('/api/v1/gaps', { open: 'true' });
      expect(open.items).toEqual([expect.objectContaining({ instance: c1.instance, fromSeq: '3', toSeq: '4', missing: '2', remaining: [{ from: 3, to: 4 }], closedAt: null })]);
      const { body: closed } = await api.get('/api/v1/gaps', { open: 'false' });
      expect(closed.items).toEqual([expect.objectContaining({ instance: c2.instance, fromSeq: '2', missing: '0', closedAt: expect.any(String) })]);
      expect((await api.get('/api/v1/gaps', { host: 'api-a' })).body.items).toEqual([]);
    });

    it('GET /dead-letters pages newest first, raw bytes as base64 with a UTF-8 preview', async () => {
      const { items } = await allPages('/api/v1/dead-letters', { limit: 2 });
      const expected = [...seed.deadLetters].reverse();
      expect(items.map((d) => Buffer.from(d.raw as string, 'base64'))).toEqual(expected);
      expect(items[0]).toMatchObject({ kind: 'malformed', size: 400, preview: '[]'.repeat(128) });
      expect(items[1]).toMatchObject({ size: 4, preview: '\ufffd\ufffd\u0000A' });
      expect(items[2]).toMatchObject({ preview: '{not json', reason: expect.stringMatching(/JSON/i), topic: 'probefleet.events.v1' });
    });

    it.each([
      ['/api/v1/events', {}, 'instance: required (or host)'],
      ['/api/v1/events', { instance: 'not-a-uuid' }, 'instance: expected a UUID'],
      ['/api/v1/events', { host: 'api-a', fromSeq: 0 }, `fromSeq: expected an integer 1..${Number.MAX_SAFE_INTEGER}`],
      ['/api/v1/gaps', { open: 'yes' }, 'open: expected true or false'],
      ['/api/v1/dead-letters', { cursor: 'x' }, 'cursor: expected a nextCursor of a previous page'],
      ['/api/v1/agents', { limit: 1 }, 'limit: unknown parameter'],
    ])('%s %j → 400 naming it', async (path, query, message) => {
      expect(await api.get(path, query)).toEqual({ status: 400, body: { statusCode: 400, error: 'Bad Request', message } });
    });
  });

  describe('bad parameters', () => {
    it('answers 400 with the parameter and the reason', async () => {
      expect(await api.get('/api/v1/transitions', { port: 70000 })).toEqual({
        status: 400, body: { statusCode: 400, error: 'Bad Request', message: 'port: expected an integer 0..65535' },
      });
    });

    it.each([
      ['/api/v1/transitions', { from: 'yesterday' }, 'from: expected an RFC 3339 time like 2026-11-25T10:00:00Z'],
      ['/api/v1/transitions', { to: '2026-02-30T00:00:00Z' }, 'to: expected an RFC 3339 time like 2026-11-25T10:00:00Z'],
      ['/api/v1/transitions', { newState: 'ESTABLISHED' }, 'newState: expected a TCP state name like TCP_ESTABLISHED'],
      ['/api/v1/transitions', { oldState: 'tcp_close' }, 'oldState: expected a TCP state name like TCP_ESTABLISHED'],
      ['/api/v1/transitions', { port: -1 }, 'port: expected an integer 0..65535'],
      ['/api/v1/transitions', { port: '80abc' }, 'port: expected an integer 0..65535'],
      ['/api/v1/transitions', { limit: 1001 }, 'limit: expected an integer 1..1000'],
      ['/api/v1/transitions', { limit: 0 }, 'limit: expected an integer 1..1000'],
      ['/api/v1/transitions', { cursor: 'bm90IGEgY3Vyc29y' }, 'cursor: expected a nextCursor of a previous page'],
      ['/api/v1/transitions', { cursor: '!!' }, 'cursor: expected a nextCursor of a previous page'],
      ['/api/v1/transitions', { family: 'AF_UNIX' }, 'family: expected AF_INET or AF_INET6'],
      ['/api/v1/transitions', { saddr: 'localhost' }, 'saddr: expected an address or CIDR like 10.0.0.0/8'],
      ['/api/v1/transitions', { daddr: '10.0.0.0/8x' }, 'daddr: expected an address or CIDR like 10.0.0.0/8'],
      ['/api/v1/transitions', { daddr: '10.0.0.300' }, 'daddr: expected an address or CIDR like 10.0.0.0/8'],
      ['/api/v1/transitions', { saddr: '10.0.0.0/33' }, 'saddr: expected a prefix length of at most 32'],
      ['/api/v1/transitions', { saddr: '10.0.0.1/8' }, 'saddr: 10.0.0.1/8 has host bits set: expected the network 10.0.0.0/8, or 10.0.0.1 alone for the one address'],
      ['/api/v1/connections', { daddr: 'fd00::1/8' }, 'daddr: fd00::1/8 has host bits set: expected the network fd00::/8, or fd00::1 alone for the one address'],
      ['/api/v1/stats/transitions', { saddr: '::g' }, 'saddr: expected an address or CIDR like 10.0.0.0/8'],
      ['/api/v1/transitions', { order: 'newest' }, 'order: expected asc or desc'],
      ['/api/v1/transitions', { hots: 'api-a' }, 'hots: unknown parameter'],
      ['/api/v1/connections', { state: 'half' }, 'state: expected open or closed'],
      ['/api/v1/connections', { newState: 'TCP_CLOSE' }, 'newState: unknown parameter'],
      ['/api/v1/connections', { lastState: 'CLOSED' }, 'lastState: expected a TCP state name like TCP_ESTABLISHED'],
    ])('%s %j → 400 naming it', async (path, query, message) => {
      expect(await api.get(path, query)).toEqual({ status: 400, body: { statusCode: 400, error: 'Bad Request', message } });
    });

    it('names every bad parameter, and one given twice', async () => {
      const { status, body } = await api.get('/api/v1/transitions?port=1&port=2&limit=x&extra=1');
      expect(status).toBe(400);
      expect(body.message.split('; ').sort()).toEqual(['extra: unknown parameter', 'limit: expected an integer 1..1000', 'port: expected one value, got several']);
    });
  });

  describe('bearer tokens', () => {
    let guarded: ApiUnderTest;
    beforeAll(async () => { guarded = await startApi(tmp.url, 'tok-one, tok-two'); });
    afterAll(async () => { await guarded?.close(); });

    it.each(['/api/v1/transitions', '/api/v1/connections', '/api/v1/stats/transitions', '/api/v1/agents', '/api/v1/probes', '/api/v1/gaps', '/api/v1/dead-letters'])('%s needs one of the configured tokens', async (path) => {
      const unauthorized = { status: 401, body: expect.objectContaining({ statusCode: 401, message: 'expected Authorization: Bearer <token>' }) };
      expect(await guarded.get(path)).toEqual(unauthorized);
      expect(await guarded.get(path, {}, { authorization: 'Bearer tok-three' })).toEqual(unauthorized);
      expect(await guarded.get(path, {}, { authorization: 'Bearer tok-on' })).toEqual(unauthorized);
      expect(await guarded.get(path, {}, { authorization: 'Basic tok-two' })).toEqual(unauthorized);
      expect(await guarded.get(path, {}, { authorization: 'Bearer tok-two' })).toMatchObject({ status: 200, body: { items: expect.any(Array) } });
      expect(await guarded.get(path, {}, { authorization: 'bearer tok-one' })).toMatchObject({ status: 200 });
    });

    it('checks the token before the parameters', async () => {
      expect((await guarded.get('/api/v1/transitions', { port: 'x' })).status).toBe(401);
    });
  });

  it('documents every endpoint and its parameters in OpenAPI', () => {
    const doc = SwaggerModule.createDocument(api.app, new DocumentBuilder().addBearerAuth().build());
    const params = (path: string) => (doc.paths[path]?.get?.parameters ?? []).map((p) => ('name' in p ? p.name : '')).sort();
    expect(params('/api/v1/transitions')).toEqual(['comm', 'container', 'cursor', 'daddr', 'family', 'from', 'host', 'limit', 'namespace', 'newState', 'oldState', 'order', 'pid', 'pod', 'port', 'saddr', 'to']);
    expect(params('/api/v1/stats/transitions')).toEqual(['bucket', 'comm', 'container', 'daddr', 'family', 'from', 'host', 'namespace', 'newState', 'oldState', 'pid', 'pod', 'port', 'saddr', 'to']);
    expect(params('/api/v1/events')).toEqual(['cursor', 'fromSeq', 'host', 'instance', 'limit']);
    expect(params('/api/v1/gaps')).toEqual(['cursor', 'host', 'limit', 'open']);
    expect(params('/api/v1/dead-letters')).toEqual(['cursor', 'limit']);
    expect(Object.keys(doc.paths).sort()).toEqual(['/api/v1/agents', '/api/v1/connections', '/api/v1/dead-letters', '/api/v1/events', '/api/v1/gaps', '/api/v1/probes', '/api/v1/stats/transitions', '/api/v1/transitions']);
    expect(params('/api/v1/connections')).toEqual(['comm', 'container', 'cursor', 'daddr', 'family', 'from', 'host', 'lastState', 'limit', 'namespace', 'order', 'pid', 'pod', 'port', 'saddr', 'state', 'to']);
    expect(doc.paths['/api/v1/transitions']?.get?.responses['200']).toMatchObject({ content: { 'application/json': { schema: { properties: { items: { type: 'array' } } } } } });
  });
});
