// Fleet policy records on the control topic, signed by the aggregator and checked by every agent, so
// that a producer who can write to the topic cannot make agents register kprobes of its choosing.
// The signature is Ed25519 (node:crypto: the agent's single executable loads no addon) over a
// domain tag, then the Kafka key, the value (a presence byte first: a tombstone is not an empty
// value; an empty one is a tombstone too), the op and the version, each length-prefixed so no field can slide into another. Headers:
//   policy-op       put | delete (a delete is a tombstone: null value, so compaction still drops it)
//   policy-version  the store's version of the policy (decimal): an agent refuses one older than
//                   the newest it has verified (a replayed record)
//   policy-sig      base64 of the 64-byte signature
//   policy-sig-key  the signer's public key text (base64url, 43 characters): which pinned key to
//                   report; never trusted alone (every pinned key is tried)
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { POLICY_REFUSALS } from '@probefleet/events';
import { publicKeyText } from './signature';

export const POLICY_SIGNATURE_DOMAIN = 'probefleet-policy-v1';
export const POLICY_OP_HEADER = 'policy-op';
export const POLICY_VERSION_HEADER = 'policy-version';
export const POLICY_SIG_HEADER = 'policy-sig';
export const POLICY_SIG_KEY_HEADER = 'policy-sig-key';

export type PolicyOp = 'put' | 'delete';
/** Why a record is refused (the agent's metric label and its policy.rejected `refused`: @probefleet/events POLICY_REFUSALS). */
export type PolicyRefusal = (typeof POLICY_REFUSALS)[number];

type HeaderValue = string | Buffer | Uint8Array | (string | Buffer)[] | undefined;
/** A control topic message as either Kafka client gives it, or as the agent's cache keeps it. */
export interface PolicyMessageParts {
  key: string | Buffer | null;
  value: Uint8Array | null;
  headers?: object | undefined;
}

export type PolicyVerdict = { ok: true; op: PolicyOp; version: number; signer: string } | { ok: false; refused: PolicyRefusal; message: string };

const VERSION_TEXT = /^[1-9][0-9]{0,15}$/;

const headerText = (m: PolicyMessageParts, name: string): string | undefined => {
  let v = (m.headers as Record<string, HeaderValue> | undefined)?.[name];
  if (Array.isArray(v)) v = v[0];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : Buffer.from(v).toString('utf8');
};

const asBytes = (v: string | Uint8Array): Buffer => (typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength));

/** The bytes the signature covers. */
export function policySignedBytes(key: string | Uint8Array, value: Uint8Array | null, op: string, version: string): Buffer {
  const parts: Buffer[] = [Buffer.from(`${POLICY_SIGNATURE_DOMAIN}\0`)];
  const part = (b: Buffer) => {
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(b.byteLength);
    parts.push(len, b);
  };
  part(asBytes(key));
  parts.push(Buffer.from([value === null ? 0 : 1]));
  part(value === null ? Buffer.alloc(0) : asBytes(value));
  part(Buffer.from(op));
  part(Buffer.from(version));
  return Buffer.concat(parts);
}

/** The aggregator's signing key (PKCS#8 PEM Ed25519; policy-key-file.ts reads it from disk). */
export class PolicySigner {
  readonly publicKey: string;

  constructor(private readonly privateKey: KeyObject) {
    if (privateKey.asymmetricKeyType !== 'ed25519' || privateKey.type !== 'private') throw new Error(`expected an Ed25519 private key, got ${privateKey.asymmetricKeyType} ${privateKey.type}`);
    this.publicKey = publicKeyText(createPublicKey(privateKey));
  }

  /** The headers of a record: a put (its value) or a delete (a tombstone: value null). */
  headers(key: string, value: Buffer | null, version: number): Record<string, string> {
    const op: PolicyOp = value === null ? 'delete' : 'put';
    const v = String(version);
    if (!VERSION_TEXT.test(v)) throw new Error(`policy version ${v}: expected a positive integer`);
    const signature = sign(null, policySignedBytes(key, value, op, v), this.privateKey).toString('base64');
    return { [POLICY_OP_HEADER]: op, [POLICY_VERSION_HEADER]: v, [POLICY_SIG_HEADER]: signature, [POLICY_SIG_KEY_HEADER]: this.publicKey };
  }
}

const short = (k: string) => `${k.slice(0, 10)}…`;

/** The agents' check: signed by one of the pinned public keys (several during a key rotation). */
export class PolicyVerifier {
  private readonly keys: { key: KeyObject; text: string }[];

  constructor(publicKeys: readonly KeyObject[]) {
    if (publicKeys.length === 0) throw new Error('no public key to verify policies with');
    this.keys = publicKeys.map((key) => {
      if (key.asymmetricKeyType !== 'ed25519') throw new Error(`expected an Ed25519 public key, got ${key.asymmetricKeyType}`);
      return { key, text: publicKeyText(key) };
    });
  }

  /** The pinned keys' texts. */
  get publicKeys(): string[] {
    return this.keys.map((k) => k.text);
  }

  /** Whether `m` is a record the aggregator signed, with its op and version (the replay check is the caller's). */
  verify(m: PolicyMessageParts): PolicyVerdict {
    const sig = headerText(m, POLICY_SIG_HEADER);
    if (sig === undefined) return { ok: false, refused: 'unsigned', message: `unsigned (no ${POLICY_SIG_HEADER} header): agents apply only records the aggregator signed` };
    const op = headerText(m, POLICY_OP_HEADER);
    const version = headerText(m, POLICY_VERSION_HEADER);
    const value = m.value === null || m.value.byteLength === 0 ? null : m.value;
    if (op !== 'put' && op !== 'delete') return { ok: false, refused: 'malformed', message: `${POLICY_OP_HEADER} header: expected put or delete, got ${JSON.stringify(op ?? null)}` };
    if (version === undefined || !VERSION_TEXT.test(version) || !Number.isSafeInteger(Number(version))) {
      return { ok: false, refused: 'malformed', message: `${POLICY_VERSION_HEADER} header: expected a positive integer, got ${JSON.stringify(version ?? null)}` };
    }
    if ((op === 'put') !== (value !== null)) return { ok: false, refused: 'malformed', message: op === 'put' ? 'a put with no value' : 'a delete with a value (a delete is a tombstone)' };
    const signature = Buffer.from(sig, 'base64');
    const signer = headerText(m, POLICY_SIG_KEY_HEADER) ?? '';
    const pinned = this.keys.find((k) => k.text === signer);
    if (signature.length === 64) {
      const bytes = policySignedBytes(m.key ?? '', value, op, version);
      // Every pinned key: the sig-key header only names the signer, it is not trusted.
      for (const k of this.keys) if (verify(null, bytes, k.key, signature)) return { ok: true, op, version: Number(version), signer: k.text };
    }
    if (pinned === undefined) {
      return { ok: false, refused: 'foreign-key', message: `signed by ${signer === '' ? 'an unnamed key' : short(signer)}, not by a pinned key (policies.publicKeyFile: ${this.keys.map((k) => short(k.text)).join(', ')})` };
    }
    return { ok: false, refused: 'bad-signature', message: `the signature does not verify with the pinned key ${short(pinned.text)}: altered or forged` };
  }
}
