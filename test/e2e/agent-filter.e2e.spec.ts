// In-kernel filters on this machine's real kernel (tracepoint mode, real tracefs, as root): the
// agent writes its `filter:` section into the event's filter file in its own instance, so
// transitions outside it are never recorded — the instance's own per-cpu counters (`read events`)
// show the kernel handed over only the matching ones. A hostile value is refused (exit 2) before
// tracefs is touched.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeEvent, type Event } from '@probefleet/events';

const REPO = path.resolve(__dirname, '..', '..');
const AGENT = path.join(REPO, 'apps/agent/dist/main.js');
const INSTANCES = '/sys/kernel/tracing/instances';
const ourInstances = () => fs.readdirSync(INSTANCES).filter((n) => n.startsWith('probefleet-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function server(): Promise<net.Server & { port: number }> {
  return new Promise((resolve) => {
    const s = net.createServer((c) => c.end());
    s.listen(0, '127.0.0.1', () => resolve(Object.assign(s, { port: (s.address() as net.AddressInfo).port })));
  });
}

const connectOnce = (port: number) =>
  new Promise<void>((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    c.on('error', reject);
    c.resume();
    c.on('close', () => resolve());
  });

/** Sum of a per-cpu `stats` counter of an instance. */
function statSum(instance: string, key: string): number {
  const dir = path.join(INSTANCES, instance, 'per_cpu');
  return fs.readdirSync(dir).reduce((n, cpu) => n + Number(new RegExp(`^${key}: (\\d+)`, 'm').exec(fs.readFileSync(path.join(dir, cpu, 'stats'), 'utf8'))?.[1] ?? 0), 0);
}

beforeAll(() => {
  if (!fs.existsSync(AGENT)) throw new Error(`${AGENT} missing: run \`npx nx build @probefleet/agent\` first`);
  if (process.geteuid?.() !== 0) throw new Error('needs root (tracefs)');
});

describe('probefleet-agent filter:, real kernel', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-filter-'));
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  it('transitions outside the filter never reach user space; the instance counts only the matching ones', async () => {
    const [kept, other] = [await server(), await server()];
    const config = path.join(work, 'agent.yaml');
    fs.writeFileSync(config, `mode: tracepoint\nfilter:\n  ports: [${kept.port}]\n  families: [AF_INET]\n`);
    const child = spawn(process.execPath, [AGENT, 'run', '--config', config, '--sink', 'stdout'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    try {
      for (let i = 0; !err.includes('"agent started"'); i++) {
        if (i > 150) throw new Error(`agent did not start:\n${err}`);
        await sleep(100);
      }
      const instance = JSON.parse(err.split('\n').find((l) => l.includes('"agent started"')) as string).instance as string;
      const dir = ourInstances().find((n) => n.endsWith(instance)) as string;
      expect(fs.readFileSync(path.join(INSTANCES, dir, 'events/sock/inet_sock_set_state/filter'), 'utf8').trim()).toBe(
        `(sport == ${kept.port} || dport == ${kept.port}) && family == 2`,
      );
      for (let i = 0; i < 20; i++) await connectOnce(other.port);
      for (let i = 0; i < 5; i++) await connectOnce(kept.port);
      const hitsOf = () => out.split('\n').filter((l) => l.includes('"type":"probe.hit"'));
      for (let i = 0, n = -1; i < 50 && hitsOf().length !== n; i++) {
        n = hitsOf().length;
        await sleep(300);
      }
      const hits = hitsOf().map((l) => {
        const d = decodeEvent(l);
        if (!d.ok) throw new Error(`invalid line ${l}`);
        return (d.value as Extract<Event, { type: 'probe.hit' }>).data.args as { sport: number; dport: number };
      });
      // 5 connections × ~10 transitions, all on the kept port; none of the 20 others.
      expect(hits.length).toBeGreaterThanOrEqual(40);
      expect(hits.filter((h) => h.sport !== kept.port && h.dport !== kept.port)).toEqual([]);
      // The kernel itself handed over only what matched: nothing else entered the ring buffer.
      expect(statSum(dir, 'read events')).toBe(hits.length);
      expect(statSum(dir, 'entries')).toBe(0);
    } finally {
      child.kill('SIGTERM');
      await exited;
      kept.close();
      other.close();
    }
  }, 60_000);

  it('a hostile filter value is refused (exit 2) before tracefs is touched', () => {
    const before = ourInstances();
    const config = path.join(work, 'hostile.yaml');
    fs.writeFileSync(config, 'mode: tracepoint\nfilter:\n  ports: [80]\n  families: ["AF_INET) || (1"]\n');
    const r = spawnSync(process.execPath, [AGENT, 'run', '--config', config, '--sink', 'stdout'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('filter.families[0]');
    expect(r.stdout).toBe('');
    expect(ourInstances()).toEqual(before);
  });
});
