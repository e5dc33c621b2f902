// A throwaway PostgreSQL 15 cluster for the TLS test (a private cluster,
// apps/aggregator/test/private-postgres.ts): ssl=on with a certificate of a throwaway CA, and
// TLS-only access (hostssl lines alone in pg_hba.conf: a plaintext connection is refused). The
// system cluster on 5432 is never touched.
import { startPrivatePostgres } from '../../apps/aggregator/test/private-postgres';
import { issueServerCert, type Ca } from './tls';

export interface TlsPostgres {
  port: number;
  /** A DATABASE_URL for `database` with sslmode=verify-full and sslrootcert=`caFile`. */
  url(database: string, caFile: string): string;
  stop(): void;
}

export async function startTlsPostgres(ca: Ca): Promise<TlsPostgres> {
  const server = issueServerCert(ca, 'postgres');
  // In the data directory, the postgres user's and 0600: the server refuses a key others can read.
  const pg = await startPrivatePostgres({
    files: { 'server.crt': server.cert, 'server.key': server.key },
    conf: ['ssl = on', "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'"],
    hba: 'local all all trust\nhostssl all all 127.0.0.1/32 trust\n',
  });
  return {
    port: pg.port,
    url: (database, caFile) => `${pg.url(database)}?sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}`,
    stop: () => pg.remove(),
  };
}
