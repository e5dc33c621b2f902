// A Kafka message's signature: Ed25519 over a digest of its Kafka key, its value and its stream
// headers (v, host, instance, seq-first, seq-last), each length-prefixed after a domain tag (so no
// field can slide into another, and no other use of the key can be replayed as a batch).
// Ed25519 one-shot signing would hash a 512 KiB value twice and needs it in one buffer; the
// digest is hashed once, streamed from the parts without a copy, and the sign is over the digest.
// Two headers carry it: `sig` and `sig-key` (the signer's public key: the aggregator pins or looks
// up the host's key and compares, it never trusts this header alone).
// `sig` is `v2:` + base64 of the signature over a SHA-256 digest (what agents write), or bare
// base64 over SHA-512 (v1, the first agents'; still verified). v2 because hashing the value is most
// of the cost for a loaded agent's large messages, and SHA-256 runs on the CPUs' SHA extensions:
// 1.5 GB/s against SHA-512's 0.4 on the test machine (bench/results/signature.json). An attacker
// who flips the prefix only makes the check use the other digest, which then fails.
// Agents sign with node:crypto (OpenSSL; their single executable loads no addon). The aggregator
// verifies with libsodium (sodium-native): 47 µs a check against OpenSSL's 108 on the test machine,
// which is what lets small messages (a fleet's ~11 events each) stay within the ingest budget
// (bench/results/ingest.json). libsodium is also the stricter of the two (canonical S, no
// small-order keys): a signature OpenSSL makes always passes it.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

export const SIGNATURE_HEADER = 'sig';
export const SIGNER_HEADER = 'sig-key';
/** The headers signed besides key and value, in this order (@probefleet/events linesHeaders). */
export const SIGNED_HEADERS = ['v', 'host', 'instance', 'seq-first', 'seq-last'] as const;
const DIGESTS = {
  v1: { hash: 'sha512', domain: Buffer.from('probefleet batch signature v1\0') },
  v2: { hash: 'sha256', domain: Buffer.from('probefleet batch signature v2\0') },
} as const;
type SignatureVersion = keyof typeof DIGESTS;
const V2_PREFIX = 'v2:';

type HeaderValue = string | Buffer | Uint8Array | (string | Buffer)[] | undefined;
export interface SignedParts {
  key: string | Buffer | null;
  value: Uint8Array | null;
  /** Kafka headers (any object of header values: kafkajs' IHeaders, @probefleet/events' BatchHeaders). */
  headers?: object | undefined;
}

const header = (m: SignedParts, name: string): HeaderValue => (m.headers as Record<string, HeaderValue> | undefined)?.[name];

const bytes = (v: HeaderValue | null): Uint8Array => {
  if (v === null || v === undefined) return Buffer.alloc(0);
  if (Array.isArray(v)) return bytes(v[0]);
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
};

function digest(m: SignedParts, version: SignatureVersion): Buffer {
  const { hash, domain } = DIGESTS[version];
  const h = createHash(hash).update(domain);
  const part = (b: Uint8Array) => {
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(b.byteLength);
    h.update(len).update(b);
  };
  part(bytes(m.key));
  part(bytes(m.value));
  for (const name of SIGNED_HEADERS) part(bytes(header(m, name)));
  return h.digest();
}

/** A public key as the headers and the API spell it: the raw 32 bytes, base64url (43 characters). */
export const publicKeyText = (k: KeyObject): string => k.export({ format: 'jwk' }).x as string;

const PUBLIC_KEY_TEXT = /^[A-Za-z0-9_-]{43}$/;
/** The raw 32 bytes of the key `text` spells, or null when it is not an Ed25519 public key's text. */
export function parsePublicKey(text: string): Buffer | null {
  if (!PUBLIC_KEY_TEXT.test(text)) return null;
  try {
    createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: text }, format: 'jwk' });
    return Buffer.from(text, 'base64url');
  } catch {
    return null;
  }
}

interface Sodium { crypto_sign_verify_detached(sig: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean }
let sodium: Sodium | undefined;
// Loaded on the first check, so that the agent, which only signs, never loads the addon (its
// single executable leaves it out: deploy/systemd/build-agent-binary.sh).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const libsodium = (): Sodium => (sodium ??= require('sodium-native') as Sodium);

export class Signer {
  readonly publicKey: string;

  constructor(private readonly privateKey: KeyObject) {
    this.publicKey = publicKeyText(createPublicKey(privateKey));
  }

  static generate(): Signer {
    return new Signer(generateKeyPairSync('ed25519').privateKey);
  }

  static fromPem(pem: string): Signer {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`expected an Ed25519 private key, got ${key.asymmetricKeyType}`);
    return new Signer(key);
  }

  toPem(): string {
    return this.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  }

  /** The two headers to add to `m` (whose headers must already hold the signed ones). */
  headers(m: SignedParts): Record<string, string> {
    return { [SIGNATURE_HEADER]: V2_PREFIX + sign(null, digest(m, 'v2'), this.privateKey).toString('base64'), [SIGNER_HEADER]: this.publicKey };
  }
}

/** The signer's key text a message names, or null when it carries no (well-formed) signature. */
export function signerOf(m: SignedParts): string | null {
  const key = header(m, SIGNER_HEADER);
  const sig = header(m, SIGNATURE_HEADER);
  if (key === undefined || sig === undefined) return null;
  return Buffer.from(bytes(key)).toString('utf8');
}

/** What checking `m`'s signature takes: the signature, the digest it signs, the key to check with. */
export interface PreparedCheck { signature: Buffer; digest: Buffer; publicKey: Uint8Array }

/** The check of `m` against `publicKey` (parsePublicKey's raw bytes), or null when its signature is malformed. */
export function prepareCheck(m: SignedParts, publicKey: Uint8Array): PreparedCheck | null {
  const text = Buffer.from(bytes(header(m, SIGNATURE_HEADER))).toString('utf8');
  const version: SignatureVersion = text.startsWith(V2_PREFIX) ? 'v2' : 'v1';
  const signature = Buffer.from(version === 'v2' ? text.slice(V2_PREFIX.length) : text, 'base64');
  if (signature.length !== 64 || publicKey.length !== 32) return null;
  return { signature, digest: digest(m, version), publicKey };
}

/** Whether `m`'s signature is `publicKey`'s over its key, value and stream headers (on this thread; VerifyPool off it). */
export function verifies(m: SignedParts, publicKey: Uint8Array): boolean {
  const c = prepareCheck(m, publicKey);
  return c !== null && libsodium().crypto_sign_verify_detached(c.signature, c.digest, c.publicKey);
}
