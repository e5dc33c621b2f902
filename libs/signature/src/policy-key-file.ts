// The policy signing keys on disk: the aggregator's private key (PKCS#8 PEM, mode 0600 or stricter:
// whoever reads it can make every agent register kprobes) and the agents' pinned public keys (SPKI
// PEM; a file may hold several, one after the other, for a rotation). `writePolicyKeyPair` is
// `probefleet policy keygen FILE`: FILE and FILE.pub, never over an existing file.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { PolicySigner, PolicyVerifier } from './policy-signature';
import { publicKeyText } from './signature';

/** The signer of the key in `file`; throws naming the file when it is readable by others or no Ed25519 private key. */
export function loadPolicySigner(file: string): PolicySigner {
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  if (mode & 0o077) throw new Error(`${file}: mode ${mode.toString(8)}, readable by others (whoever reads it can sign policies); chmod 600 it`);
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not a PEM private key (${(e as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${file}: expected an Ed25519 private key, got ${key.asymmetricKeyType}`);
  return new PolicySigner(key);
}

const PEM_BLOCK = /-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g;

/** The verifier of the public keys in `file` (each an SPKI PEM block); throws naming the file. */
export function loadPolicyVerifier(file: string): PolicyVerifier {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  const blocks = text.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) throw new Error(`${file}: no PEM public key (-----BEGIN PUBLIC KEY-----) in it`);
  const keys = blocks.map((pem, i) => {
    try {
      const k = createPublicKey(pem);
      if (k.asymmetricKeyType !== 'ed25519') throw new Error(`expected Ed25519, got ${k.asymmetricKeyType}`);
      return k;
    } catch (e) {
      throw new Error(`${file}: key ${i + 1}: ${(e as Error).message}`);
    }
  });
  return new PolicyVerifier(keys);
}

/** Writes a new key pair: `file` (private, 0600) and `file`.pub (public); refuses to overwrite either. */
export function writePolicyKeyPair(file: string): { privateFile: string; publicFile: string; publicKey: string } {
  const publicFile = `${file}.pub`;
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const write = (path: string, text: string, mode: number) => {
    let fd: number;
    try {
      fd = openSync(path, 'wx', mode); // wx: never over an existing key
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(code === 'EEXIST' ? `${path} exists: refusing to overwrite a key (move it away first)` : `${path}: ${(e as Error).message}`);
    }
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
  };
  write(file, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 0o600);
  try {
    write(publicFile, publicKey.export({ format: 'pem', type: 'spki' }) as string, 0o644);
  } catch (e) {
    unlinkSync(file); // no private key without its public half
    throw e;
  }
  return { privateFile: file, publicFile, publicKey: publicKeyText(publicKey) };
}
