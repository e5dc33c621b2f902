import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chmodSync } from 'node:fs';
import { writePolicyKeyPair } from '@probefleet/signature';
import { ConfigError, loadConfig, loadDatabaseUrl } from './config';

describe('loadConfig', () => {
  it('refuses a POLICY_SIGNING_KEY_FILE others can read, or one that is missing, naming the variable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pf-policy-key-'));
    try {
      const file = join(dir, 'policy.key');
      writePolicyKeyPair(file);
      expect(loadConfig({ POLICY_SIGNING_KEY_FILE: file }).POLICY_SIGNING_KEY_FILE).toBe(file);
      chmodSync(file, 0o644);
      expect(() => loadConfig({ POLICY_SIGNING_KEY_FILE: file })).toThrow(/POLICY_SIGNING_KEY_FILE: .*mode 644, readable by others.*chmod 600/);
      expect(() => loadConfig({ POLICY_SIGNING_KEY_FILE: join(dir, 'nope') })).toThrow(/POLICY_SIGNING_KEY_FILE: .*ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has working defaults for the local stack', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/probefleet',
      KAFKA_BROKERS: ['127.0.0.1:9092'],
      KAFKA_TOPIC: 'probefleet.events.v1',
      PORT: 8080,
      API_TOKENS: [],
    });
  });

  it('splits lists and reads flags', () => {
    const c = loadConfig({ KAFKA_BROKERS: 'a:9092, b:9093', API_TOKENS: 's1,s2', KAFKA_SSL: 'true' });
    expect(c.KAFKA_BROKERS).toEqual(['a:9092', 'b:9093']);
    expect(c.API_TOKENS).toEqual(['s1', 's2']);
    expect(c.KAFKA_SSL).toBe(true);
  });

  it('names every bad variable', () => {
    expect(() => loadConfig({ PORT: 'eighty', KAFKA_BROKERS: 'nohostport', DATABASE_URL: 'mysql://x' })).toThrow(ConfigError);
    try {
      loadConfig({ PORT: 'eighty', KAFKA_BROKERS: 'nohostport', DATABASE_URL: 'mysql://x' });
    } catch (err) {
      expect((err as Error).message).toMatch(/PORT: /);
      expect((err as Error).message).toMatch(/KAFKA_BROKERS\.0: expected host:port/);
      expect((err as Error).message).toMatch(/DATABASE_URL: expected a postgresql:\/\/ URL/);
    }
  });

  it('wants credentials with a SASL mechanism', () => {
    expect(() => loadConfig({ KAFKA_SASL_MECHANISM: 'plain' })).toThrow(/KAFKA_SASL_USERNAME: KAFKA_SASL_MECHANISM needs/);
  });
});

describe('the API fails closed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pf-tokens-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses an open API on a non-loopback HOST, naming the bind and the variables', () => {
    expect(() => loadConfig({ HOST: '0.0.0.0' })).toThrow(/refusing to serve an open API on HOST=0\.0\.0\.0.*API_TOKENS, API_TOKENS_FILE.*API_OPEN=true/);
  });

  it.each(['127.0.0.1', '127.1.2.3', '::1', 'localhost'])('serves open on loopback %s', (HOST) => {
    expect(loadConfig({ HOST }).API_TOKENS).toEqual([]);
  });

  it('serves open off loopback only with API_OPEN=true, or with a token', () => {
    expect(loadConfig({ HOST: '0.0.0.0', API_OPEN: 'true' }).API_OPEN).toBe(true);
    expect(loadConfig({ HOST: '0.0.0.0', API_ADMIN_TOKENS: 'adm' }).API_ADMIN_TOKENS).toEqual(['adm']);
  });

  it('reads tokens from files, one per line, beside the listed ones; read and admin apart', () => {
    writeFileSync(join(dir, 'read'), 'r1\n\n# a comment\n  r2  \n');
    writeFileSync(join(dir, 'admin'), 'a1\n');
    const c = loadConfig({ HOST: '0.0.0.0', API_TOKENS: 'r0', API_TOKENS_FILE: join(dir, 'read'), API_ADMIN_TOKENS_FILE: join(dir, 'admin') });
    expect(c.API_TOKENS).toEqual(['r0', 'r1', 'r2']);
    expect(c.API_ADMIN_TOKENS).toEqual(['a1']);
  });

  it('names a token file it cannot read, or one with no token', () => {
    expect(() => loadConfig({ API_TOKENS_FILE: join(dir, 'missing') })).toThrow(/API_TOKENS_FILE: cannot read .*missing/);
    writeFileSync(join(dir, 'empty'), '\n# none\n');
    expect(() => loadConfig({ API_ADMIN_TOKENS_FILE: join(dir, 'empty') })).toThrow(/API_ADMIN_TOKENS_FILE: .*holds no token/);
  });
});

describe('loadDatabaseUrl (export, rebuild, migrate)', () => {
  it('checks DATABASE_URL as serve does, with the same default, and ignores the rest', () => {
    expect(loadDatabaseUrl({})).toBe('postgresql://postgres@127.0.0.1:5432/probefleet');
    expect(loadDatabaseUrl({ DATABASE_URL: 'postgres://u@db:5432/x', PORT: 'eighty' })).toBe('postgres://u@db:5432/x');
    expect(() => loadDatabaseUrl({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL: expected a postgresql:\/\/ URL/);
  });
});
