import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePolicyRecord } from '@probefleet/policy';
import { PolicySigner, PolicyVerifier } from '@probefleet/signature';
import pino from 'pino';
import { PolicyCache } from './cache';
import { PolicyGate, type SignedRecord } from './gate';

const keys = generateKeyPairSync('ed25519');
const signer = new PolicySigner(keys.privateKey);
const verifier = new PolicyVerifier([keys.publicKey]);
const spec = { selector: {}, probes: [], tracepoints: [], filter: { ports: [443] } };
const record = (name: string, version: number) => ({ name, version, spec });
const put = (name: string, version: number, s = signer): SignedRecord => {
  const value = encodePolicyRecord(record(name, version));
  return { key: name, value, headers: s.headers(name, value, version) };
};
const del = (name: string, version: number): SignedRecord => ({ key: name, value: null, headers: signer.headers(name, null, version) });
const accepted = (c: PolicyCache, gate = new PolicyGate(verifier)) => c.load(gate).map((g) => (g.ok ? `${g.name}@${g.version}${g.record ? '' : ' deleted'}` : `refused ${g.name}: ${g.refused}`));

describe('PolicyCache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-cache-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const log = pino({ level: 'silent' });
  const file = join(dir, 'policies.json');

  it('keeps the latest signed record of each name (a delete too, for its version) and loads them back through the gate', () => {
    const cache = new PolicyCache(dir, log);
    expect(cache.load(new PolicyGate(verifier))).toEqual([]);
    cache.set(put('a', 1));
    cache.set(put('b', 1));
    cache.set(put('a', 2));
    cache.set(del('b', 2));
    cache.forget('b'); // a delete stays
    cache.set(put('c', 1));
    cache.forget('c');
    expect(accepted(new PolicyCache(dir, log))).toEqual(['a@2', 'b@2 deleted']);
    // The cache's versions guard what follows: an older record of a is a replay.
    const gate = new PolicyGate(verifier);
    new PolicyCache(dir, log).load(gate);
    const m = put('a', 1);
    expect(gate.check(m)).toMatchObject({ ok: false, refused: 'replayed' });
    expect(gate.check(put('b', 1))).toMatchObject({ ok: false, refused: 'replayed' });
  });

  it('refuses a record altered in the file, one of another key and an unsigned one, and applies the rest', () => {
    const cache = new PolicyCache(dir, log);
    cache.load(new PolicyGate(verifier));
    cache.set(put('ok', 1));
    cache.set(put('evil', 1, new PolicySigner(generateKeyPairSync('ed25519').privateKey)));
    const f = JSON.parse(readFileSync(file, 'utf8')) as { format: number; records: { key: string; value: string | null; headers: Record<string, string> }[] };
    const a = f.records.find((r) => r.key === 'a')!;
    // The same policy with a kprobe of the attacker's, under a's signature.
    a.value = Buffer.from(JSON.stringify({ name: 'a', version: 2, spec: { probes: [{ name: 'x', symbol: 'do_exit' }] } })).toString('base64');
    f.records.push({ key: 'bare', value: encodePolicyRecord(record('bare', 1)).toString('base64'), headers: {} });
    writeFileSync(file, JSON.stringify(f));
    expect(accepted(new PolicyCache(dir, log))).toEqual(['refused a: bad-signature', 'b@2 deleted', 'ok@1', 'refused evil: foreign-key', 'refused bare: unsigned']);
  });

  it('starts without a file that is not the signed format (an earlier agent\'s, or unreadable), leaving it as it is', () => {
    writeFileSync(file, JSON.stringify([record('a', 2)]));
    expect(new PolicyCache(dir, log).load(new PolicyGate(verifier))).toEqual([]);
    writeFileSync(file, '{not json');
    expect(new PolicyCache(dir, log).load(new PolicyGate(verifier))).toEqual([]);
    expect(readFileSync(file, 'utf8')).toBe('{not json');
  });
});
