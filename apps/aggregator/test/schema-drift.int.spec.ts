// The database that `probefleet migrate` builds matches prisma/schema.prisma: tables, columns,
// types, nullability, defaults, primary keys, uniques and indexes, computed from Prisma's own DMMF
// and compared with pg_catalog. What Prisma cannot declare without a preview feature (views) or at
// all (expression indexes) is checked against the lists below. And the runner records migrations as
// `prisma migrate deploy` does.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, appendFileSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { Client } from 'pg';
import { get_dmmf } from '@prisma/prisma-schema-wasm';
import { createTempDatabase, TempDatabase } from './temp-database';

const run = promisify(execFile);
const repo = join(__dirname, '..', '..', '..');
const cli = join(repo, 'apps/aggregator/dist/cli.js');
const migrationsDir = join(repo, 'prisma/migrations');
const migrationNames = readdirSync(migrationsDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

/** Indexes schema.prisma cannot express, as pg_get_indexdef prints them (TimeZone UTC). */
const EXPRESSION_INDEXES: string[] = [];
/** Views (Prisma 7 needs the `views` preview feature for them): columns and information_schema types. */
const VIEWS: Record<string, [string, string][]> = {
  tcp_lifetimes: [['id', 'bigint'], ['host', 'text'], ['boot_id', 'uuid'], ['instance', 'uuid'], ['skaddr', 'bigint'], ['family', 'USER-DEFINED'],
    ['saddr', 'inet'], ['daddr', 'inet'], ['sport', 'integer'], ['dport', 'integer'], ['opened_at', 'timestamp with time zone'],
    ['closed_at', 'timestamp with time zone'], ['duration_ms', 'double precision'], ['last_state', 'USER-DEFINED'], ['states', 'ARRAY'],
    ['entered_ns', 'ARRAY'], ['state_ms', 'ARRAY'], ['last_seq', 'bigint'], ['owner_id', 'integer'], ['attribution', 'USER-DEFINED'],
    ['tx_bytes', 'bigint'], ['rx_bytes', 'bigint'], ['retrans', 'bigint'], ['srtt_us', 'integer']],
};
/** Partitions are their parents' business: the partitioned tables are what schema.prisma describes. */
const NOT_A_PARTITION = `NOT EXISTS (SELECT 1 FROM pg_class p JOIN pg_namespace pn ON pn.oid = p.relnamespace
                 WHERE pn.nspname = 'public' AND p.relname = table_name AND p.relispartition)`;

interface DmmfField {
  name: string; dbName?: string | null; kind: string; type: string; isRequired: boolean; isList?: boolean;
  nativeType: [string, string[]] | null; default?: { name: string; args: unknown[] } | string | number | boolean;
}
interface DmmfModel { name: string; dbName: string | null; fields: DmmfField[]; primaryKey: { fields: string[] } | null }
interface DmmfIndex { model: string; type: 'id' | 'unique' | 'normal' | 'fulltext'; fields: { name: string }[] }

function dmmf(): { models: DmmfModel[]; indexes: DmmfIndex[] } {
  const schema = readFileSync(join(repo, 'prisma/schema.prisma'), 'utf8');
  return JSON.parse(get_dmmf(JSON.stringify({ prismaSchema: [['schema.prisma', schema]] }))).datamodel;
}

/** Prisma's PostgreSQL type for a field, in information_schema's words (with precision). */
function pgType(f: DmmfField): string {
  const native = f.nativeType?.[0];
  if (native === 'Uuid') return 'uuid';
  if (native === 'SmallInt') return 'smallint';
  if (native === 'Date') return 'date';
  if (native === 'Timestamptz') return f.isList ? 'ARRAY' : `timestamp with time zone(${f.nativeType![1][0] ?? 6})`;
  if (native === 'Inet') return 'inet';
  if (f.isList) return 'ARRAY';
  if (f.kind === 'enum') return 'USER-DEFINED';
  if (native) throw new Error(`native type ${native} has no mapping in this test yet`);
  const base: Record<string, string> = {
    String: 'text', Int: 'integer', BigInt: 'bigint', Float: 'double precision', Boolean: 'boolean',
    DateTime: 'timestamp without time zone(3)', Json: 'jsonb', Bytes: 'bytea', Decimal: 'numeric',
  };
  const t = base[f.type];
  if (!t) throw new Error(`type ${f.type} has no mapping in this test yet`);
  return t;
}

/** The column default PostgreSQL reports for Prisma's default, normalised. */
function pgDefault(f: DmmfField): string | null {
  const d = f.default;
  if (d === undefined) return null;
  if (typeof d === 'object') {
    if (d.name === 'autoincrement') return 'nextval';
    if (d.name === 'now') return 'CURRENT_TIMESTAMP';
    throw new Error(`default ${d.name}() has no mapping in this test yet`);
  }
  return String(d);
}

const column = (m: DmmfModel, name: string): string => {
  const f = m.fields.find((x) => x.name === name)!;
  return f.dbName ?? f.name;
};

describe('probefleet migrate', () => {
  let db: TempDatabase;
  let client: Client;

  beforeAll(async () => {
    db = await createTempDatabase('probefleet_drift');
    client = new Client({ connectionString: db.url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  const migrate = (dir?: string) =>
    run(process.execPath, [cli, 'migrate', ...(dir ? ['--dir', dir] : [])], { env: { ...process.env, DATABASE_URL: db.url } });

  it('applies every migration once and records it as prisma migrate deploy does', async () => {
    const first = await migrate();
    for (const name of migrationNames) expect(first.stdout).toContain(`applied ${name}`);
    const second = await migrate();
    expect(second.stdout).toMatch(/database is up to date/);

    const { rows } = await client.query('SELECT * FROM "_prisma_migrations" ORDER BY migration_name');
    expect(rows.map((r) => r.migration_name)).toEqual(migrationNames);
    for (const [i, row] of rows.entries()) {
      const sql = readFileSync(join(migrationsDir, migrationNames[i]!, 'migration.sql'));
      expect(row).toMatchObject({
        checksum: createHash('sha256').update(sql).digest('hex'),
        applied_steps_count: 1,
        logs: null,
        rolled_back_at: null,
      });
      expect(row.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(row.finished_at).toBeInstanceOf(Date);
    }
  });

  it('matches schema.prisma: tables, columns, types, nullability, defaults', async () => {
    const { models } = dmmf();
    const { rows: tables } = await client.query(
      `SELECT table_name FROM information_schema.tables
        WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> '_prisma_migrations' AND ${NOT_A_PARTITION}`,
    );
    expect(tables.map((t) => t.table_name).sort()).toEqual([...models.map((m) => m.dbName ?? m.name)].sort());

    const { rows: cols } = await client.query(
      `SELECT table_name, column_name, data_type, datetime_precision, is_nullable, column_default
         FROM information_schema.columns JOIN information_schema.tables USING (table_schema, table_name)
        WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> '_prisma_migrations' AND ${NOT_A_PARTITION}`,
    );
    const actual = cols.map((c) => ({
      table: c.table_name,
      column: c.column_name,
      type: c.data_type.startsWith('timestamp') ? `${c.data_type}(${c.datetime_precision})` : c.data_type,
      nullable: c.is_nullable === 'YES',
      default: c.column_default === null ? null : String(c.column_default).startsWith('nextval(') ? 'nextval' : String(c.column_default).replace(/::[a-z ]+$/, ''),
    }));
    const expected = models.flatMap((m) =>
      m.fields.filter((f) => f.kind === 'scalar' || f.kind === 'enum').map((f) => ({
        table: m.dbName ?? m.name,
        column: f.dbName ?? f.name,
        type: pgType(f),
        nullable: !f.isRequired,
        default: pgDefault(f),
      })),
    );
    const key = (c: { table: string; column: string }) => `${c.table}.${c.column}`;
    expect([...actual].sort((a, b) => key(a).localeCompare(key(b)))).toEqual([...expected].sort((a, b) => key(a).localeCompare(key(b))));
  });

  it('has the views schema.prisma leaves out, with their columns in order', async () => {
    const { rows } = await client.query(`
      SELECT table_name, array_agg(column_name::text ORDER BY ordinal_position) AS columns,
             array_agg(data_type::text ORDER BY ordinal_position) AS types
        FROM information_schema.columns JOIN information_schema.tables USING (table_schema, table_name)
       WHERE table_schema = 'public' AND table_type = 'VIEW' GROUP BY table_name`);
    const actual = Object.fromEntries(rows.map((r) => [r.table_name, r.columns.map((c: string, i: number) => [c, r.types[i]])]));
    expect(actual).toEqual(VIEWS);
  });

  it('matches schema.prisma: primary keys, uniques and indexes (columns in order)', async () => {
    const { models, indexes } = dmmf();
    // An expression has no pg_attribute (attnum 0): name it by its definition so it cannot go unseen.
    await client.query(`SET TIME ZONE 'UTC'`);
    const { rows } = await client.query(`
      SELECT t.relname AS table, i.indisprimary AS primary, i.indisunique AS unique,
             array_agg(coalesce(a.attname::text, pg_get_indexdef(i.indexrelid, k.ord::int, true)) ORDER BY k.ord)::text[] AS columns
        FROM pg_index i
        JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
        CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
        LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
       WHERE t.relname <> '_prisma_migrations' AND NOT t.relispartition
       GROUP BY t.relname, i.indexrelid, i.indisprimary, i.indisunique`);
    const sig = (table: string, kind: string, cols: string[]) => `${table} ${kind} (${cols.join(', ')})`;
    const actual = rows.map((r) => sig(r.table, r.primary ? 'primary' : r.unique ? 'unique' : 'index', r.columns)).sort();
    const expected = indexes.map((ix) => {
      const m = models.find((x) => x.name === ix.model)!;
      const kind = ix.type === 'id' ? 'primary' : ix.type === 'unique' ? 'unique' : 'index';
      return sig(m.dbName ?? m.name, kind, ix.fields.map((f) => column(m, f.name)));
    }).concat(EXPRESSION_INDEXES).sort();
    expect(actual).toEqual(expected);
  });

  it('creates a read-only role that can read projections and the ingest lag but not the raw event store', async () => {
    const { rows } = await client.query(`
      SELECT has_table_privilege('probefleet_reader', 'tcp_transitions', 'SELECT') AS read_projection,
             has_table_privilege('probefleet_reader', 'tcp_transitions', 'INSERT') AS write_projection,
             has_table_privilege('probefleet_reader', 'ingest_lag', 'SELECT') AS read_ingest_lag,
             has_table_privilege('probefleet_reader', 'events', 'SELECT') AS read_events`);
    expect(rows[0]).toEqual({ read_projection: true, write_projection: false, read_ingest_lag: true, read_events: false });
  });

  it('refuses a migration whose file changed after it was applied, and applies nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'probefleet-migrations-'));
    cpSync(join(repo, 'prisma/migrations'), dir, { recursive: true });
    appendFileSync(join(dir, '20261125200000_init/migration.sql'), '\n-- edited\n');
    await expect(migrate(dir)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/20261125200000_init was modified after it was applied/),
    });
  });
});
