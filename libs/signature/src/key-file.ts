// An agent's (or a simulated host's) identity on disk: its Ed25519 private key as PKCS#8 PEM, mode
// 0600, made on first use. Written to a temporary name and renamed, so a crash never leaves half a
// key that the next start would refuse.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Signer } from './signature';

export function loadOrCreateSigner(file: string): { signer: Signer; created: boolean } {
  if (existsSync(file)) {
    const mode = statSync(file).mode & 0o777;
    // Another user able to read the key could sign as this host.
    if (mode & 0o077) throw new Error(`${file}: mode ${mode.toString(8)}, readable by others; chmod 600 it`);
    return { signer: Signer.fromPem(readFileSync(file, 'utf8')), created: false };
  }
  const signer = Signer.generate();
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, signer.toPem(), { mode: 0o600, flag: 'wx' });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return { signer, created: true };
}
