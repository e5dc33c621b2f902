// The names the alert rules and the pipeline-health dashboard read, against what the two services
// really expose: the built aggregator (`probefleet serve`, on a fresh database and topic) and the
// built agent (a short tracepoint/kprobe run on this kernel, stdout sink) each serve /metrics here.
import { spawn } from 'node:child_process';
import { AGENT, REPO, freshTopic } from '../support/agent-kafka';
import { createMigratedDatabase, eventually, startAggregator, whenReady, type Aggregator, type TempDatabase } from '../support/aggregator';
import { freePort } from '../support/loopback';
import { deleteTopic } from '../support/stack';
import { alertRules, dashboardExprs, exposedNames, metricNames } from './promql';

/** Prometheus' own series for every target. */
const SYNTHETIC = new Set(['up']);

async function scrape(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return res.text();
}

describe('alert and dashboard metric names', () => {
  let db: TempDatabase;
  let topic: string;
  let aggregator: Aggregator;
  const exposed = new Set<string>(SYNTHETIC);

  beforeAll(async () => {
    db = await createMigratedDatabase();
    topic = await freshTopic('probefleet-metrics');
    aggregator = await startAggregator({ DATABASE_URL: db.url, KAFKA_TOPIC: topic });
    await whenReady(aggregator);
    for (const n of exposedNames(await scrape(`${aggregator.url}/metrics`))) exposed.add(n);

    const port = await freePort();
    const agent = spawn(process.execPath, [AGENT, 'run', '--sink', 'stdout', '--duration', '30'], {
      cwd: REPO,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, PROBEFLEET_METRICS_PORT: String(port) },
    });
    let stderr = '';
    agent.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise((resolve) => agent.on('close', resolve));
    try {
      const text = await eventually(`agent /metrics; stderr:\n${stderr}`, 20_000, () => scrape(`http://127.0.0.1:${port}/metrics`));
      for (const n of exposedNames(text)) exposed.add(n);
    } finally {
      agent.kill('SIGTERM');
      await exited;
    }
  });

  afterAll(async () => {
    await aggregator?.stop(10_000);
    await db?.drop();
    if (topic) await deleteTopic(topic);
  });

  it('finds both services under their own names', () => {
    expect([...exposed].filter((n) => n.startsWith('probefleet_agent_')).length).toBeGreaterThanOrEqual(10);
    expect(exposed).toContain('probefleet_consumer_up');
  });

  it.each(alertRules().map((r) => [r.alert, r.expr] as const))('%s reads only exposed metrics', (_alert, expr) => {
    expect(metricNames(expr).filter((n) => !exposed.has(n))).toEqual([]);
  });

  it('has pipeline-health panels that read only exposed metrics', () => {
    for (const q of dashboardExprs()) expect({ panel: q.panel, missing: metricNames(q.expr).filter((n) => !exposed.has(n)) }).toEqual({ panel: q.panel, missing: [] });
  });
});
