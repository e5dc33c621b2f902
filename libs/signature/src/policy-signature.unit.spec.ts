import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, chmodSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadPolicySigner, loadPolicyVerifier, POLICY_OP_HEADER, POLICY_VERSION_HEADER, PolicySigner, PolicyVerifier, writePolicyKeyPair, type PolicyMessageParts } from './index';

const pair = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { signer: new PolicySigner(privateKey), publicKey };
};
const a = pair();
const verifier = new PolicyVerifier([a.publicKey]);
const record = (key: string, value: Buffer | null, version: number, s = a.signer): PolicyMessageParts => ({ key, value, headers: s.headers(key, value, version) });
const VALUE = Buffer.from('{"name":"web","version":3,"spec":{"filter":{"ports":[443]}}}');

describe('policy records: PolicySigner and PolicyVerifier', () => {
  it('verifies a put and a delete (a tombstone: null or empty value) with their op and version', () => {
    expect(verifier.verify(record('web', VALUE, 3))).toEqual({ ok: true, op: 'put', version: 3, signer: a.signer.publicKey });
    const del = record('web', null, 4);
    expect(verifier.verify(del)).toMatchObject({ ok: true, op: 'delete', version: 4 });
    expect(verifier.verify({ ...del, value: Buffer.alloc(0) })).toMatchObject({ ok: true, op: 'delete' });
  });

  it('refuses an unsigned record, one of another key, and tells which', () => {
    expect(verifier.verify({ key: 'web', value: VALUE, headers: {} })).toMatchObject({ ok: false, refused: 'unsigned' });
    expect(verifier.verify(record('web', VALUE, 3, pair().signer))).toMatchObject({ ok: false, refused: 'foreign-key', message: expect.stringMatching(/not by a pinned key/) });
  });

  it('refuses a header that claims another op or a version that is no positive integer as malformed', () => {
    const r = record('web', VALUE, 3);
    expect(verifier.verify({ ...r, headers: { ...r.headers, [POLICY_OP_HEADER]: 'delete' } })).toMatchObject({ ok: false, refused: 'malformed' });
    expect(verifier.verify({ ...r, headers: { ...r.headers, [POLICY_VERSION_HEADER]: '0x3' } })).toMatchObject({ ok: false, refused: 'malformed' });
    expect(verifier.verify({ ...r, headers: { ...r.headers, [POLICY_OP_HEADER]: 'exec' } })).toMatchObject({ ok: false, refused: 'malformed' });
  });

  it('any byte changed in the key, the value, the op or the version fails verification', () => {
    const flip = (b: Buffer, i: number, x: number) => {
      const c = Buffer.from(b);
      c[i % c.length] = c[i % c.length]! ^ x;
      return c;
    };
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 63 }), fc.uint8Array({ minLength: 1, maxLength: 256 }), fc.boolean(), fc.integer({ min: 1, max: 1e9 }),
        fc.constantFrom('key', 'value', 'op', 'version'), fc.nat(), fc.integer({ min: 1, max: 255 }),
        (key, value, put, version, field, at, x) => {
          const v = put ? Buffer.from(value) : null;
          const m = record(key, v, version);
          expect(verifier.verify(m).ok).toBe(true);
          const h = m.headers as Record<string, string>;
          const changed: PolicyMessageParts =
            field === 'key' ? { ...m, key: flip(Buffer.from(key), at, x) }
            : field === 'value' ? { ...m, value: v === null ? Buffer.from([x]) : flip(v, at, x) }
            : field === 'op' ? { ...m, headers: { ...h, [POLICY_OP_HEADER]: flip(Buffer.from(h[POLICY_OP_HEADER]!), at, x).toString('latin1') } }
            : { ...m, headers: { ...h, [POLICY_VERSION_HEADER]: flip(Buffer.from(h[POLICY_VERSION_HEADER]!), at, x).toString('latin1') } };
          expect(verifier.verify(changed).ok).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a tampered signature is bad-signature when it names the pinned key; several pinned keys (a rotation) all verify', () => {
    const r = record('web', VALUE, 3);
    const h = r.headers as Record<string, string>;
    const sig = Buffer.from(h['policy-sig']!, 'base64');
    sig[5] = sig[5]! ^ 1;
    expect(verifier.verify({ ...r, headers: { ...h, 'policy-sig': sig.toString('base64') } })).toMatchObject({ ok: false, refused: 'bad-signature' });
    const b = pair();
    const both = new PolicyVerifier([a.publicKey, b.publicKey]);
    expect(both.verify(record('web', VALUE, 3, b.signer))).toMatchObject({ ok: true, signer: b.signer.publicKey });
    expect(both.verify(r)).toMatchObject({ ok: true, signer: a.signer.publicKey });
  });
});

describe('policy key files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pf-policy-key-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keygen writes a 0600 private key and its public key beside it, which sign and verify; it never overwrites', () => {
    const file = join(dir, 'policy.key');
    const made = writePolicyKeyPair(file);
    expect(made.publicFile).toBe(`${file}.pub`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const signer = loadPolicySigner(file);
    expect(signer.publicKey).toBe(made.publicKey);
    expect(loadPolicyVerifier(made.publicFile).verify({ key: 'x', value: null, headers: signer.headers('x', null, 1) }).ok).toBe(true);
    const before = readFileSync(file, 'utf8');
    expect(() => writePolicyKeyPair(file)).toThrow(/exists: refusing to overwrite/);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('refuses a private key others can read, and files with no key', () => {
    const file = join(dir, 'open.key');
    writePolicyKeyPair(file);
    chmodSync(file, 0o640);
    expect(() => loadPolicySigner(file)).toThrow(/mode 640, readable by others.*chmod 600/);
    writeFileSync(join(dir, 'empty.pub'), 'nothing\n');
    expect(() => loadPolicyVerifier(join(dir, 'empty.pub'))).toThrow(/no PEM public key/);
    expect(() => loadPolicyVerifier(join(dir, 'missing.pub'))).toThrow(/missing\.pub: ENOENT/);
  });
});
