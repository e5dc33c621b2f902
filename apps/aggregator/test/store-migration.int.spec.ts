// The store v2 migration keeps what a v1 store holds: a store filled by the previous code
// (fixtures/store-v1/dump.sql.gz) is restored, migrated by `probefleet migrate`'s runner, and the
// query API then gives the previous code's recorded answers (fixtures/store-v1/*.json.gz).
//
// One planned difference: a transition's id is now the store's shared sequence (the event's id in
// v1, since a TCP hit is stored once), not tcp_transitions' own v1 id. The migration takes it from
// events_v1, so the recorded ids (and the ids inside nextCursor) are mapped v1 transition id →
// v1 event id, read from the restored dump before migrating. Another: probes gained how the kernel
// armed them (issue 18), null/false for v1 rows. Everything else is compared as is.
import { spawn } from 'node:child_process';
import { createReadStream, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, createGunzip } from 'node:zlib';
import { Client } from 'pg';
import { Writable } from 'node:stream';
import { exportEvents } from '../src/commands/export';
import { decodeCursor, encodeCursor } from '../src/api/cursor';
import { rawStatsSql, rollupResolution, rollupStatsSql, StatsQuery, type StatsRow } from '../src/api/stats.service';
import { createPrisma } from '../src/store/prisma';
import { migrate } from '../src/store/migrations';
import { startApi, type ApiUnderTest } from './api-app';
import { createTempDatabase, type TempDatabase } from './temp-database';

const FIXTURES = join(__dirname, 'fixtures', 'store-v1');
const MIGRATIONS = join(__dirname, '..', '..', '..', 'prisma', 'migrations');

/** Each recorded answer: its file (the request with / ? & = turned into _) and the request. */
const ANSWERS: Record<string, [path: string, query: Record<string, string>]> = {
  'transitions_limit_1000_order_asc.json.gz': ['/api/v1/transitions', { limit: '1000', order: 'asc' }],
  'transitions_limit_100_port_443.json.gz': ['/api/v1/transitions', { limit: '100', port: '443' }],
  'transitions_limit_50_newState_TCP_CLOSE.json.gz': ['/api/v1/transitions', { limit: '50', newState: 'TCP_CLOSE' }],
  'connections_limit_1000.json.gz': ['/api/v1/connections', { limit: '1000' }],
  'connections_limit_100_state_closed.json.gz': ['/api/v1/connections', { limit: '100', state: 'closed' }],
  'stats_transitions_from_2026-11-28T23:00:00Z_to_2026-11-29T01:00:00Z_bucket_1m.json.gz':
    ['/api/v1/stats/transitions', { from: '2026-11-28T23:00:00Z', to: '2026-11-29T01:00:00Z', bucket: '1m' }],
  'agents.json.gz': ['/api/v1/agents', {}],
  'probes.json.gz': ['/api/v1/probes', {}],
  'gaps.json.gz': ['/api/v1/gaps', {}],
  'dead-letters.json.gz': ['/api/v1/dead-letters', {}],
};
/** Fixtures that are not API answers: the dump itself, and export's output (compared below). */
const NOT_ANSWERS = ['dump.sql.gz', 'export.ndjson.gz'];

const recorded = (file: string): unknown => JSON.parse(gunzipSync(readFileSync(join(FIXTURES, file))).toString('utf8'));

/** psql reads the dump as pg_dump wrote it (COPY ... FROM stdin), stopping at the first error. */
function restore(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const psql = spawn('psql', ['-q', '-v', 'ON_ERROR_STOP=1', '-d', url], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    psql.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    psql.on('error', reject);
    psql.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`psql exited ${code}: ${stderr}`))));
    createReadStream(join(FIXTURES, 'dump.sql.gz')).pipe(createGunzip()).pipe(psql.stdin);
  });
}

describe('store v1 → v2 migration', () => {
  let tmp: TempDatabase;
  let api: ApiUnderTest;
  /** v1 tcp_transitions.id → v1 events.id (the id the migration gives the row). */
  const transitionIds = new Map<string, string>();

  beforeAll(async () => {
    tmp = await createTempDatabase('probefleet_store_v1');
    await restore(tmp.url);
    const pg = new Client({ connectionString: tmp.url });
    await pg.connect();
    try {
      const { rows } = await pg.query<{ old: string; new: string }>(
        'SELECT t.id::text AS old, e.id::text AS new FROM tcp_transitions t JOIN events e USING (instance, seq)');
      for (const r of rows) transitionIds.set(r.old, r.new);
    } finally {
      await pg.end();
    }
    await migrate(tmp.url, MIGRATIONS);
    api = await startApi(tmp.url);
  }, 120_000);
  afterAll(async () => {
    await api?.close();
    await tmp?.drop();
  });

  it('has a request for every recorded answer', () => {
    const files = readdirSync(FIXTURES).filter((f) => !NOT_ANSWERS.includes(f)).sort();
    expect(files).toEqual(Object.keys(ANSWERS).sort());
    expect(transitionIds.size).toBeGreaterThan(2000);
  });

  /** A recorded transitions page with the ids the migration gave its rows. */
  function withStoreIds(page: { items: { id: string }[]; nextCursor: string | null }) {
    const id = (old: string) => transitionIds.get(old) ?? `unmapped v1 id ${old}`;
    const cursor = page.nextCursor === null ? null : decodeCursor(page.nextCursor)!;
    return {
      items: page.items.map((t) => ({ ...t, id: id(t.id) })),
      nextCursor: cursor === null ? null : encodeCursor([cursor[0]!, id(cursor[1]!)]),
    };
  }

  const NO_OWNER = { ownerPid: null, ownerComm: null, cgroup: null, container: null, podNamespace: null, podName: null, podUid: null, attribution: null };

  it.each(Object.entries(ANSWERS))('%s: the same answer after the migration', async (file, [path, query]) => {
    const answer = recorded(file) as { items: { id: string }[]; nextCursor: string | null };
    // v1 rows have no owner (socket_owner migration): the fields are there, null.
    const owned = path === '/api/v1/transitions' || path === '/api/v1/connections';
    // Nor tcplife's counters (owner dictionary migration), null on lifetimes.
    const life = path === '/api/v1/connections' ? { txBytes: null, rxBytes: null, retrans: null, srttUs: null } : {};
    const expected = owned ? { ...answer, items: answer.items.map((i) => ({ ...i, ...NO_OWNER, ...life })) } : answer;
    const { status, body } = await api.get(path, query);
    expect(status).toBe(200);
    const armedAs = (page: { items: object[] }) => ({ ...page, items: page.items.map((p) => ({ ...p, mechanism: null, postHandler: false, disabled: false, gone: false })) });
    expect(body).toEqual(path === '/api/v1/transitions' ? withStoreIds(expected) : path === '/api/v1/probes' ? armedAs(expected) : expected);
  });

  it.each([
    ['1m', {}], ['1h', {}], ['5m', { host: 'web-001.sfo3' }], ['1m', { newState: 'TCP_CLOSE', oldState: 'TCP_FIN_WAIT2' }],
  ])('counts the same from the rollups the migration built as from raw rows (%s, %j)', async (bucket, filter) => {
    const q = StatsQuery.parse({ from: '2026-11-28T23:00:00Z', to: '2026-11-29T01:00:00Z', bucket, ...filter });
    const resolution = rollupResolution(q)!;
    expect(resolution).toBe(bucket === '1h' ? 3600 : 60);
    const db = createPrisma(tmp.url);
    try {
      const [rollup, raw] = await Promise.all([db.$queryRaw<StatsRow[]>(rollupStatsSql(q, resolution)), db.$queryRaw<StatsRow[]>(rawStatsSql(q))]);
      const plain = (rows: StatsRow[]) => rows.map((r) => ({ ...r, count: Number(r.count) }));
      expect(plain(rollup)).toEqual(plain(raw));
      expect(raw.length).toBeGreaterThan(0);
    } finally {
      await db.$disconnect();
    }
  });

  describe('export', () => {
    it('exports every envelope as the v1 store did (export.ndjson.gz), line for line', async () => {
      const db = createPrisma(tmp.url);
      try {
        const chunks: string[] = [];
        const out = new Writable({ write(chunk, _enc, done) { chunks.push(String(chunk)); done(); } });
        await exportEvents(db, {}, out);
        const before = gunzipSync(readFileSync(join(__dirname, 'fixtures/store-v1/export.ndjson.gz'))).toString('utf8');
        expect(chunks.join('').split('\n')).toEqual(before.split('\n'));
      } finally {
        await db.$disconnect();
      }
    });
  });
});
