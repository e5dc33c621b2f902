// Throwaway certificate authorities for the TLS tests, made with openssl: a CA, and server
// certificates it signs for 127.0.0.1 / localhost (keys unencrypted PKCS#8, as Kafka's PEM keystore
// and PostgreSQL both take them). Everything lives in the directory given and dies with it.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Ca { dir: string; cert: string; key: string }
export interface ServerCert { cert: string; key: string; /** key then certificate, one PEM file (Kafka's PEM keystore). */ keystore: string }

const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });

export function makeCa(dir: string, name: string): Ca {
  fs.mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { dir, cert, key };
}

/** A certificate for this machine's loopback names, signed by `ca`. */
export function issueServerCert(ca: Ca, name: string): ServerCert {
  const base = path.join(ca.dir, name);
  const ext = `${base}.ext`;
  fs.writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', '/CN=127.0.0.1']);
  openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', `${base}.crt`, '-days', '2', '-extfile', ext]);
  fs.writeFileSync(`${base}.keystore.pem`, fs.readFileSync(`${base}.key`, 'utf8') + fs.readFileSync(`${base}.crt`, 'utf8'));
  return { cert: `${base}.crt`, key: `${base}.key`, keystore: `${base}.keystore.pem` };
}
