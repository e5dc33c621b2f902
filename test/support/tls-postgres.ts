// A second, throwaway PostgreSQL 15 cluster for the TLS test: initdb into a directory under /tmp,
// its own port, ssl=on with a certificate of a throwaway CA, and TLS-only access (hostssl lines
// alone in pg_hba.conf: a plaintext connection is refused). Run as the postgres user (initdb
// refuses root). The system cluster on 5432 is never touched.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './agent-kafka';
import { freePort } from './loopback';
import { issueServerCert, type Ca } from './tls';

const BIN = '/usr/lib/postgresql/15/bin';

export interface TlsPostgres {
  port: number;
  /** A DATABASE_URL for `database` with sslmode=verify-full and sslrootcert=`caFile`. */
  url(database: string, caFile: string): string;
  stop(): void;
}

const asPostgres = (cmd: string, args: string[]) =>
  execFileSync('runuser', ['-u', 'postgres', '--', path.join(BIN, cmd), ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });

export async function startTlsPostgres(ca: Ca): Promise<TlsPostgres> {
  const dir = tempDir('pg-tls-');
  const data = path.join(dir, 'data');
  const server = issueServerCert(ca, 'postgres');
  execFileSync('chown', ['postgres:postgres', dir]);
  asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync']);
  // In the data directory, the postgres user's and 0600: the server refuses a key others can read.
  for (const [from, to] of [[server.cert, 'server.crt'], [server.key, 'server.key']] as const) {
    fs.copyFileSync(from, path.join(data, to));
    execFileSync('chown', ['postgres:postgres', path.join(data, to)]);
    fs.chmodSync(path.join(data, to), 0o600);
  }
  const port = await freePort();
  fs.appendFileSync(path.join(data, 'postgresql.conf'), [
    `port = ${port}`, "listen_addresses = '127.0.0.1'", `unix_socket_directories = '${dir}'`,
    'ssl = on', "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'", 'fsync = off', '',
  ].join('\n'));
  fs.writeFileSync(path.join(data, 'pg_hba.conf'), 'local all all trust\nhostssl all all 127.0.0.1/32 trust\n');
  asPostgres('pg_ctl', ['-D', data, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', 'start']);
  return {
    port,
    url: (database, caFile) => `postgresql://postgres@127.0.0.1:${port}/${database}?sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}`,
    stop: () => {
      asPostgres('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
