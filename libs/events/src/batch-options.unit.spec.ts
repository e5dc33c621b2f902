// What a consumer learns from decodeBatch besides the events: oversize values are refused before
// parsing, and a Kafka key that is not the events' host is a key-mismatch (both dead-lettered).
import { decodeBatch, encodeBatch, utf8Length } from './index';
import { SAMPLE_STREAM } from '../test/samples';

const value = encodeBatch(SAMPLE_STREAM);
const bytes = new TextEncoder().encode(value);

describe('decodeBatch options', () => {
  it('takes a value of exactly maxBytes and refuses one byte more, as text or bytes, without parsing', () => {
    expect(utf8Length(value)).toBe(bytes.byteLength);
    expect(decodeBatch(bytes, { maxBytes: bytes.byteLength }).ok).toBe(true);
    expect(decodeBatch(value, { maxBytes: bytes.byteLength }).ok).toBe(true);
    expect(decodeBatch(bytes, { maxBytes: bytes.byteLength - 1 })).toMatchObject({ ok: false, kind: 'oversize', field: '' });
    // Not JSON at all, yet oversize: the limit is checked first.
    expect(decodeBatch('x'.repeat(11), { maxBytes: 10 })).toMatchObject({ ok: false, kind: 'oversize' });
    expect(decodeBatch('é'.repeat(6), { maxBytes: 11 })).toMatchObject({ ok: false, kind: 'oversize', reason: '12 bytes, over the limit of 11' });
  });

  it("accepts the events' host as key, as text or bytes", () => {
    expect(decodeBatch(bytes, { key: 'web-1' }).ok).toBe(true);
    expect(decodeBatch(bytes, { key: new TextEncoder().encode('web-1') }).ok).toBe(true);
  });

  it('refuses another key, no key, and a key that is not UTF-8', () => {
    expect(decodeBatch(bytes, { key: 'web-2' })).toMatchObject({ ok: false, kind: 'key-mismatch', field: '[0].host', reason: '"web-1" is not the message key "web-2"' });
    expect(decodeBatch(bytes, { key: null })).toMatchObject({ ok: false, kind: 'key-mismatch', reason: '"web-1" is not the message key (none)' });
    expect(decodeBatch(bytes, { key: new Uint8Array([0xff]) })).toMatchObject({ ok: false, kind: 'key-mismatch', field: '' });
  });

  it('reports a malformed value as malformed even with a key (the key is checked on valid events only)', () => {
    expect(decodeBatch('[]', { key: 'web-1' })).toMatchObject({ ok: false, kind: 'malformed' });
  });

  it('checks no key unless asked', () => {
    expect(decodeBatch(bytes).ok).toBe(true);
    expect(decodeBatch(bytes, { maxBytes: 1 << 20 }).ok).toBe(true);
  });
});
