// The agent as one executable (Node single executable application) runs without the repository:
// built by `npm run build:agent-binary` on Node 24 LTS, copied alone to a temp dir, it answers
// `doctor --json`, and traces this kernel: a refused loopback connect comes out of its stdout sink,
// while its metrics say which Node it embeds; and with KAFKA_CLIENT=platformatic (ESM bundled into
// the CommonJS executable) it publishes a whole stream to the real broker.
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decodeEvent, type Event } from '@probefleet/events';
import { brokers, freshTopic, readTopic, seqCoverage, streamOf } from '../support/agent-kafka';
import { deleteTopic } from '../support/stack';
import { REFUSED, freePort, refusedConnect } from '../support/loopback';

const run = promisify(execFile);
const repo = join(__dirname, '..', '..');

describe('single-file agent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'probefleet-binary-'));
  const alone = join(dir, 'probefleet-agent');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('builds, and runs doctor --json away from the repository', async () => {
    const built = join(dir, 'build', 'probefleet-agent');
    await run('bash', [join(repo, 'deploy/systemd/build-agent-binary.sh'), built], { cwd: repo, timeout: 300000 });
    copyFileSync(built, alone);
    expect(statSync(alone).mode & 0o111).not.toBe(0);

    const { stdout } = await run(alone, ['doctor', '--json'], { cwd: dir, timeout: 30000 });
    const report = JSON.parse(stdout) as { kernelRelease: string; tracefs: string | null; btf: { present: boolean } };
    expect(report.kernelRelease).toMatch(/^\d+\.\d+/);
    expect(report.tracefs).toBe('/sys/kernel/tracing');
    expect(report.btf.present).toBe(true);
    const version = await run(alone, ['--version'], { cwd: dir });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('traces this kernel on the Node 24 it embeds: a refused connect, then a clean stop', async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const agent = spawn(alone, ['run', '--sink', 'stdout', '--format', 'json', '--duration', '8'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PROBEFLEET_METRICS_PORT: String(metricsPort) },
    });
    const events: Event[] = [];
    let partial = '';
    let stderr = '';
    let seen = () => {};
    agent.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    agent.stdout.setEncoding('utf8').on('data', (d: string) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        const r = decodeEvent(l);
        if (!r.ok) throw new Error(`the binary printed an invalid event: ${l}`);
        events.push(r.value);
      }
      seen();
    });
    const exit = new Promise<number | null>((resolve) => agent.on('close', resolve));
    const until = (pred: () => boolean) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the binary did not get there; stderr:\n${stderr}`)), 20000);
        seen = () => pred() && (clearTimeout(timer), resolve());
        seen();
      });
    await until(() => events.some((e) => e.type === 'probe.armed'));

    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/probefleet_agent_build_info\{version="[^"]+",node="v24\./);

    await refusedConnect('127.0.0.1', port);
    const ours = () =>
      events.flatMap((e) => {
        const a = e.type === 'probe.hit' ? (e.data.args as { dport?: number; oldstate: string; newstate: string }) : undefined;
        return a?.dport === port ? [`${a.oldstate.replace('TCP_', '')}->${a.newstate.replace('TCP_', '')}`] : [];
      });
    await until(() => ours().length >= REFUSED.length);
    expect(ours()).toEqual(REFUSED);

    expect(await exit).toBe(0);
    expect(events.map((e) => e.type)).toContain('agent.stopped');
  });

  it('publishes with KAFKA_CLIENT=platformatic from the executable: a whole stream, in order, on the broker', async () => {
    const topic = await freshTopic('binary-platformatic');
    try {
      const run = promisify(execFile)(alone, ['run', '--sink', 'kafka', '--duration', '3'], {
        cwd: dir,
        timeout: 60000,
        env: { ...process.env, KAFKA_CLIENT: 'platformatic', PROBEFLEET_KAFKA_BROKERS: brokers().join(','), PROBEFLEET_KAFKA_TOPIC: topic, PROBEFLEET_SPOOL_DIR: join(dir, 'spool'), PROBEFLEET_METRICS_PORT: '0' },
      });
      await run;
      const got = await readTopic(topic, (d) => d.some((x) => x.event.type === 'agent.stopped'), 30000);
      const stream = streamOf(got, got[0]!.event.instance);
      expect(stream[0]?.type).toBe('agent.started');
      expect(stream[stream.length - 1]?.type).toBe('agent.stopped');
      expect(seqCoverage(stream)).toEqual({ last: stream.length, missing: [], duplicates: 0, inOrder: true });
    } finally {
      await deleteTopic(topic);
    }
  });
});
