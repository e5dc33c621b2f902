// `npm start` itself, as a developer runs it: with the stack already up (as in CI) it must build,
// check the stack, migrate, start the aggregator and an agent on this host, show each step, print
// the API, a query to paste and where Grafana's files are; a loopback connection must come back
// through the API; Ctrl-C must stop everything it started — no process, tracing instance or port
// left — and leave alone the Kafka broker it did not start. Without root it must say what it needs.
// Ports, database, topic, consumer group and run directory are the test's own (start.mjs takes them
// from the environment), so a developer's running stack is not disturbed.
import { execFile, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { ourInstances, REPO, tempDir } from '../support/agent-kafka';
import { eventually } from '../support/aggregator';
import { echoThenCloseServer, exchangeOnce, freePort } from '../support/loopback';
import { alive, descendants, listening, npmStart, type NpmStart } from '../support/start';
import { databaseUrl, deleteTopic } from '../support/stack';

jest.setTimeout(60_000);

const HOST = os.hostname();
const KAFKA_PID_FILE = path.join(REPO, '.run/kafka/kafka.pid');
const suffix = randomUUID().replace(/-/g, '').slice(0, 10);
const topic = `start-e2e-${suffix}`;
const database = `probefleet_start_${suffix}`;
const dbUrl = (() => {
  const u = new URL(databaseUrl());
  u.pathname = `/${database}`;
  return u.toString();
})();
const runDir = tempDir('start-e2e-run-');

let port = 0;
let metricsPort = 0;
let kafkaPid: number | undefined;
let start: NpmStart | undefined;
let apiUrl = '';
let agentInstance = '';
/** What npm start had running, taken just before Ctrl-C. */
let running: { pid: number; cmd: string }[] = [];

async function onServer(sql: string): Promise<void> {
  const u = new URL(databaseUrl());
  u.pathname = '/postgres';
  const c = new Client({ connectionString: u.toString(), connectionTimeoutMillis: 5000 });
  await c.connect();
  await c.query(sql).finally(() => c.end());
}

beforeAll(async () => {
  if (process.geteuid?.() !== 0) throw new Error('needs root (npm start runs an agent)');
  [port, metricsPort] = [await freePort(), await freePort()];
  // The broker is up (globalSetup checked it); with the local one, know which process it is.
  kafkaPid = !process.env.KAFKA_BROKERS && fs.existsSync(KAFKA_PID_FILE) ? Number(fs.readFileSync(KAFKA_PID_FILE, 'utf8').trim()) : undefined;
});

afterAll(async () => {
  if (start !== undefined && start.child.exitCode === null && start.child.signalCode === null) {
    start.interrupt();
    const timer = setTimeout(() => process.kill(-(start!.child.pid as number), 'SIGKILL'), 40_000);
    await start.exit;
    clearTimeout(timer);
  }
  await onServer(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  await deleteTopic(topic);
  fs.rmSync(runDir, { recursive: true, force: true });
}, 60_000);

describe('npm start', () => {
  it('brings the pipeline up step by step, then prints the API URL, a query to paste and where Grafana is', async () => {
    start = npmStart({
      PORT: String(port),
      DATABASE_URL: dbUrl,
      KAFKA_TOPIC: topic,
      KAFKA_GROUP_ID: `start-e2e-${suffix}`,
      PROBEFLEET_METRICS_PORT: String(metricsPort),
      PROBEFLEET_RUN_DIR: runDir,
    });
    // The build is cached after `npm run build`; a cold one takes minutes on this machine.
    await start.waitFor(/Ctrl-C stops everything started here\./, 300_000);
    const out = start.output();
    const steps = [
      /\[1\] building/,
      /\[2\] local Kafka and PostgreSQL/,
      new RegExp(`created database "${database}"`),
      /\[3\] database migrations/,
      new RegExp(`\\[4\\] aggregator on http://127\\.0\\.0\\.1:${port} `),
      /\[5\] agent on this host/,
      /run mode +(kprobe|tracepoint)/, // the doctor's report
      /agent [0-9a-f-]{36} is tracing in (kprobe|tracepoint) mode/,
      /probefleet is running\./,
    ];
    let at = 0;
    for (const step of steps) {
      const m = step.exec(out.slice(at));
      if (m === null) throw new Error(`npm start output lacks ${step} after position ${at}:\n${out}`);
      at += m.index + m[0].length;
    }
    const [, instance, mode] = /agent ([0-9a-f-]{36}) is tracing in (kprobe|tracepoint) mode/.exec(out) as RegExpExecArray;
    agentInstance = instance as string;
    // kprobe mode where the kernel has kprobe events, else the tracepoint.
    expect(mode).toBe(fs.existsSync('/sys/kernel/tracing/kprobe_events') ? 'kprobe' : 'tracepoint');

    apiUrl = (/^ {2}API +(http:\/\/\S+)\/api\/v1 /m.exec(out) ?? [])[1] ?? '';
    expect(apiUrl).toBe(`http://127.0.0.1:${port}`);
    const grafana = (/^ {2}Grafana .* in (\S+?)\/? /m.exec(out) ?? [])[1] ?? '';
    expect(fs.readdirSync(grafana).length).toBeGreaterThan(0);
    // The broker was running before: npm start must not claim it.
    expect(out).toMatch(/\[kafka\] already running/);
  });

  it('a loopback connection comes back through the printed query and the API', async () => {
    const server = await echoThenCloseServer('127.0.0.1');
    await exchangeOnce('127.0.0.1', server.port, 'ping');
    await server.stop();
    // Client, accepted child and listener: three closed lifetimes on the port.
    const conns = await eventually('the connection in /api/v1/connections', 20_000, async () => {
      const res = await fetch(`${apiUrl}/api/v1/connections?port=${server.port}&state=closed`, { signal: AbortSignal.timeout(3000) });
      const body = (await res.json()) as { items: { host: string; sport: number; dport: number }[] };
      return body.items.length === 3 ? body.items : undefined;
    });
    expect(conns.every((c) => c.host === HOST)).toBe(true);
    const transitions = (await (await fetch(`${apiUrl}/api/v1/transitions?port=${server.port}&limit=100`)).json()) as { items: { instance: string }[] };
    expect(transitions.items.length).toBeGreaterThanOrEqual(10);
    expect(new Set(transitions.items.map((t) => t.instance))).toEqual(new Set([agentInstance]));

    // The ready-to-paste query, run as printed: the agent's transitions.
    const query = (/^ {2}try +(curl .+)$/m.exec(start!.output()) ?? [])[1] ?? '';
    expect(query).toContain(apiUrl);
    const { stdout } = await promisify(execFile)('sh', ['-c', query], { timeout: 10_000 });
    const page = JSON.parse(stdout) as { items: { host: string; instance: string }[] };
    expect(page.items.length).toBeGreaterThan(0);
    expect(page.items.every((t) => t.host === HOST && t.instance === agentInstance)).toBe(true);
  });

  it('Ctrl-C stops everything it started: exit 0, no process, instance or port left; Kafka still up', async () => {
    const npmPid = start!.child.pid as number;
    running = descendants(npmPid);
    const agent = running.find((p) => /agent\/dist\/main\.js run/.test(p.cmd));
    expect(agent).toBeDefined();
    expect(running.find((p) => /aggregator\/dist\/cli\.js serve/.test(p.cmd))).toBeDefined();
    expect(ourInstances().some((n) => n.startsWith(`probefleet-${agent!.pid}-`))).toBe(true);
    expect([await listening(port), await listening(metricsPort)]).toEqual([true, true]);

    start!.interrupt();
    const code = await start!.exit;
    // npm runs the script through `sh -c`: unless that shell execs node, the terminal's SIGINT kills
    // the shell at once, and npm exits on the signal while start.mjs is still stopping things.
    expect({ code, signal: start!.child.signalCode }).toEqual({ code: 0, signal: null });
    const out = start!.output();
    expect(out).toMatch(/stopping agent\.\.\.\n(.|\n)*stopping aggregator\.\.\./);
    expect(running.filter((p) => alive(p.pid))).toEqual([]);
    expect(ourInstances().filter((n) => n.startsWith(`probefleet-${agent!.pid}-`))).toEqual([]);
    expect([await listening(port), await listening(metricsPort)]).toEqual([false, false]);
    // The agent was stopped before the aggregator, which stored its last events.
    const c = new Client({ connectionString: dbUrl, connectionTimeoutMillis: 5000 });
    await c.connect();
    const { rows } = await c.query<{ stopped: boolean; probes: string }>(
      'SELECT stopped_at IS NOT NULL AS stopped, (SELECT count(*) FROM probes)::text AS probes FROM agents WHERE instance = $1', [agentInstance],
    ).finally(() => c.end());
    expect(rows).toEqual([{ stopped: true, probes: '0' }]);
    // The broker it found running is still running, the same process.
    expect(out).not.toMatch(/stopping the Kafka broker/);
    if (kafkaPid !== undefined) expect(alive(kafkaPid)).toBe(true);
    expect(execFileSync('bash', [path.join(REPO, 'deploy/kafka/kafka.sh'), 'status'], { encoding: 'utf8' })).toMatch(/running/);
  });

  it('without root: exits non-zero at once, saying it needs root and how to run it', async () => {
    const home = tempDir('start-e2e-nobody-');
    fs.chownSync(home, 65534, 65534);
    try {
      const nobodyRun = path.join(home, 'run');
      const asNobody = npmStart({ HOME: home, npm_config_cache: path.join(home, '.npm'), PROBEFLEET_RUN_DIR: nobodyRun }, [
        'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
      ]);
      const code = await asNobody.exit;
      expect(code).not.toBe(0);
      expect(asNobody.output()).toMatch(/npm start: needs root\./);
      expect(asNobody.output()).toMatch(/sudo npm start/);
      // Nothing was attempted: no step shown, not even its run directory made.
      expect(asNobody.output()).not.toMatch(/\[1\]/);
      expect(fs.existsSync(nobodyRun)).toBe(false);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
