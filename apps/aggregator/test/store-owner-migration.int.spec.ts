// The owner dictionary migration keeps what a store with inline owners holds: the store the previous
// code filled (fixtures/store-owner-inline: its README says how) is restored and migrated; the API
// then gives that code's recorded answers (plus tcplife's counters, null), `probefleet export` gives
// back every envelope as published, byte for byte, and each host's owners are in the dictionary once.
import { spawn } from 'node:child_process';
import { createReadStream, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createGunzip, gunzipSync } from 'node:zlib';
import { decodeEvent, encodeEvent, ownerJson, type Event } from '@probefleet/events';
import { exportEvents } from '../src/commands/export';
import { rebuild } from '../src/commands/rebuild';
import { migrate } from '../src/store/migrations';
import { createPrisma, type Db } from '../src/store/prisma';
import { startApi, type ApiUnderTest } from './api-app';
import { OWNER_ANSWERS } from './owner-answers';
import { ownerFleet } from './owner-fleet';
import { record } from './streams';
import { ingest } from './test-ingest';
import { createTempDatabase, type TempDatabase } from './temp-database';

const FIXTURES = join(__dirname, 'fixtures', 'store-owner-inline');
const MIGRATIONS = join(__dirname, '..', '..', '..', 'prisma', 'migrations');
const recorded = (file: string): unknown => JSON.parse(gunzipSync(readFileSync(join(FIXTURES, file))).toString('utf8'));
const published = (): string => gunzipSync(readFileSync(join(FIXTURES, 'events.ndjson.gz'))).toString('utf8');

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

async function exported(db: Db): Promise<string> {
  const chunks: string[] = [];
  await exportEvents(db, {}, new Writable({ write(chunk, _enc, done) { chunks.push(String(chunk)); done(); } }));
  return chunks.join('');
}

const LIFE_UNKNOWN = { txBytes: null, rxBytes: null, retrans: null, srttUs: null };

describe('owners inline → owner dictionary migration', () => {
  let tmp: TempDatabase;
  let db: Db;
  let api: ApiUnderTest;
  let applied: string[];

  beforeAll(async () => {
    tmp = await createTempDatabase('probefleet_owner_dict');
    await restore(tmp.url);
    ({ applied } = await migrate(tmp.url, MIGRATIONS));
    db = createPrisma(tmp.url);
    api = await startApi(tmp.url);
  }, 120_000);
  afterAll(async () => {
    await api?.close();
    await db?.$disconnect();
    await tmp?.drop();
  });

  it('applies the dictionary migration and the later ones to the restored store, which holds the fixture', async () => {
    const DICTIONARY = '20261203060000_owner_dictionary';
    expect(applied).toEqual(readdirSync(MIGRATIONS).filter((m) => /^\d{14}_/.test(m) && m >= DICTIONARY).sort());
    expect(applied[0]).toBe(DICTIONARY);
    expect(ownerFleet().map((e) => `${encodeEvent(e)}\n`).join('')).toBe(published());
    const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json.gz')).sort();
    expect(files).toEqual(Object.keys(OWNER_ANSWERS).sort());
  });

  it.each(Object.entries(OWNER_ANSWERS))('%s: the same answer after the migration', async (file, [path, query]) => {
    const answer = recorded(file) as { items: object[] };
    const expected = path === '/api/v1/connections' ? { ...answer, items: answer.items.map((i) => ({ ...i, ...LIFE_UNKNOWN })) } : answer;
    const { status, body } = await api.get(path, query);
    expect(status).toBe(200);
    expect(body).toEqual(expected);
    if (path !== '/api/v1/agents') expect(answer.items.length).toBeGreaterThan(0);
  });

  it('exports every envelope as published, byte for byte, owners joined back', async () => {
    expect(await exported(db)).toBe(published());
  });

  it('holds each host\'s owners once, with the newest day that names them, and no inline column is left', async () => {
    const events = published().split('\n').filter(Boolean).map((l) => (decodeEvent(l) as { value: Event }).value);
    const want = new Map<string, string>();
    for (const e of events) {
      if (e.type !== 'probe.hit' || e.data.owner === undefined) continue;
      const k = `${e.host} ${ownerJson(e.data.owner)}`;
      if ((want.get(k) ?? '') < e.time.slice(0, 10)) want.set(k, e.time.slice(0, 10));
    }
    const rows = await db.$queryRaw<{ host: string; pid: number; comm: string; cgroup: string; container_id: string | null; container_runtime: string | null;
      pod_namespace: string | null; pod_name: string | null; pod_uid: string | null; last_day: string }[]>`
      SELECT host, pid, comm, cgroup, container_id, container_runtime, pod_namespace, pod_name, pod_uid::text, last_day::text FROM tcp_owners`;
    const got = new Map(rows.map((r) => [`${r.host} ${ownerJson({
      pid: r.pid, comm: r.comm, cgroup: r.cgroup,
      ...(r.container_id === null ? {} : { container: { id: r.container_id, runtime: r.container_runtime as 'containerd' } }),
      ...(r.pod_uid === null ? {} : { pod: { ...(r.pod_namespace === null ? {} : { namespace: r.pod_namespace }), ...(r.pod_name === null ? {} : { name: r.pod_name }), uid: r.pod_uid } }),
    })}`, r.last_day]));
    expect(got).toEqual(want);
    expect(new Set([...got.keys()].map((k) => k.split(' ')[0])).size).toBe(2);
    // The rewritten tables and their partitions: no dropped column in their layout, no inline owner.
    const [left] = await db.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
       WHERE c.relname ~ '^tcp_(transitions|connections|open_connections)' AND (a.attisdropped OR a.attname IN ('owner_pid', 'owner_comm', 'cgroup'))`;
    expect(Number(left!.n)).toBe(0);
  });

  it('and the source dictionary after it (20261207160000_tcp_sources): each host, instance and probe of a TCP hit once, no inline column left', async () => {
    const events = published().split('\n').filter(Boolean).map((l) => (decodeEvent(l) as { value: Event }).value);
    const want = new Set(events.filter((e) => e.type === 'probe.hit' && 'skaddr' in e.data.args).map((e) => `${e.host} ${e.instance} ${(e as Event & { type: 'probe.hit' }).data.probe}`));
    const rows = await db.$queryRaw<{ key: string }[]>`SELECT host || ' ' || instance || ' ' || probe AS key FROM tcp_sources`;
    expect(rows.map((r) => r.key).sort()).toEqual([...want].sort());
    const [left] = await db.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
       WHERE c.relname ~ '^tcp_transitions' AND a.attnum > 0 AND (a.attisdropped OR a.attname IN ('instance', 'probe'))`;
    expect(Number(left!.n)).toBe(0);
  });

  it('ingest finds the migrated owners and sources by their key: the same events again add none and store nothing twice', async () => {
    const [before] = await db.$queryRaw<{ n: bigint; max: number }[]>`SELECT count(*) AS n, max(id) AS max FROM tcp_owners`;
    const sources = Number((await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM tcp_sources`)[0]!.n);
    const events = ownerFleet();
    for (const host of ['node-a', 'node-b']) {
      const mine = events.filter((e) => e.host === host);
      const out = await ingest(db, [record(mine, 0, 0)]);
      expect(out.stored).toBe(0);
    }
    const [after] = await db.$queryRaw<{ n: bigint; max: number }[]>`SELECT count(*) AS n, max(id) AS max FROM tcp_owners`;
    expect(after).toEqual(before);
    expect(Number((await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM tcp_sources`)[0]!.n)).toBe(sources);
  });

  it('rebuild gives the same lifetimes from the migrated transitions', async () => {
    const page = () => api.get('/api/v1/connections', { limit: '1000' }).then((r) => r.body);
    const live = await page();
    await rebuild(db);
    // Lifetime ids are the sequence's again (rebuild numbers them anew): compare without them.
    const strip = (p: { items: { id: string }[] }) => p.items.map(({ id: _id, ...rest }) => rest);
    expect(strip(await page())).toEqual(strip(live));
  });
});
