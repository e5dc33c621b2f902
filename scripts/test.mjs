#!/usr/bin/env node
// `npm test` and its tiers: node scripts/test.mjs [--node 24] [unit|int|e2e|kernel ...] [jest arguments]
// (no tier: all four, unit first). `--node 24` runs Jest, and whatever the tests spawn with
// process.execPath or `node` on PATH, on Node 24 LTS from the npm registry (scripts/node24.sh)
// whatever node runs this script. In order:
//   1. every *.spec.ts is named by tier and taken by its project's Jest config (else: fail, so a
//      new file can never be skipped silently);
//   2. beyond unit: the system packages (scripts/install-system-deps.sh; quick when all are there);
//   3. the build (Nx, cached);
//   4. for int/e2e/kernel: the local stack — PostgreSQL (its service started if down), Kafka (the
//      local broker started unless one answers), the database and topic (scripts/stack-session.mjs);
//      the kernel tier's live policy spec runs an aggregator on it and its guests reach the broker;
//   5. each tier, project by project, one Jest at a time (the services are shared);
//   6. what step 4 started is stopped again, unless another session (`npm start`) still uses it.
// The closing line sums every Jest run: "N passed, N failed, N skipped"; any failure exits 1.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, StackSession } from './stack-session.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const { TIERS } = createRequire(import.meta.url)('../jest.preset.js');
const jestBin = join(repo, 'node_modules', 'jest', 'bin', 'jest.js');
const started = Date.now();
const elapsed = () => `${Math.round((Date.now() - started) / 1000)}s`;
const say = (text) => console.log(`\n==> [${elapsed()}] ${text}`);

// Tier names pick tiers; `--node 24` picks the runtime; anything else goes to Jest (a path pattern,
// -t NAME...), after an optional `--`.
const argv = process.argv.slice(2).filter((a) => a !== '--');
const nodeAt = argv.indexOf('--node');
const runtime = nodeAt < 0 ? undefined : argv.splice(nodeAt, 2)[1];
if (runtime !== undefined && runtime !== '24') {
  console.error(`test: --node takes 24 (the registry's Node 24 LTS), not ${JSON.stringify(runtime ?? '')}`);
  process.exit(2);
}
// PATH first, so that a spawned `node` (a script, the stack's helpers) is that Node too.
const nodeBin = runtime ? execFileSync('bash', [join(repo, 'scripts', 'node24.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim() : dirname(process.execPath);
const nodeExec = join(nodeBin, 'node');
const testEnv = runtime ? { ...process.env, PATH: `${nodeBin}:${process.env.PATH ?? ''}` } : process.env;
const asked = argv.filter((a) => TIERS.includes(a));
const jestArgs = argv.filter((a) => !TIERS.includes(a));
const tiers = TIERS.filter((t) => asked.length === 0 || asked.includes(t));

// Projects: the workspaces with a Jest config, in dependency order (libs, apps, then test/).
const projects = ['libs', 'apps']
  .flatMap((d) => readdirSync(join(repo, d)).sort().map((p) => join(d, p)))
  .concat('test')
  .filter((p) => existsSync(join(repo, p, 'jest.config.js')));

const SKIP = new Set(['node_modules', 'dist', 'generated', '.git', '.run', '.nx', '.kernel-lab']);
function specFiles(dir, out = []) {
  for (const entry of readdirSync(join(repo, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && !SKIP.has(entry.name)) specFiles(path, out);
    else if (entry.isFile() && entry.name.endsWith('.spec.ts')) out.push(path);
  }
  return out;
}
const tierOf = (file) => /\.(\w+)\.spec\.ts$/.exec(file)?.[1];
const projectOf = (file) => projects.find((p) => file.startsWith(`${p}/`));
const configOf = (project) => join(project, 'jest.config.js');

function capture(cmd, args, options) {
  return new Promise((resolve) => {
    let out = '';
    const child = spawn(cmd, args, { ...options, stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

/** Step 1: names, and Jest's own list of each project's files (all tiers) holding every one of them. */
async function checkNames() {
  const files = ['apps', 'libs', 'test', 'bench', 'deploy', 'scripts'].filter((d) => existsSync(join(repo, d))).flatMap((d) => specFiles(d));
  const problems = [];
  for (const f of files) {
    if (!TIERS.includes(tierOf(f))) problems.push(`${f}: not named by tier (*.${TIERS.join('.spec.ts, *.')}.spec.ts)`);
    else if (!projectOf(f)) problems.push(`${f}: in no project with a jest.config.js`);
  }
  const { code, out } = await capture(process.execPath, [jestBin, '--listTests', '--projects', ...projects.map(configOf)], {
    cwd: repo, env: { ...process.env, PROBEFLEET_TEST_TIER: TIERS.join(',') },
  });
  if (code !== 0) problems.push(`jest --listTests failed (exit ${code})`);
  const listed = new Set(out.split('\n').filter((l) => l.trim()).map((l) => relative(repo, l.trim())));
  for (const f of files) if (TIERS.includes(tierOf(f)) && projectOf(f) && !listed.has(f)) problems.push(`${f}: its project's Jest config does not take it`);
  if (problems.length > 0) throw new Error(`test files that no tier would run:\n  ${problems.join('\n  ')}`);
  return files;
}

let current; // the running Jest, for a signal to reach
/**
 * One Jest run per tier over every project that has files of it (one process: no start-up per
 * project); the counts per project from Jest's JSON report.
 */
async function jest(tier, tierProjects) {
  const dir = mkdtempSync(join(tmpdir(), 'probefleet-jest-'));
  const report = join(dir, 'report.json');
  // Beyond unit the files share the broker, the database server and tracefs: one file at a time;
  // and a failed test's client still retrying a service must not keep Jest (and CI) from ending.
  const args = [jestBin, '--ci', '--json', `--outputFile=${report}`, ...(tier === 'unit' ? [`--maxWorkers=${availableParallelism()}`] : ['--runInBand', '--forceExit']),
    ...(jestArgs.length > 0 ? ['--passWithNoTests', ...jestArgs] : []), '--projects', ...tierProjects.map(configOf)];
  const code = await new Promise((resolve) => {
    current = spawn(nodeExec, args, { cwd: repo, stdio: 'inherit', env: { ...testEnv, PROBEFLEET_TEST_TIER: tier } });
    current.on('exit', (c, signal) => resolve(signal ?? c));
  });
  current = undefined;
  let r;
  try {
    r = JSON.parse(readFileSync(report, 'utf8'));
  } catch {
    r = undefined; // Jest died before reporting (a global set-up failed, a config error)
  }
  rmSync(dir, { recursive: true, force: true });
  const rows = tierProjects.map((project) => ({ project, tier, code, passed: 0, failed: 0, skipped: 0 }));
  for (const file of r?.testResults ?? []) {
    const row = rows.find((x) => relative(repo, file.name).startsWith(`${x.project}/`)) ?? rows[rows.length - 1];
    const count = (status) => file.assertionResults.filter((a) => a.status === status).length;
    row.passed += count('passed');
    // A file that fails to load has no failed test of its own; count it, so "0 failed" means it.
    row.failed += count('failed') + (file.status === 'failed' && count('failed') === 0 ? 1 : 0);
    row.skipped += count('pending') + count('todo') + count('skipped');
  }
  if (code !== 0 && rows.every((x) => x.failed === 0)) rows.push({ project: '(jest)', tier, code, passed: 0, failed: 1, skipped: 0 });
  return rows;
}

const session = new StackSession(repo, (text) => console.log(`    ${text}`));
const results = [];
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    interrupted = true;
    current?.kill(signal);
    void session.leave().finally(() => process.exit(130));
  });
}

function summary() {
  if (results.length > 0) {
    console.log('\n==> results');
    for (const r of results.filter((x) => x.passed + x.failed + x.skipped > 0 || x.code !== 0)) console.log(`    ${r.tier.padEnd(6)} ${r.project.padEnd(22)} ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped${r.code !== 0 ? ` (jest exit ${r.code})` : ''}`);
  }
  const sum = (k) => results.reduce((n, r) => n + r[k], 0);
  console.log(`\n${sum('passed')} passed, ${sum('failed')} failed, ${sum('skipped')} skipped`);
}

let status = 0;
try {
  say(`test files by tier (running: ${tiers.join(', ')} on Node ${execFileSync(nodeExec, ['--version'], { encoding: 'utf8' }).trim()})`);
  const files = await checkNames();
  console.log(`    ${TIERS.map((t) => `${files.filter((f) => tierOf(f) === t).length} ${t}`).join(', ')}`);

  const step = async (what, cmd, args) => {
    const code = await run(cmd, args, { cwd: repo, env: testEnv });
    if (code !== 0) throw new Error(`${what} failed (${typeof code === 'number' ? `exit ${code}` : code})`);
  };
  if (tiers.some((t) => t !== 'unit')) {
    say('system packages (scripts/install-system-deps.sh)');
    await step('installing the system packages', 'bash', ['scripts/install-system-deps.sh']);
  }
  say('build (Nx, cached)');
  await step('the build', 'npx', ['nx', 'run-many', '-t', 'build', '--output-style=static']);
  if (tiers.some((t) => t === 'int' || t === 'e2e' || t === 'kernel')) {
    say('local stack: PostgreSQL and Kafka');
    await session.postgres();
    await session.kafka();
  }
  for (const tier of tiers) {
    const tierProjects = projects.filter((p) => files.some((f) => tierOf(f) === tier && projectOf(f) === p));
    if (interrupted || tierProjects.length === 0) continue;
    say(`${tier}: ${tierProjects.join(', ')}`);
    results.push(...(await jest(tier, tierProjects)));
  }
  if (results.some((r) => r.code !== 0 || r.failed > 0)) status = 1;
} catch (err) {
  console.error(`\ntest: ${err.message}`);
  results.push({ project: '(set-up)', tier: '-', code: 1, passed: 0, failed: 1, skipped: 0 });
  status = 1;
} finally {
  await session.leave();
}
summary();
process.exit(status);
