// PostgreSQL over TLS for real: a throwaway cluster (ssl=on, TLS-only pg_hba, a certificate of a CA
// made here) that the aggregator migrates and serves from with DATABASE_URL sslmode=verify-full and
// sslrootcert naming the CA; with another CA's file it fails, saying the certificate is untrusted.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { tempDir } from '../support/agent-kafka';
import { AGGREGATOR, startAggregator, whenReady } from '../support/aggregator';
import { makeCa, type Ca } from '../support/tls';
import { startTlsPostgres, type TlsPostgres } from '../support/tls-postgres';

jest.setTimeout(120_000);

let ca: Ca;
let otherCa: Ca;
let pg: TlsPostgres | undefined;
const dir = tempDir('pg-tls-ca-');

const migrate = (url: string) =>
  promisify(execFile)(process.execPath, [AGGREGATOR, 'migrate'], { env: { ...process.env, DATABASE_URL: url }, timeout: 60_000 })
    .then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);

beforeAll(async () => {
  ca = makeCa(path.join(dir, 'right'), 'probefleet-pg-ca');
  otherCa = makeCa(path.join(dir, 'other'), 'not-the-pg-ca');
  pg = await startTlsPostgres(ca);
  const admin = new Client({ connectionString: pg.url('postgres', ca.cert) });
  await admin.connect();
  await admin.query('CREATE DATABASE probefleet');
  await admin.end();
});

afterAll(() => {
  pg?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('DATABASE_URL with sslmode=verify-full', () => {
  it('with the CA that signed the server: migrates, serves, and the session is TLS', async () => {
    const url = pg!.url('probefleet', ca.cert);
    expect(await migrate(url)).toMatchObject({ code: 0 });
    const agg = await startAggregator({ DATABASE_URL: url, KAFKA_TOPIC: 'unused-pg-tls', CONSUMER_ENABLED: 'false' });
    try {
      await whenReady(agg);
      expect(await agg.get('/api/v1/agents')).toMatchObject({ items: [] });
    } finally {
      await agg.stop(10_000);
    }
    const c = new Client({ connectionString: url });
    await c.connect();
    const { rows } = await c.query('SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    await c.end();
    expect(rows[0]).toMatchObject({ ssl: true, version: expect.stringMatching(/^TLSv1\.[23]$/) });
  });

  it("with another CA's file: refused, the message naming the untrusted certificate", async () => {
    const r = await migrate(pg!.url('probefleet', otherCa.cert));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/PostgreSQL TLS: the server's certificate is not signed by the CA in sslrootcert/);
  });

  it('a plaintext connection is refused by the TLS-only server (the test cluster really is TLS-only)', async () => {
    const r = await migrate(`postgresql://postgres@127.0.0.1:${pg!.port}/probefleet?sslmode=disable`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no pg_hba\.conf entry .* no encryption/);
  });
});
