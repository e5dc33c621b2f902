// The metric-name reader the alert and dashboard tests rely on (promql.ts).
import { alertRules, dashboardExprs, exposedNames, metricNames } from './promql';

describe('metricNames', () => {
  it.each([
    ['increase(probefleet_a_total[10m]) > 0', ['probefleet_a_total']],
    ['sum by (le, instance) (rate(x_bucket{job="a",le!="+Inf"}[5m]))', ['x_bucket']],
    ['a > 64 * 1024 and deriv(b[10m]) > 0', ['a', 'b']],
    ['up == 0 and on(job, instance) max_over_time(c[1h]) >= 0', ['c', 'up']],
    ['(sum(increase(p[10m])) - sum(increase(q[10m]))) / sum(rate(q[10m])) > 60', ['p', 'q']],
    ['histogram_quantile(0.99, sum by (le) (rate(h_bucket[2m])))', ['h_bucket']],
    ['count(x offset 5m) or vector(0)', ['x']],
  ])('%s reads %j', (expr, names) => {
    expect(metricNames(expr)).toEqual(names);
  });

  it('finds names in every alert and every dashboard query', () => {
    expect(alertRules().length).toBeGreaterThanOrEqual(7);
    for (const r of alertRules()) expect({ alert: r.alert, names: metricNames(r.expr).length > 0 }).toEqual({ alert: r.alert, names: true });
    for (const q of dashboardExprs()) expect({ ...q, names: metricNames(q.expr).length > 0 }).toEqual({ ...q, names: true });
  });
});

describe('exposedNames', () => {
  it('reads the names of a Prometheus text exposition, histograms with their series', () => {
    const text = ['# HELP a_total x', '# TYPE a_total counter', 'a_total 1', '# TYPE h histogram', 'h_bucket{le="1"} 0', '# TYPE g gauge'].join('\n');
    expect([...exposedNames(text)].sort()).toEqual(['a_total', 'g', 'h', 'h_bucket', 'h_count', 'h_sum']);
  });
});
