// Progress of export and rebuild: drawn on a terminal (a pseudo-terminal from util-linux `script`),
// absent when stderr is a pipe; `rebuild --dry-run` says what it would do and changes nothing.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { seedFleet } from './api-seed';
import { createMigratedDatabase, type TempDatabase } from './temp-database';
import { createPrisma, type Db } from '../src/store/prisma';

const CLI = join(__dirname, '..', 'dist', 'cli.js');
const run = promisify(execFile);
let db: TempDatabase;
let prisma: Db;
let stored = 0;

beforeAll(async () => {
  db = await createMigratedDatabase('live_progress');
  prisma = createPrisma(db.url);
  await seedFleet(prisma);
  const { rows } = await prisma.pool.query<{ n: string }>(`SELECT sum(rows)::text AS n FROM store_batches`);
  stored = Number(rows[0]!.n);
});

afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

const env = () => ({ ...process.env, DATABASE_URL: db.url, CI: '' });
const shell = (args: string) => `'${process.execPath}' '${CLI}' ${args}`;

test('export on a terminal shows count, total, rate; piped it does not', async () => {
  const tty = await run('script', ['-qec', shell('export -o /dev/null'), '/dev/null'], { env: env() });
  expect(tty.stdout).toMatch(new RegExp(`exported: ${stored} / ${stored} \\(100%\\), \\d+/s`));
  const piped = await run(process.execPath, [CLI, 'export', '-o', '/dev/null'], { env: env() });
  expect(piped.stderr).toBe(`exported ${stored} events\n`);
});

test('rebuild on a terminal shows its progress; in CI it does not', async () => {
  const tty = await run('script', ['-qec', shell('rebuild'), '/dev/null'], { env: env() });
  expect(tty.stdout).toMatch(new RegExp(`folded: ${stored} / ${stored} \\(100%\\)`));
  const ci = await run('script', ['-qec', shell('rebuild'), '/dev/null'], { env: { ...env(), CI: 'true' } });
  expect(ci.stdout).not.toMatch(/folded: /);
  expect(ci.stdout).toMatch(`rebuilt projections from ${stored} events`);
});

test('rebuild --dry-run says what it would do and changes nothing', async () => {
  const before = await prisma.pool.query(`SELECT count(*)::int AS n FROM tcp_open_connections`);
  const r = await run(process.execPath, [CLI, 'rebuild', '--dry-run'], { env: env() });
  expect(r.stdout).toMatch(/^would empty .*tcp_connections/m);
  expect(r.stdout).toMatch(new RegExp(`^would fold ${stored} stored events`, 'm'));
  expect(r.stdout).toMatch(/dry run: nothing changed/);
  const after = await prisma.pool.query(`SELECT count(*)::int AS n FROM tcp_open_connections`);
  expect(after.rows[0].n).toBe(before.rows[0].n);
});
