import { combinedTcpFilter, nextAction } from './apply';
import type { PolicyRecord } from './policy';
import type { HostFacts } from './selector';

const host: HostFacts = { host: 'web-1', kernelRelease: '6.18.0', mode: 'tracepoint', labels: { role: 'web' } };
const record = (version: number, selector = {}): PolicyRecord => ({ name: 'p', version, spec: { selector, probes: [], tracepoints: [], filter: { ports: [443] } } });

describe('nextAction', () => {
  it('applies a new matching policy, replaces an older version, ignores the same or older', () => {
    expect(nextAction(undefined, record(1), host)).toEqual({ kind: 'apply', record: record(1) });
    expect(nextAction(record(1), record(2), host)).toEqual({ kind: 'replace', old: record(1), record: record(2) });
    expect(nextAction(record(2), record(2), host)).toEqual({ kind: 'none' });
    expect(nextAction(record(2), record(1), host)).toEqual({ kind: 'none' });
  });

  it('removes on a tombstone, or when the new version no longer selects the host', () => {
    expect(nextAction(record(1), null, host)).toEqual({ kind: 'remove', old: record(1), version: 1 });
    expect(nextAction(undefined, null, host)).toEqual({ kind: 'none' });
    expect(nextAction(record(1), record(2, { modes: ['kprobe'] }), host)).toEqual({ kind: 'remove', old: record(1), version: 2 });
    expect(nextAction(undefined, record(2, { labels: { role: 'db' } }), host)).toEqual({ kind: 'none' });
  });
});

describe('combinedTcpFilter', () => {
  it('joins the config and every policy, each as clauses that must all hold', () => {
    expect(combinedTcpFilter('tracepoint', { families: ['AF_INET'] }, [{ ports: [443] }, undefined])).toBe('family == 2 && (sport == 443 || dport == 443)');
    expect(combinedTcpFilter('kprobe', undefined, [{ ports: [443] }])).toBe('(sport == 443 || dport_be == 47873)');
    expect(combinedTcpFilter('tracepoint', undefined, [])).toBe('');
  });
});
