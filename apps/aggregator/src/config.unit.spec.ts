import { ConfigError, loadConfig, loadDatabaseUrl } from './config';

describe('loadConfig', () => {
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

describe('loadDatabaseUrl (export, rebuild, migrate)', () => {
  it('checks DATABASE_URL as serve does, with the same default, and ignores the rest', () => {
    expect(loadDatabaseUrl({})).toBe('postgresql://postgres@127.0.0.1:5432/probefleet');
    expect(loadDatabaseUrl({ DATABASE_URL: 'postgres://u@db:5432/x', PORT: 'eighty' })).toBe('postgres://u@db:5432/x');
    expect(() => loadDatabaseUrl({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL: expected a postgresql:\/\/ URL/);
  });
});
