// How a Kafka client reaches the brokers (TLS, SASL), one builder for the agent, the aggregator and
// the simulator; and what a failed connection means, said in words: kafkajs reports an untrusted
// certificate as "unable to verify the first certificate" inside a retry error, and a plaintext
// client on a TLS port only as "Closed connection" (the broker reads our request as a bad TLS record
// and hangs up), which names no cause.
import { readFileSync } from 'node:fs';
import type { ClientConfig, SaslMechanism } from './types';

export interface TlsOptions { caFile?: string; certFile?: string; keyFile?: string; rejectUnauthorized?: boolean }
export type SaslOptions = { mechanism: SaslMechanism; username: string; password: string };

/** The client's `ssl` and `sasl` options: `ssl` true = the system CAs; PEM files are read here, once. */
export function kafkaSecurity(ssl: boolean | TlsOptions, sasl?: SaslOptions): Pick<ClientConfig, 'ssl' | 'sasl'> {
  const tls: ClientConfig['ssl'] =
    typeof ssl === 'boolean'
      ? ssl
      : {
          rejectUnauthorized: ssl.rejectUnauthorized ?? true,
          ...(ssl.caFile ? { ca: [readFileSync(ssl.caFile, 'utf8')] } : {}),
          ...(ssl.certFile ? { cert: readFileSync(ssl.certFile, 'utf8') } : {}),
          ...(ssl.keyFile ? { key: readFileSync(ssl.keyFile, 'utf8') } : {}),
        };
  return { ssl: tls, ...(sasl ? { sasl } : {}) };
}

/** Node's codes for a peer certificate that does not verify. */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
]);

interface Chained { name?: string; message?: string; code?: string; cause?: unknown; originalError?: unknown }

function chain(e: unknown): Chained[] {
  const out: Chained[] = [];
  for (let at = e as Chained | undefined; at && typeof at === 'object' && out.length < 8; at = (at.cause ?? at.originalError) as Chained | undefined) out.push(at);
  return out;
}

/**
 * Why a TLS peer's certificate did not verify, in words (`why`), with Node's code and message;
 * null when `e` (or its causes) is no such failure. Shared with the aggregator's PostgreSQL errors.
 */
export function certificateProblem(e: unknown): { why: string; code: string; message: string } | null {
  const cert = chain(e).find((x) => x.code && (UNTRUSTED.has(x.code) || x.code === 'CERT_HAS_EXPIRED' || x.code === 'ERR_TLS_CERT_ALTNAME_INVALID'));
  if (!cert) return null;
  const why = cert.code === 'CERT_HAS_EXPIRED' ? 'has expired' : cert.code === 'ERR_TLS_CERT_ALTNAME_INVALID' ? 'is not for this address' : 'is not signed by a trusted CA';
  return { why, code: cert.code!, message: cert.message ?? '' };
}

/**
 * One line naming why a connection to Kafka failed, or null when it is none of the causes we can
 * tell (the caller then logs the error as it is). `tls`/`sasl`: whether the client used them.
 */
export function explainKafkaError(e: unknown, used: { tls: boolean; sasl: boolean }): string | null {
  const errors = chain(e);
  const sasl = errors.find((x) => x.name === 'KafkaJSSASLAuthenticationError');
  if (sasl) return `Kafka SASL authentication failed: the broker refused the user name or password (${sasl.message})`;
  const cert = certificateProblem(e);
  if (cert) return `Kafka TLS: the broker's certificate ${cert.why} (${cert.code}: ${cert.message}); give the CA that signed it (ssl caFile / KAFKA_SSL_CA_FILE)`;
  if (errors.some((x) => x.code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long/.test(x.message ?? ''))) {
    return 'Kafka TLS: the broker did not answer in TLS: this looks like a plaintext listener; turn TLS off or use the TLS port';
  }
  if (errors.some((x) => /^Closed connection$/.test(x.message ?? ''))) {
    if (!used.tls) return 'Kafka: the broker closed the connection before answering: this looks like a TLS listener (SSL or SASL_SSL) reached in plaintext; turn TLS on (ssl)';
    if (!used.sasl) return 'Kafka: the broker closed the connection after TLS: the listener probably wants SASL (SASL_SSL); set the SASL mechanism and credentials';
  }
  return null;
}
