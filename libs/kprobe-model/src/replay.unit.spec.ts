import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { replay, snapshot, type ReplayOutcome } from './index';

const FIXTURES = join(__dirname, '../../../test/fixtures/replay');
const streams = readdirSync(FIXTURES).filter((name) => name.endsWith('.ndjson'));

/** The outcome in the shape of the golden *.expected.json files. */
function golden(outcome: ReplayOutcome): unknown {
  if (outcome.ok) return snapshot(outcome.state);
  if (outcome.kind === 'violation') return { violation: { line: outcome.line, reason: outcome.reason } };
  return { invalid: { line: outcome.line, kind: outcome.failure.kind, field: outcome.failure.field } };
}

describe('golden replay streams', () => {
  it('covers successes, violations and invalid lines', () => {
    expect(streams).toEqual(expect.arrayContaining(['aggregated.ndjson', 'restart.ndjson', 'reboot.ndjson', 'misses.ndjson']));
    expect(streams.filter((name) => name.startsWith('violation-')).length).toBeGreaterThanOrEqual(6);
    expect(streams.filter((name) => name.startsWith('invalid-')).length).toBeGreaterThanOrEqual(2);
  });

  it.each(streams)('%s', (name) => {
    const lines = readFileSync(join(FIXTURES, name), 'utf8').split('\n');
    const expected: unknown = JSON.parse(readFileSync(join(FIXTURES, name.replace(/\.ndjson$/, '.expected.json')), 'utf8'));
    expect(golden(replay(lines))).toEqual(expected);
  });

  it('skips an exact duplicate and counts it', () => {
    const outcome = replay(readFileSync(join(FIXTURES, 'restart.ndjson'), 'utf8').split('\n'));
    expect(outcome).toMatchObject({ ok: true, duplicates: 1 });
  });
});
