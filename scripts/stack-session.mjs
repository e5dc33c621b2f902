// The local stack as shared by `npm start` and `npm test` (and several of them at once, from any
// checkout on this machine): each run joins as a session, starts what is not running (the Kafka
// broker, the PostgreSQL system service) and, when it leaves, stops only what a session started and
// only once no other session is still using it. A stack that was already running (`npm run
// stack:up`, another checkout's broker, a PostgreSQL kept up by the system) is left running.
//
// State lives in $TMPDIR/probefleet-stack-<Kafka port>: sessions/<pid> (one per live run) and started-<service>
// (which checkout started that service, so the last session out can stop it with that checkout's script).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const stateDir = join(tmpdir(), `probefleet-stack-${Number(process.env.KAFKA_PORT || 9092)}`);
const sessionsDir = join(stateDir, 'sessions');
const marker = (service) => join(stateDir, `started-${service}`);

export const databaseUrl = () => process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/probefleet';
const kafkaPort = () => Number(process.env.KAFKA_PORT || 9092);

/** Resolves true when something accepts TCP connections on host:port within a second. */
export function portOpen(host, port) {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 });
    const done = (ok) => (socket.destroy(), resolve(ok));
    socket.once('connect', () => done(true)).once('timeout', () => done(false)).once('error', () => done(false));
  });
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
};

/** Runs a command to its end, output shown; resolves to its exit code (or the signal/error that ended it). */
export function run(cmd, args, options = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: 'inherit', ...options });
    child.on('error', (err) => resolve(err.message));
    child.on('exit', (code, signal) => resolve(signal ?? code));
  });
}

/** A process's command line ('' when it is gone or unreadable). */
const commandLine = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
};

/** The pid `kafka.sh status` names (a broker this or another checkout started), or null. */
function brokerPid(repo, home) {
  return new Promise((resolve) => {
    let out = '';
    const child = spawn('bash', [join(repo, 'deploy/kafka/kafka.sh'), 'status'], {
      stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, ...(home ? { KAFKA_HOME_DIR: home } : {}) },
    });
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.on('error', () => resolve(null));
    child.on('exit', () => resolve(Number(/running \(pid (\d+)\)/.exec(out)?.[1]) || null));
  });
}

export class StackSession {
  /**
   * @param repo this checkout (its deploy/ scripts start the broker)
   * @param say  progress lines
   * @param step runs a set-up command and fails the caller's way when it exits non-zero
   */
  constructor(repo, say = console.log, step = undefined) {
    this.repo = repo;
    this.say = say;
    this.step = step ?? (async (what, cmd, args) => {
      const code = await run(cmd, args, { cwd: repo });
      if (code !== 0) throw new Error(`${what} failed (${typeof code === 'number' ? `exit ${code}` : code})`);
    });
    this.joined = false;
  }

  join() {
    mkdirSync(sessionsDir, { recursive: true });
    writeFileSync(join(sessionsDir, String(process.pid)), `${this.repo}\n`);
    this.joined = true;
  }

  /** PostgreSQL answering at DATABASE_URL, its database created; the local system service started if it was down. */
  async postgres() {
    if (!this.joined) this.join();
    const url = new URL(databaseUrl());
    const port = Number(url.port || 5432);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const local = ['127.0.0.1', 'localhost', '::1'].includes(host);
    if (local && !(await portOpen(host, port))) {
      if (process.geteuid?.() !== 0) throw new Error(`PostgreSQL does not answer on ${url.host} and only root can start its system service`);
      this.say(`PostgreSQL does not answer on ${url.host}: starting the system service`);
      // `service` is systemctl where systemd runs and the init script where it does not (containers).
      await this.step('starting PostgreSQL', 'service', ['postgresql', 'start']);
      writeFileSync(marker('postgresql'), `${this.repo}\n`);
      for (let i = 0; i < 60 && !(await portOpen(host, port)); i++) await new Promise((r) => setTimeout(r, 500));
    }
    await this.step('PostgreSQL', process.execPath, ['deploy/postgres/ensure-db.cjs']);
  }

  /** Kafka answering with the events topic; the local broker started unless one answers (or KAFKA_BROKERS names a cluster). */
  async kafka() {
    if (!this.joined) this.join();
    if (process.env.KAFKA_BROKERS) {
      this.say(`[kafka] KAFKA_BROKERS=${process.env.KAFKA_BROKERS}: the local broker is left alone`);
    } else if (await portOpen('127.0.0.1', kafkaPort())) {
      this.say(`[kafka] already running on 127.0.0.1:${kafkaPort()}: used, and left running`);
    } else {
      this.say(`no Kafka on 127.0.0.1:${kafkaPort()}: starting the local broker`);
      await this.step('starting Kafka', 'bash', ['deploy/kafka/kafka.sh', 'start']);
      const pid = await brokerPid(this.repo, process.env.KAFKA_HOME_DIR);
      writeFileSync(marker('kafka'), JSON.stringify({ repo: this.repo, home: process.env.KAFKA_HOME_DIR ?? null, pid }));
    }
    await this.step('Kafka', process.execPath, ['deploy/kafka/ensure-topic.cjs']);
  }

  /** Leaves; the last session out stops what sessions started. Never throws: it runs on the way out. */
  leave() {
    // One leave for every caller (a signal and the normal way out may both ask).
    return (this.leaving ??= this.joined ? this.#leave() : Promise.resolve());
  }

  async #leave() {
    rmSync(join(sessionsDir, String(process.pid)), { force: true });
    const others = readdirSync(sessionsDir).map(Number).filter((pid) => pid !== process.pid && alive(pid));
    const started = ['kafka', 'postgresql'].filter((s) => existsSync(marker(s)));
    if (started.length === 0) return;
    if (others.length > 0) {
      this.say(`leaving ${started.join(' and ')} running: still used by pid ${others.join(', ')}`);
      return;
    }
    if (started.includes('kafka')) {
      const { repo, home, pid } = JSON.parse(readFileSync(marker('kafka'), 'utf8'));
      // The process a session started, or one restarted since from the same home (the fault tests
      // stop and start the broker); a broker of another home (another checkout's) is theirs.
      const now = await brokerPid(repo, home);
      if (now !== null && (now === pid || commandLine(now).includes(`${home ?? join(repo, '.run', 'kafka')}/`))) {
        this.say('stopping the Kafka broker a session started...');
        await run('bash', [join(repo, 'deploy/kafka/kafka.sh'), 'stop'], { env: { ...process.env, ...(home ? { KAFKA_HOME_DIR: home } : {}) } });
      } else {
        this.say('leaving Kafka running: the broker a session started was replaced by another checkout\'s');
      }
    }
    if (started.includes('postgresql')) {
      this.say('stopping the PostgreSQL service a session started...');
      await run('service', ['postgresql', 'stop']);
    }
    for (const s of started) rmSync(marker(s), { force: true });
  }
}
