// What the deployment's PromQL reads: the alert rules (deploy/prometheus/alerts.yaml) and the
// pipeline-health dashboard, and the metric names in an expression — enough of PromQL's lexical
// structure for our expressions (promtool checks their syntax): label matchers, ranges, grouping
// clauses and strings are dropped, then every identifier that is not a function or keyword is a name.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';

export const DEPLOY = join(__dirname, '..', '..', 'deploy');

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'inf', 'nan']);

/** Metric names an expression selects. */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w.:])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const [word] = m;
    const isCall = /^\s*\(/.test(stripped.slice(m.index! + word.length));
    if (!isCall && !KEYWORDS.has(word.toLowerCase()) && !/^\$/.test(word)) names.add(word);
  }
  return [...names].sort();
}

export interface Rule { alert: string; expr: string; for?: string; labels?: Record<string, string> }
export const alertRules = (): Rule[] =>
  (parseYaml(readFileSync(join(DEPLOY, 'prometheus', 'alerts.yaml'), 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

/** Each Prometheus query of the pipeline-health dashboard, Grafana's range variables given values. */
export function dashboardExprs(): { panel: string; expr: string }[] {
  const d = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'dashboards', 'pipeline-health.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
  return d.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr.replace(/\$__rate_interval/g, '2m').replace(/\$__range/g, '6h') })));
}

/** Metric names in a Prometheus text exposition (histograms and summaries with their series). */
export function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
  }
  return names;
}
