import { createHash, createPrivateKey, sign } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateSigner, parsePublicKey, prepareCheck, Signer, verifies, Verifier, VerifyPool, type KeyBook, type PinnedKey, type SignedParts } from './index';

const message = (host: string, value = '[{"seq":1}]'): SignedParts => ({
  key: host, value: Buffer.from(value), headers: { v: '1', host, instance: '00000000-0000-4000-8000-000000000001', 'seq-first': '1', 'seq-last': '1' },
});
const signed = (s: Signer, m: SignedParts): SignedParts => ({ ...m, headers: { ...m.headers, ...s.headers(m) } });

class MemoryBook implements KeyBook {
  readonly keys = new Map<string, PinnedKey>();
  async get(host: string) {
    return this.keys.get(host) ?? null;
  }
  async pinFirst(host: string, publicKey: string) {
    if (!this.keys.has(host)) this.keys.set(host, { publicKey, source: 'tofu' });
    return this.keys.get(host)!;
  }
}

describe('Signer and verifies', () => {
  const a = Signer.generate();
  it('verifies what it signed, with its own public key text only', async () => {
    const m = signed(a, message('h1'));
    expect(verifies(m, parsePublicKey(a.publicKey)!)).toBe(true);
    expect(verifies(m, parsePublicKey(Signer.generate().publicKey)!)).toBe(false);
  });

  it.each([
    ['the key', (m: SignedParts) => ({ ...m, key: 'h2' })],
    ['the value', (m: SignedParts) => ({ ...m, value: Buffer.from('[{"seq":2}]') })],
    ['a seq header', (m: SignedParts) => ({ ...m, headers: { ...m.headers, 'seq-last': '9' } })],
    ['the host header', (m: SignedParts) => ({ ...m, headers: { ...m.headers, host: 'h2' } })],
  ])('refuses a message whose %s changed', async (_what, change) => {
    expect(verifies(change(signed(a, message('h1'))), parsePublicKey(a.publicKey)!)).toBe(false);
  });

  it("still verifies the first agents' v1 signatures (SHA-512, bare base64); a flipped prefix fails either way", async () => {
    const signer = Signer.generate();
    const m = message('h1');
    // v1 as the first agents wrote it: the length-prefixed parts after the v1 domain tag, SHA-512.
    const h = createHash('sha512').update('probefleet batch signature v1\0');
    const headers = m.headers as Record<string, string>;
    for (const part of [m.key as string, m.value!, ...['v', 'host', 'instance', 'seq-first', 'seq-last'].map((n) => headers[n]!)]) {
      const b = Buffer.from(part);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      h.update(len).update(b);
    }
    const v1 = sign(null, h.digest(), createPrivateKey(signer.toPem())).toString('base64');
    const key = parsePublicKey(signer.publicKey)!;
    expect(verifies({ ...m, headers: { ...headers, sig: v1, 'sig-key': signer.publicKey } }, key)).toBe(true);
    expect(verifies({ ...m, headers: { ...headers, sig: `v2:${v1}` } }, key)).toBe(false);
    const v2 = signed(signer, m);
    expect((v2.headers as Record<string, string>)['sig']).toMatch(/^v2:/);
    expect(verifies({ ...v2, headers: { ...v2.headers, sig: (v2.headers as Record<string, string>)['sig']!.slice(3) } }, key)).toBe(false);
  });

  it('spells public keys as 43 base64url characters and refuses anything else', () => {
    expect(a.publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(parsePublicKey('not a key')).toBeNull();
    expect(parsePublicKey(`${a.publicKey}\nx`)).toBeNull();
  });
});

describe('loadOrCreateSigner', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pf-identity-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('makes a 0600 key on first use, and reads the same one after', () => {
    const file = join(dir, 'state', 'identity.key');
    const first = loadOrCreateSigner(file);
    expect(first.created).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = loadOrCreateSigner(file);
    expect(again).toMatchObject({ created: false, signer: { publicKey: first.signer.publicKey } });
  });

  it('refuses a key others can read', () => {
    const file = join(dir, 'open.key');
    loadOrCreateSigner(file);
    chmodSync(file, 0o644);
    expect(() => loadOrCreateSigner(file)).toThrow(/mode 644, readable by others; chmod 600/);
  });
});

describe('VerifyPool', () => {
  const pool = new VerifyPool(3);
  afterAll(() => pool.close());

  it('answers each check in order across its workers, as verifies() does on this thread', async () => {
    const a = Signer.generate();
    const key = parsePublicKey(a.publicKey)!;
    const ms = Array.from({ length: 10 }, (_, i) => {
      const m = signed(a, message(`h${i}`));
      return i % 3 === 0 ? { ...m, key: 'other' } : m;
    });
    const ok = await pool.verify(ms.map((m) => prepareCheck(m, key)!));
    expect(ok).toEqual(ms.map((m) => verifies(m, key)));
    expect(ok.filter(Boolean)).toHaveLength(6);
  });

  it('starts another worker after one dies, and fails only the checks that were in it', async () => {
    const a = Signer.generate();
    const check = prepareCheck(signed(a, message('h1')), parsePublicKey(a.publicKey)!)!;
    expect(await pool.verify([check])).toEqual([true]);
    await pool.close();
    expect(await pool.verify([check, check])).toEqual([true, true]);
  });
});

describe('Verifier', () => {
  const pool = new VerifyPool(2);
  afterAll(() => pool.close());

  const h1 = Signer.generate();
  const h2 = Signer.generate();

  it('off: reads no signature', async () => {
    expect(await new Verifier('off', new MemoryBook(), { pool }).check(message('h1'))).toBeNull();
  });

  it('tofu: pins the first valid key of a host, then refuses another host key for it', async () => {
    const book = new MemoryBook();
    const v = new Verifier('tofu', book, { pool });
    expect(await v.check(signed(h1, message('h1')))).toBeNull();
    expect(book.keys.get('h1')).toEqual({ publicKey: h1.publicKey, source: 'tofu' });
    expect(await v.check(signed(h2, message('h2')))).toBeNull();
    expect(await v.check(signed(h2, message('h1')))).toMatch(/^signed by .*, not by the tofu key of host "h1"/);
    expect(await v.check(message('h1'))).toMatch(/^unsigned/);
  });

  it('tofu: a batch checks its signatures at once, and pins by the first valid message in its order', async () => {
    const book = new MemoryBook();
    const forged = { ...signed(h2, message('h4')), value: Buffer.from('[{"seq":9}]') };
    const batch = [forged, signed(h2, message('h4')), signed(h1, message('h4')), message('h4'), signed(h2, message('h4'))];
    const reasons = await new Verifier('tofu', book, { pool }).checkAll(batch);
    expect(reasons[0]).toMatch(/does not verify/);
    expect(reasons[1]).toBeNull();
    expect(reasons[2]).toMatch(/^signed by .*, not by the tofu key of host "h4"/);
    expect(reasons[3]).toMatch(/^unsigned/);
    expect(reasons[4]).toBeNull();
    expect(book.keys.get('h4')).toEqual({ publicKey: h2.publicKey, source: 'tofu' });
  });

  it('tofu: a forged signature pins nothing', async () => {
    const book = new MemoryBook();
    const m = signed(h1, message('h3'));
    expect(await new Verifier('tofu', book, { pool }).check({ ...m, value: Buffer.from('[{"seq":7}]') })).toMatch(/does not verify/);
    expect(book.keys.has('h3')).toBe(false);
  });

  it('strict: only enrolled keys; a rotation is seen at once by the key that now signs', async () => {
    const book = new MemoryBook();
    const v = new Verifier('strict', book, { pool });
    expect(await v.check(signed(h1, message('h1')))).toMatch(/has no enrolled key/);
    book.keys.set('h1', { publicKey: h1.publicKey, source: 'enrolled' });
    expect(await v.check(signed(h1, message('h1')))).toBeNull();
    const rotated = Signer.generate();
    book.keys.set('h1', { publicKey: rotated.publicKey, source: 'enrolled' });
    expect(await v.check(signed(rotated, message('h1')))).toBeNull();
    expect(await v.check(signed(h1, message('h1')))).toMatch(/not by the enrolled key/);
    book.keys.set('h2', { publicKey: h2.publicKey, source: 'tofu' });
    expect(await v.check(signed(h2, message('h2')))).toMatch(/has no enrolled key/);
  });
});
