// Progress of export and rebuild: drawn on a terminal (a pseudo-terminal from util-linux `script`),
// absent when stderr is a pipe; `rebuild --dry-run` says what it would do and changes nothing.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { seedFleet } from './api-seed';
import { readdirSync } from 'node:fs';
import { createMigratedDatabase, createTempDatabase, type TempDatabase } from './temp-database';
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

test('migrate on a terminal counts the migrations it applies; piped it writes no progress', async () => {
  const migrations = readdirSync(join(__dirname, '..', '..', '..', 'prisma', 'migrations'), { withFileTypes: true }).filter((d) => d.isDirectory()).length;
  const target = await createTempDatabase('live_progress_m');
  try {
    const tty = await run('script', ['-qec', shell('migrate'), '/dev/null'], { env: { ...env(), DATABASE_URL: target.url } });
    expect(tty.stdout).toMatch(new RegExp(`migrations applied: ${migrations}, [\\d.]+/s`));
    const piped = await run(process.execPath, [CLI, 'migrate'], { env: { ...env(), DATABASE_URL: target.url } });
    expect(piped.stdout).toBe(`database is up to date (${migrations} migrations applied earlier)\n`);
    expect(piped.stderr).toBe('');
  } finally {
    await target.drop();
  }
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
