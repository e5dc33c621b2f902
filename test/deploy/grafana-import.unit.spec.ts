// Every dashboard imports into another Grafana: its panels, queries and query variables name their
// data source only through the dashboard's own `datasource` variable (of the right plugin), whose
// default is a data source our provisioning creates. The store's SQL dashboards are run against
// PostgreSQL by grafana.int.spec.ts; pipeline health's PromQL by prometheus.int.spec.ts (promtool).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DEPLOY } from './promql';

const GRAFANA = join(DEPLOY, 'grafana');
interface Ref { type?: string; uid?: string }
interface Panel { title: string; type: string; datasource?: Ref; targets?: { datasource?: Ref }[]; panels?: Panel[] }
interface Variable { name: string; type: string; query?: string; datasource?: Ref; current?: { value?: string | string[] } }
interface Dashboard { uid: string; panels: Panel[]; templating: { list: Variable[] }; __inputs?: unknown[] }

const files = readdirSync(join(GRAFANA, 'dashboards')).filter((f) => f.endsWith('.json'));
const dashboards = files.map((f) => JSON.parse(readFileSync(join(GRAFANA, 'dashboards', f), 'utf8')) as Dashboard);
const provisioned = readdirSync(join(GRAFANA, 'provisioning', 'datasources')).flatMap(
  (f) => (parseYaml(readFileSync(join(GRAFANA, 'provisioning', 'datasources', f), 'utf8')) as { datasources: { uid: string; type: string }[] }).datasources,
);

describe.each(dashboards.map((d) => [d.uid, d] as const))('%s', (_uid, d) => {
  const variable = d.templating.list.find((v) => v.type === 'datasource' && v.name === 'datasource');
  const plugin = variable?.query;

  it('chooses its data source with a variable that defaults to the provisioned one', () => {
    expect(variable).toBeDefined();
    expect(provisioned).toContainEqual(expect.objectContaining({ uid: variable!.current?.value, type: plugin }));
    expect(d.__inputs).toBeUndefined(); // provisioning does not fill __inputs: the variable does both jobs
  });

  it('names no data source but through that variable', () => {
    const ours = { type: plugin, uid: '${datasource}' };
    const panels = d.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
    for (const p of panels) {
      expect({ panel: p.title, ds: p.datasource }).toEqual({ panel: p.title, ds: ours });
      for (const t of p.targets ?? []) expect({ panel: p.title, ds: t.datasource }).toEqual({ panel: p.title, ds: ours });
    }
    for (const v of d.templating.list.filter((x) => x.type === 'query')) expect({ variable: v.name, ds: v.datasource }).toEqual({ variable: v.name, ds: ours });
    expect(JSON.stringify(d)).not.toMatch(/"uid":\s*"probefleet-(pg|prometheus)"/);
  });
});

describe('pipeline health', () => {
  it('reads Prometheus, which provisioning names by a fixed uid with its URL from the environment', () => {
    const d = dashboards.find((x) => x.uid === 'probefleet-pipeline-health')!;
    expect(d.templating.list.find((v) => v.name === 'datasource')?.query).toBe('prometheus');
    expect(provisioned).toContainEqual(expect.objectContaining({ uid: 'probefleet-prometheus', type: 'prometheus', url: expect.stringMatching(/^\$\{\w+\}$/) }));
  });

  it('gets every variable the provisioning expands from compose', () => {
    const compose = parseYaml(readFileSync(join(DEPLOY, 'compose.yaml'), 'utf8')) as { services: { grafana: { environment: Record<string, string> } } };
    const text = readdirSync(join(GRAFANA, 'provisioning', 'datasources')).map((f) => JSON.stringify(parseYaml(readFileSync(join(GRAFANA, 'provisioning', 'datasources', f), 'utf8')))).join('');
    const wanted = [...new Set([...text.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]!))];
    expect(wanted).toContain('PROBEFLEET_GRAFANA_PROMETHEUS_URL');
    expect(wanted.filter((v) => !(v in compose.services.grafana.environment))).toEqual([]);
  });
});
