import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runReplay } from './replay';

const FIXTURES = join(__dirname, '../../../../test/fixtures/replay');
const CLI = join(__dirname, '../../dist/cli.js');
const fixture = (name: string) => join(FIXTURES, name);
const expected = (name: string): Record<string, { line: number; reason?: string; field?: string }> =>
  JSON.parse(readFileSync(fixture(name.replace(/\.ndjson$/, '.expected.json')), 'utf8'));

async function capture(file: string) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runReplay(file, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('probefleet replay', () => {
  const streams = readdirSync(FIXTURES).filter((name) => name.endsWith('.ndjson'));

  it.each(streams.filter((name) => !/^(violation|invalid)-/.test(name)))('%s prints the golden state, exit 0', async (name) => {
    const { code, out, err } = await capture(fixture(name));
    expect({ code, err }).toEqual({ code: 0, err: '' });
    expect(JSON.parse(out)).toEqual(expected(name));
  });

  it.each(streams.filter((name) => name.startsWith('violation-')))('%s reports the line and reason, exit 1', async (name) => {
    const { violation } = expected(name);
    expect(await capture(fixture(name))).toEqual({ code: 1, out: '', err: `line ${violation?.line}: ${violation?.reason}` });
  });

  it.each(streams.filter((name) => name.startsWith('invalid-')))('%s reports the line and field, exit 2', async (name) => {
    const { invalid } = expected(name);
    const { code, out, err } = await capture(fixture(name));
    expect({ code, out }).toEqual({ code: 2, out: '' });
    expect(err).toMatch(new RegExp(`^line ${invalid?.line}: invalid event: ${invalid?.field || '\\(event\\)'}: `));
  });

  it('exits 2 on a file it cannot read', async () => {
    expect(await capture(fixture('missing.ndjson'))).toMatchObject({ code: 2, err: expect.stringContaining('cannot read') });
  });

  it('runs as the built executable', () => {
    const ok = spawnSync(process.execPath, [CLI, 'replay', fixture('misses.ndjson')], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual(expected('misses.ndjson'));
    const bad = spawnSync(process.execPath, [CLI, 'replay', fixture('violation-seq-gap.ndjson')], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^line 3: seq gap in stream web-1\//);
  });
});
