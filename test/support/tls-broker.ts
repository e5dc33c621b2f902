// A second local broker, the SASL_SSL test profile of deploy/kafka/kafka.sh: its own home and ports
// (free ones), a SASL_SSL listener with SCRAM-SHA-512 users, certificates of a throwaway CA. The
// jars are the main broker's (KAFKA_LIB_DIR): no second download.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { REPO, tempDir } from './agent-kafka';
import { freePort } from './loopback';
import { issueServerCert, makeCa, type Ca } from './tls';

const KAFKA_SH = path.join(REPO, 'deploy/kafka/kafka.sh');

export interface TlsBroker {
  ca: Ca;
  /** host:port of the SASL_SSL listener. */
  saslSsl: string;
  /** host:port of the PLAINTEXT listener (set-up only: the test's clients use SASL_SSL). */
  plaintext: string;
  users: Record<string, string>;
  start(): void;
  stop(): void;
  /** A kafkajs client through SASL_SSL as `user`. */
  client(user: string): Kafka;
  remove(): void;
}

export async function tlsBroker(users: Record<string, string>): Promise<TlsBroker> {
  const home = tempDir('kafka-tls-');
  const ca = makeCa(path.join(home, 'pki'), 'probefleet-test-ca');
  const server = issueServerCert(ca, 'broker');
  const [port, controller, sasl] = [await freePort(), await freePort(), await freePort()];
  const env = {
    ...process.env,
    KAFKA_HOME_DIR: path.join(home, 'kafka'),
    KAFKA_LIB_DIR: path.join(REPO, '.run/kafka/lib'),
    KAFKA_PORT: String(port),
    KAFKA_CONTROLLER_PORT: String(controller),
    KAFKA_SASL_SSL_PORT: String(sasl),
    KAFKA_TLS_KEYSTORE: server.keystore,
    KAFKA_TLS_TRUSTSTORE: ca.cert,
    KAFKA_SCRAM_USERS: Object.entries(users).map(([u, p]) => `${u}=${p}`).join(' '),
    KAFKA_HEAP: '256m',
  };
  const run = (cmd: string) => void execFileSync('bash', [KAFKA_SH, cmd], { env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 180_000 });
  const saslSsl = `127.0.0.1:${sasl}`;
  return {
    ca,
    saslSsl,
    plaintext: `127.0.0.1:${port}`,
    users,
    start: () => run('start'),
    stop: () => run('stop'),
    client: (user) =>
      new Kafka({
        clientId: `tls-e2e-${user}`, brokers: [saslSsl], logLevel: logLevel.NOTHING, connectionTimeout: 3000, retry: { retries: 3 },
        ssl: { ca: [fs.readFileSync(ca.cert, 'utf8')] }, sasl: { mechanism: 'scram-sha-512', username: user, password: users[user]! },
      }),
    remove: () => fs.rmSync(home, { recursive: true, force: true }),
  };
}
