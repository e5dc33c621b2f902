// A PostgreSQL 15 cluster of a test's own, for tests that restart or reconfigure the server: initdb
// into a temp directory, its own port and socket directory, trust auth, started, restarted and
// stopped with pg_ctl, removed afterwards. The machine's shared cluster on 5432 is never touched
// (other engineers use it). Run as the postgres user: initdb and postgres refuse root.
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const BIN = '/usr/lib/postgresql/15/bin';

export interface PrivatePostgresOptions {
  /** Extra postgresql.conf lines (paths relative to the data directory). */
  conf?: string[];
  /** pg_hba.conf in full (default: initdb's, trust for local and loopback). */
  hba?: string;
  /** Files copied into the data directory before the start, the postgres user's and 0600 (a TLS key). */
  files?: Record<string, string>;
}

export interface PrivatePostgres {
  port: number;
  /** The cluster's directory: data/, the socket, server.log. */
  dir: string;
  /** postgresql://postgres@127.0.0.1:<port>/<database>. */
  url(database?: string): string;
  /** pg_ctl restart -m fast: every connection drops; resolves when the server accepts again. */
  restart(): Promise<void>;
  /** Stops the server (fast) and removes its directory; never throws. */
  remove(): void;
}

const pgCtlArgs = (cmd: string, args: string[]) => ['-u', 'postgres', '--', path.join(BIN, cmd), ...args];
const asPostgres = (cmd: string, args: string[]) => execFileSync('runuser', pgCtlArgs(cmd, args), { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export async function startPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'probefleet-pg-'));
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'server.log');
  // -l on every start and restart: without it the server would keep pg_ctl's stdout (our pipe) open.
  const ctl = (action: string, extra: string[] = []) => ['-D', data, '-l', log, '-w', '-t', '60', ...extra, action];
  execFileSync('chown', ['postgres:postgres', dir]);
  const remove = () => {
    try {
      if (fs.existsSync(path.join(data, 'postmaster.pid'))) asPostgres('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
    } catch {
      // best effort: the directory still goes
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync']);
    for (const [name, from] of Object.entries(options.files ?? {})) {
      const to = path.join(data, name);
      fs.copyFileSync(from, to);
      execFileSync('chown', ['postgres:postgres', to]);
      fs.chmodSync(to, 0o600);
    }
    const port = await freePort();
    fs.appendFileSync(
      path.join(data, 'postgresql.conf'),
      [`port = ${port}`, "listen_addresses = '127.0.0.1'", `unix_socket_directories = '${dir}'`, 'fsync = off', ...(options.conf ?? []), ''].join('\n'),
    );
    if (options.hba !== undefined) fs.writeFileSync(path.join(data, 'pg_hba.conf'), options.hba);
    asPostgres('pg_ctl', ctl('start'));
    return {
      port,
      dir,
      url: (database = 'postgres') => `postgresql://postgres@127.0.0.1:${port}/${database}`,
      restart: async () => void (await promisify(execFile)('runuser', pgCtlArgs('pg_ctl', ctl('restart', ['-m', 'fast'])), { timeout: 120_000 })),
      remove,
    };
  } catch (err) {
    const tail = fs.existsSync(log) ? `\n${fs.readFileSync(log, 'utf8').slice(-2000)}` : '';
    remove();
    throw new Error(`private PostgreSQL cluster: ${(err as Error).message}${tail}`);
  }
}
