// Runs every bench/*.bench.mjs in turn (each writes its own JSON to bench/results/) and prints a
// summary. Benchmarks import the built packages: run `npm run build` first.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.mjs'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
let failed = 0;
for (const file of files) {
  console.log(`\n==> ${file}`);
  const run = spawnSync(process.execPath, [join(here, file)], { stdio: 'inherit' });
  if (run.status !== 0) { failed++; console.error(`${file} failed (exit ${run.status})`); }
}
const results = join(here, 'results');
if (existsSync(results)) {
  console.log('\nresults:');
  for (const f of readdirSync(results).filter((f) => f.endsWith('.json')).sort()) {
    console.log(`  ${f}: ${readFileSync(join(results, f), 'utf8').trim().slice(0, 200)}`);
  }
}
process.exit(failed ? 1 : 0);
