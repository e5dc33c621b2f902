import { certificateProblem } from '@probefleet/kafka';

/** Where PostgreSQL is when DATABASE_URL is not set: the local stack's database. */
export const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/probefleet';

/** A connection error's message, with a TLS certificate failure said in words (sslmode=verify-full). */
export function connectErrorMessage(err: unknown): string {
  const cert = certificateProblem(err);
  if (!cert) return (err as Error).message;
  const fix = cert.code === 'ERR_TLS_CERT_ALTNAME_INVALID' ? 'connect by a name the certificate has (verify-full checks it)' : 'sslrootcert must name the CA that signed it';
  return `PostgreSQL TLS: the server's certificate ${cert.why === 'is not signed by a trusted CA' ? 'is not signed by the CA in sslrootcert' : cert.why} (${cert.code}: ${cert.message}); ${fix}`;
}
