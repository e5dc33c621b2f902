// The alert rules and the pipeline-health queries through Prometheus' own tool (promtool, from
// Debian's prometheus package: scripts/install-system-deps.sh): the rules parse, each alert fires
// on the series that should trigger it and stays silent on a healthy pipeline (alerts.test.yaml),
// and every dashboard query parses as PromQL.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { alertRules, dashboardExprs, DEPLOY } from './promql';

const promtool = (...args: string[]) => execFileSync('promtool', args, { cwd: join(DEPLOY, 'prometheus'), encoding: 'utf8', stdio: 'pipe' });

describe('deploy/prometheus', () => {
  it('has rules promtool accepts, one alert for each thing the pipeline can get wrong', () => {
    expect(promtool('check', 'rules', 'alerts.yaml')).toMatch(/SUCCESS: \d+ rules found/);
    expect(alertRules().map((r) => r.alert).sort()).toEqual([
      'ProbefleetAgentSilent', 'ProbefleetAgentSpoolFilling', 'ProbefleetAgentSpoolFull', 'ProbefleetBadSignatures', 'ProbefleetConsumerNotInGroup',
      'ProbefleetDeadLetters', 'ProbefleetIngestFailures', 'ProbefleetIngestLag', 'ProbefleetKernelOverruns', 'ProbefleetPolicyRecordsRefused',
    ]);
    for (const r of alertRules()) expect({ alert: r.alert, severity: r.labels?.['severity'] }).toEqual({ alert: r.alert, severity: expect.stringMatching(/^(warning|critical)$/) });
  });

  it("passes promtool's rule unit tests: each alert fires when it should, none on a healthy pipeline", () => {
    expect(promtool('test', 'rules', 'alerts.test.yaml')).toMatch(/SUCCESS/);
  });

  it('has pipeline-health queries that are valid PromQL', () => {
    const dir = mkdtempSync(join(tmpdir(), 'probefleet-promql-'));
    try {
      const rules = dashboardExprs().map((q, i) => ({ record: `probefleet:dashboard:${i}`, expr: q.expr }));
      expect(rules.length).toBeGreaterThanOrEqual(10);
      writeFileSync(join(dir, 'dashboard.yaml'), stringify({ groups: [{ name: 'pipeline-health', rules }] }));
      expect(promtool('check', 'rules', join(dir, 'dashboard.yaml'))).toMatch(`SUCCESS: ${rules.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
