// The aggregator's configuration, from the environment, validated once at start-up: a bad variable
// stops the service with a message naming it, instead of failing later somewhere deep.
import { readFileSync } from 'node:fs';
import { POLICY_TOPIC } from '@probefleet/policy';
import { loadPolicySigner } from '@probefleet/signature';
import { z } from 'zod';
import { DEFAULT_DATABASE_URL } from './store/database-url';
import type { RetentionPolicy } from './store/partitions';

const list = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));
const flag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const databaseUrl = z.string().regex(/^postgres(?:ql)?:\/\//, 'expected a postgresql:// URL').default(DEFAULT_DATABASE_URL);

export const AggregatorEnvSchema = z
  .object({
    DATABASE_URL: databaseUrl,
    KAFKA_BROKERS: list.pipe(z.array(z.string().regex(/^[^\s:]+:\d+$/, 'expected host:port')).min(1)).default(['127.0.0.1:9092']),
    KAFKA_TOPIC: z.string().min(1).default('probefleet.events.v1'),
    KAFKA_GROUP_ID: z.string().min(1).default('probefleet-aggregator'),
    KAFKA_CLIENT_ID: z.string().min(1).default('probefleet-aggregator'),
    /** TLS to the brokers: true = the system CAs; KAFKA_SSL_CA_FILE (PEM) trusts a private CA and implies it. */
    KAFKA_SSL: flag.default(false),
    KAFKA_SSL_CA_FILE: z.string().min(1).optional(),
    KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
    KAFKA_SASL_USERNAME: z.string().min(1).optional(),
    KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
    /** How long the group waits for a silent member before giving its partitions to another. */
    KAFKA_SESSION_TIMEOUT_MS: z.coerce.number().int().min(6000).max(300000).default(30000),
    /**
     * The most one fetch takes of a partition: a batch, one transaction. Larger amortises the
     * projections' per-batch cost (throughput); smaller commits sooner (kernel-to-API latency).
     */
    KAFKA_MAX_BYTES_PER_PARTITION: z.coerce.number().int().min(64 * 1024).max(64 << 20).default(8 << 20),
    /** Batches of this many partitions are stored at once (each in its own transaction). */
    KAFKA_PARTITIONS_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(3),
    /** Create the topic at start-up when it is missing (local stacks; clusters usually manage topics). */
    KAFKA_CREATE_TOPIC: flag.default(true),
    KAFKA_TOPIC_PARTITIONS: z.coerce.number().int().min(1).max(10000).default(6),
    /** The compacted control topic the policies API publishes to (created at start-up with KAFKA_CREATE_TOPIC). */
    KAFKA_POLICY_TOPIC: z.string().min(1).default(POLICY_TOPIC),
    /**
     * The Ed25519 private key (PKCS#8 PEM, mode 0600 or stricter) every policy record is signed with
     * (`probefleet policy keygen FILE`); agents pin its public key. Unset: policy writes answer 503.
     */
    POLICY_SIGNING_KEY_FILE: z.string().min(1).optional(),
    /** Kafka messages larger than this are dead-lettered unread (kind oversize); the broker's default limit. */
    KAFKA_MAX_MESSAGE_BYTES: z.coerce.number().int().min(1024).max(256 << 20).default(1048588),
    /** Days of raw rows kept (transitions, generic events, closed connections); whole day partitions are dropped. */
    RETENTION_DAYS: z.coerce.number().int().min(1).max(36500).default(14),
    RETENTION_DAYS_TCP_TRANSITIONS: z.coerce.number().int().min(1).max(36500).optional(),
    RETENTION_DAYS_EVENTS: z.coerce.number().int().min(1).max(36500).optional(),
    RETENTION_DAYS_TCP_CONNECTIONS: z.coerce.number().int().min(1).max(36500).optional(),
    /** Days of per-minute/per-hour rollups kept (month partitions). */
    ROLLUP_RETENTION_DAYS: z.coerce.number().int().min(1).max(36500).default(400),
    /** Partitions are created this many days ahead. */
    PARTITIONS_AHEAD_DAYS: z.coerce.number().int().min(1).max(60).default(2),
    /**
     * A time partition's indexes are rebuilt packed (sealed, store/seals.ts) this long after its range
     * ended: the grace for late events, which would split the packed pages again.
     */
    PARTITION_SEAL_AFTER_HOURS: z.coerce.number().min(0).max(24 * 366).default(2),
    /** How often partitions are created ahead and expired ones dropped. */
    RETENTION_INTERVAL_S: z.coerce.number().int().min(1).max(86400).default(3600),
    /**
     * The retention clock: `wall` (this host's), or `data` (the event time the store has reached: the
     * oldest of the Kafka partitions' newest stored times; for replaying weeks of fleet time in fast
     * time, e.g. bench/retention; see store/store-clock.ts).
     */
    RETENTION_CLOCK: z.enum(['wall', 'data']).default('wall'),
    /**
     * Which agents' messages are stored: off (any; signatures unread), tofu (signed by the host's
     * first key seen), strict (signed by the host's key enrolled through PUT /api/v1/agents/{host}/key).
     * Refused messages are dead letters of kind bad-signature.
     */
    AGENT_IDENTITY: z.enum(['off', 'tofu', 'strict']).default('off'),
    /** Leave consumption off (API only), e.g. for a read replica of the API. */
    CONSUMER_ENABLED: flag.default(true),
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: z.coerce.number().int().min(0).max(65535).default(8080),
    /**
     * Bearer tokens that read the API (/healthz, /readyz, /metrics stay open). None at all (read nor
     * admin) opens the API, which is refused on a non-loopback HOST unless API_OPEN=true.
     */
    API_TOKENS: list.default([]),
    /** A file of read tokens, one per line (a mounted Secret); added to API_TOKENS. */
    API_TOKENS_FILE: z.string().min(1).optional(),
    /** Tokens that may also change things (enrol agent keys); they read too. Admin routes always need one. */
    API_ADMIN_TOKENS: list.default([]),
    API_ADMIN_TOKENS_FILE: z.string().min(1).optional(),
    /** Serve an API without tokens on a non-loopback HOST, knowingly. */
    API_OPEN: flag.default(false),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((env, ctx) => {
    if (env.KAFKA_SASL_MECHANISM && (!env.KAFKA_SASL_USERNAME || !env.KAFKA_SASL_PASSWORD)) {
      ctx.addIssue({ code: 'custom', path: ['KAFKA_SASL_USERNAME'], message: 'KAFKA_SASL_MECHANISM needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD' });
    }
  });

export type AggregatorConfig = z.infer<typeof AggregatorEnvSchema>;

/** Retention per table, overrides falling back to RETENTION_DAYS. */
export function retentionPolicy(c: AggregatorConfig): RetentionPolicy {
  return {
    days: {
      tcp_transitions: c.RETENTION_DAYS_TCP_TRANSITIONS ?? c.RETENTION_DAYS,
      events: c.RETENTION_DAYS_EVENTS ?? c.RETENTION_DAYS,
      tcp_connections: c.RETENTION_DAYS_TCP_CONNECTIONS ?? c.RETENTION_DAYS,
      tcp_rollups: c.ROLLUP_RETENTION_DAYS,
    },
  };
}

export class ConfigError extends Error {}

/** Reads the configuration from `env`, or throws one ConfigError listing every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AggregatorConfig {
  const config = parseEnv(AggregatorEnvSchema, env);
  const tokens = { ...config, API_TOKENS: withFile(config.API_TOKENS, 'API_TOKENS_FILE', config.API_TOKENS_FILE), API_ADMIN_TOKENS: withFile(config.API_ADMIN_TOKENS, 'API_ADMIN_TOKENS_FILE', config.API_ADMIN_TOKENS_FILE) };
  const open = tokens.API_TOKENS.length === 0 && tokens.API_ADMIN_TOKENS.length === 0;
  if (open && !isLoopback(tokens.HOST) && !tokens.API_OPEN) {
    throw new ConfigError(
      `refusing to serve an open API on HOST=${tokens.HOST}, which is not a loopback address: no API token is set ` +
        '(API_TOKENS, API_TOKENS_FILE, API_ADMIN_TOKENS, API_ADMIN_TOKENS_FILE); set one, or API_OPEN=true to serve it open knowingly');
  }
  if (tokens.POLICY_SIGNING_KEY_FILE) {
    try {
      loadPolicySigner(tokens.POLICY_SIGNING_KEY_FILE);
    } catch (err) {
      throw new ConfigError(`invalid configuration:\n  POLICY_SIGNING_KEY_FILE: ${(err as Error).message}`);
    }
  }
  return tokens;
}

/** The tokens of a file, one per line (blank lines and # comments skipped), after the listed ones. */
function withFile(listed: string[], name: string, file: string | undefined): string[] {
  if (!file) return listed;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`invalid configuration:\n  ${name}: cannot read ${file}: ${(err as Error).message}`);
  }
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length === 0) throw new ConfigError(`invalid configuration:\n  ${name}: ${file} holds no token`);
  return [...listed, ...lines];
}

/** 127.0.0.0/8, ::1 and localhost: only this machine can connect. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** DATABASE_URL alone, checked as `serve` checks it: for the commands that only need the store. */
export function loadDatabaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  return parseEnv(z.object({ DATABASE_URL: databaseUrl }), env).DATABASE_URL;
}

function parseEnv<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv): z.output<T> {
  // An empty variable means "not set", as in most deployment files.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(present);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`);
  throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
}
