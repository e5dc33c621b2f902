import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, parseConfig } from './config';

const probe = (over: Record<string, unknown> = {}, arg: Record<string, unknown> = {}) => ({
  name: 'conn',
  symbol: 'tcp_v4_connect',
  args: [{ name: 'sk', fetch: '%di', type: 'x64', ...arg }],
  ...over,
});

function refusal(raw: unknown): string {
  try {
    parseConfig(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('config was accepted');
}

describe('config', () => {
  it('requires policies.publicKeyFile when policies are enabled', () => {
    expect(refusal({ policies: { enabled: true } })).toMatch(/policies\.publicKeyFile: required when policies\.enabled is true/);
    expect(parseConfig({ policies: { enabled: true, publicKeyFile: '/etc/probefleet/policy.pub' } }).policies).toEqual({ enabled: true, topic: 'probefleet.policies.v1', publicKeyFile: '/etc/probefleet/policy.pub' });
    expect(parseConfig({}).policies.enabled).toBe(false);
    const env = { PROBEFLEET_POLICIES_ENABLED: 'true', PROBEFLEET_POLICIES_PUBLIC_KEY_FILE: '/k.pub', PROBEFLEET_POLICIES_TOPIC: 'p' };
    expect(loadConfig({ env }).policies).toEqual({ enabled: true, topic: 'p', publicKeyFile: '/k.pub' });
  });

  it('applies defaults and accepts a valid user probe', () => {
    const cfg = parseConfig({ probes: [probe({ offset: 4 })] });
    expect(cfg).toMatchObject({ mode: 'auto', sink: 'kafka', format: 'json', statsIntervalS: 1, heartbeatIntervalS: 30 });
    expect(cfg.spool).toEqual({ dir: '/var/lib/probefleet/spool', maxBytes: 256 << 20, segmentBytes: 16 << 20, fsync: 'batch' });
    expect(cfg.metrics).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(cfg.identity).toEqual({ sign: true });
    expect(parseConfig({ identity: { sign: false } }).identity.sign).toBe(false);
    expect(cfg.host.length).toBeGreaterThan(0);
    expect(cfg.probes[0]).toEqual({ name: 'conn', symbol: 'tcp_v4_connect', offset: 4, args: [{ name: 'sk', fetch: '%di', type: 'x64' }] });
  });

  it.each([
    ['newline in a symbol', { probes: [probe({ symbol: 'tcp_v4_connect\np:evil/x do_exit' })] }, 'probes[0].symbol: '],
    ['newline in a fetch arg', { probes: [probe({}, { fetch: '%di\n-:probefleet/tcp_set_state' })] }, 'probes[0].args[0].fetch: '],
    ['space in a probe name', { probes: [probe({ name: 'my probe' })] }, 'probes[0].name: '],
    ['space in an arg name', { probes: [probe({}, { name: 'a b' })] }, 'probes[0].args[0].name: '],
    ['unknown type', { probes: [probe({}, { type: 'u7' })] }, 'probes[0].args[0].type: '],
    ['unknown register', { probes: [probe({}, { fetch: '%zz' })] }, 'probes[0].args[0].fetch: '],
    ['extra argument smuggled in a type', { probes: [probe({}, { type: 'u8 x=%ax' })] }, 'probes[0].args[0].type: '],
    ['the agent\'s own probe name', { probes: [probe({ name: 'tcp_set_state' })] }, 'probes[0].name: '],
    ['duplicate probe names', { probes: [probe(), probe()] }, 'probes[1].name: duplicate'],
    ['negative offset', { probes: [probe({ offset: -1 })] }, 'probes[0].offset: '],
    ['unknown key', { probes: [probe({ sym: 'x' })] }, 'probes[0]: '],
    ['unknown mode', { mode: 'ebpf' }, 'mode: '],
  ])('refuses %s, naming the field', (_why, raw, field) => {
    expect(refusal(raw)).toContain(field);
  });

  it('layers file < env < flags and refuses bad YAML values with the file name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-config-'));
    try {
      const file = join(dir, 'agent.yaml');
      writeFileSync(file, 'host: from-file\nmode: kprobe\nformat: text\n');
      const cfg = loadConfig({ file, env: { PROBEFLEET_MODE: 'tracepoint', PROBEFLEET_HOST: 'from-env' }, flags: { mode: 'auto', format: undefined } });
      expect(cfg).toMatchObject({ host: 'from-env', mode: 'auto', format: 'text' });
      writeFileSync(file, 'probes:\n  - name: x\n    symbol: "a\\nb"\n');
      expect(() => loadConfig({ file })).toThrow(/agent\.yaml[\s\S]*probes\[0\]\.symbol: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('merges kafka, spool and metrics settings from the file and PROBEFLEET_* key by key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-config-'));
    try {
      const file = join(dir, 'agent.yaml');
      writeFileSync(file, 'kafka:\n  brokers: [a:9092]\n  topic: t1\n  lingerMs: 5\nspool:\n  dir: /tmp/s\n  fsync: always\n');
      const cfg = loadConfig({
        file,
        env: {
          PROBEFLEET_KAFKA_BROKERS: 'b:9092, c:9093',
          PROBEFLEET_KAFKA_SASL_MECHANISM: 'scram-sha-512',
          PROBEFLEET_KAFKA_SASL_USERNAME: 'u',
          PROBEFLEET_KAFKA_SASL_PASSWORD: 'p',
          PROBEFLEET_KAFKA_SSL: 'true',
          PROBEFLEET_SPOOL_MAX_BYTES: '65536',
          PROBEFLEET_METRICS_PORT: '0',
        },
      });
      expect(cfg.kafka).toMatchObject({ brokers: ['b:9092', 'c:9093'], topic: 't1', lingerMs: 5, ssl: true, sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' } });
      expect(cfg.spool).toMatchObject({ dir: '/tmp/s', fsync: 'always', maxBytes: 65536 });
      expect(cfg.metrics.port).toBe(0);
      expect(() => loadConfig({ env: { PROBEFLEET_SPOOL_MAX_BYTES: 'lots' } })).toThrow(/spool\.maxBytes: /);
      expect(() => loadConfig({ env: { PROBEFLEET_KAFKA_SASL_MECHANISM: 'kerberos', PROBEFLEET_KAFKA_BROKERS: 'x:1' } })).toThrow(/kafka\.sasl\.mechanism: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a hostile config before anything touches a (fake) tracefs tree', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-fake-tracefs-'));
    try {
      mkdirSync(join(dir, 'instances'));
      writeFileSync(join(dir, 'kprobe_events'), '');
      writeFileSync(join(dir, 'available_events'), 'sock:inet_sock_set_state\n');
      const file = join(dir, 'agent.yaml');
      writeFileSync(file, `tracefs: ${dir}\nprobes:\n  - name: x\n    symbol: tcp_v4_connect\n    args: [{ name: a, fetch: "%di\\np:evil/x do_exit", type: u64 }]\n`);
      expect(() => loadConfig({ file })).toThrow(/probes\[0\]\.args\[0\]\.fetch: /);
      expect(readFileSync(join(dir, 'kprobe_events'), 'utf8')).toBe('');
      expect(readdirSync(join(dir, 'instances'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
