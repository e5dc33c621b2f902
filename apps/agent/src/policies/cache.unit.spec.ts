import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { PolicyCache } from './cache';

const record = (name: string, version: number) => ({ name, version, spec: { selector: {}, probes: [], tracepoints: [], filter: { ports: [443] } } });

describe('PolicyCache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-cache-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const log = pino({ level: 'silent' });

  it('keeps the latest of each name, forgets a deleted one, and loads it back', () => {
    const cache = new PolicyCache(dir, log);
    expect(cache.load()).toEqual([]);
    cache.set('a', record('a', 1));
    cache.set('b', record('b', 1));
    cache.set('a', record('a', 2));
    cache.set('b', null);
    expect(new PolicyCache(dir, log).load()).toEqual([record('a', 2)]);
  });

  it('leaves out a cached record that no longer validates (and an unreadable file is no set)', () => {
    writeFileSync(join(dir, 'policies.json'), JSON.stringify([record('a', 2), { ...record('evil', 1), spec: { probes: [{ name: 'x', symbol: 'f\np:evil/y g' }] } }]));
    expect(new PolicyCache(dir, log).load().map((r) => r.name)).toEqual(['a']);
    writeFileSync(join(dir, 'policies.json'), '{not json');
    expect(new PolicyCache(dir, log).load()).toEqual([]);
    expect(readFileSync(join(dir, 'policies.json'), 'utf8')).toBe('{not json');
  });
});
