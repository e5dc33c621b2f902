import { generateKeyPairSync } from 'node:crypto';
import { encodePolicyRecord } from '@probefleet/policy';
import { PolicySigner, PolicyVerifier } from '@probefleet/signature';
import { PolicyGate } from './gate';

const keys = generateKeyPairSync('ed25519');
const signer = new PolicySigner(keys.privateKey);
const spec = { selector: {}, probes: [], tracepoints: [], filter: { ports: [443] } };
const signed = (name: string, value: Buffer | null, version: number) => ({ key: Buffer.from(name), value, headers: signer.headers(name, value, version) });

describe('PolicyGate', () => {
  it('passes signed records in version order, refuses an older one as replayed and reports no version for it', () => {
    const gate = new PolicyGate(new PolicyVerifier([keys.publicKey]));
    expect(gate.check(signed('web', encodePolicyRecord({ name: 'web', version: 1, spec }), 1))).toMatchObject({ ok: true, name: 'web', version: 1, record: { version: 1 } });
    expect(gate.check(signed('web', null, 2))).toMatchObject({ ok: true, version: 2, record: null, signed: { key: 'web', value: null } });
    const replay = gate.check(signed('web', encodePolicyRecord({ name: 'web', version: 1, spec }), 1));
    expect(replay).toEqual({ ok: false, name: 'web', refused: 'replayed', reason: 'a put of version 1, older than version 2 already verified: a replayed record' });
  });

  it('refuses a signed header whose version is not the value\'s; a signed record that does not validate keeps its version', () => {
    const gate = new PolicyGate(new PolicyVerifier([keys.publicKey]));
    expect(gate.check(signed('web', encodePolicyRecord({ name: 'web', version: 9, spec }), 3))).toMatchObject({ ok: false, refused: 'malformed' });
    const bad = Buffer.from(JSON.stringify({ name: 'web', version: 4, spec: { probes: [{ name: 'x', symbol: 'f\np:evil/y g' }] } }));
    const g = gate.check(signed('web', bad, 4));
    expect(g).toMatchObject({ ok: false, version: 4, reason: expect.stringMatching(/^invalid policy record: spec\.probes\[0\]\.symbol/) });
    expect(g.ok || g.refused).toBeUndefined();
  });
});
