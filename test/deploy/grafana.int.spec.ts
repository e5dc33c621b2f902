// The Grafana dashboards (deploy/grafana) against a real store: every panel's and variable's SQL is
// expanded the way Grafana expands it (template variables in the browser, then the PostgreSQL
// data source's macros in the backend) and run as probefleet_reader on a database migrated by
// `probefleet migrate` and fed through ingest(). No Grafana binary is needed; what this cannot see
// is the rendering (transformations, units).
//
// Grafana's rules, as implemented in its sources (checked against grafana/grafana):
// - public/app/features/templating/template_srv.ts: `$var`, `${var}`, `${var:format}`; "All" is every
//   option, except that a custom allValue is inserted raw, without any formatting.
// - SqlDatasource.interpolateVariable (the default format of SQL data sources): a string is quoted
//   ('' escaped) when the variable is multi or has "All", else only '' escaped; an array becomes
//   quoted literals joined by ','. Formats: csv = values joined by ','; sqlstring = each quoted.
// - pkg/tsdb/grafana-postgresql-datasource/macros.go, after sqleng's $__interval/$__interval_ms:
//   $__timeFilter(c) = c BETWEEN 'from' AND 'to' (RFC 3339, UTC, nanosecond precision trimmed);
//   $__timeGroup(c, i[, fill]) = floor(extract(epoch from c)/s)*s; ...Alias adds AS "time";
//   $__timeFrom()/$__timeTo() = the quoted instants; $__unixEpochFilter(c) = c >= from AND c <= to (s).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { parse as parseYaml } from 'yaml';
import type { Event, Life, Owner } from '@probefleet/events';
import { createPrisma, type Db } from '../../apps/aggregator/src/store/prisma';
import { ingest } from '../../apps/aggregator/test/test-ingest';
import { createMigratedDatabase, type TempDatabase } from '../../apps/aggregator/test/temp-database';
import { record, testStream } from '../../apps/aggregator/test/streams';

const GRAFANA_DIR = join(__dirname, '..', '..', 'deploy', 'grafana');
const DATASOURCE_UID = 'probefleet-pg';

// ---------------------------------------------------------------------------------------------
// Grafana's expansion

interface TimeRange { from: Date; to: Date; intervalText: string; intervalMs: number }
interface VariableModel { name: string; type: string; query?: string; multi?: boolean; includeAll?: boolean; allValue?: string; datasource?: { uid?: string } }
/** A variable as the dashboard holds it at query time: its model, options and current selection. */
interface VariableState { model: VariableModel; options: string[]; current: string | string[] }
const ALL = '$__all';

const sqlQuote = (v: string) => `'${v.replace(/'/g, "''")}'`;

function formatValue(value: string | string[], format: string | undefined, v: VariableModel): string {
  switch (format) {
    case 'csv':
      return Array.isArray(value) ? value.join(',') : value;
    case 'sqlstring':
      return (Array.isArray(value) ? value : [value]).map(sqlQuote).join(',');
    case undefined:
      if (typeof value === 'string') return v.multi || v.includeAll ? sqlQuote(value) : value.replace(/'/g, "''");
      return value.map(sqlQuote).join(',');
    default:
      throw new Error(`format ${format} is not modelled by this test: add it before using it in a dashboard`);
  }
}

const isAll = (c: string | string[]) => c === ALL || (Array.isArray(c) && c[0] === ALL);

/** The browser side: template variables and the built-in $__interval/$__interval_ms. */
function interpolateVariables(sql: string, vars: Map<string, VariableState>, range: TimeRange): string {
  const re = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?::([^}]+))?\}/g;
  return sql.replace(re, (match, n1?: string, n2?: string, f2?: string, n3?: string, f3?: string) => {
    const name = (n1 ?? n2 ?? n3)!;
    if (name === '__interval') return range.intervalText;
    if (name === '__interval_ms') return String(range.intervalMs);
    const v = vars.get(name);
    if (!v) return match; // macros such as $__timeFilter are the backend's
    const format = f2 ?? f3;
    if (isAll(v.current)) {
      if (v.model.allValue) return interpolateVariables(v.model.allValue, vars, range);
      return formatValue(v.options, format, v.model);
    }
    return formatValue(v.current, format, v.model);
  });
}

/** Go's time.RFC3339Nano in UTC: fractional seconds without trailing zeros. */
const rfc3339Nano = (d: Date) => d.toISOString().replace(/\.(\d*?)0*Z$/, (_m, f: string) => (f ? `.${f}Z` : 'Z'));

function parseGoInterval(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d|w|y)$/.exec(text.replace(/^'|'$/g, ''));
  if (!m) throw new Error(`error parsing interval ${text}`);
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 }[m[2] as 'ms'];
  return Number(m[1]) * unit;
}

/** The backend side: sqleng's globals, then the PostgreSQL macro engine (no TimescaleDB). */
function expandMacros(sql: string, range: TimeRange): string {
  const from = rfc3339Nano(range.from);
  const to = rfc3339Nano(range.to);
  sql = sql
    .replaceAll('$__interval_ms', String(range.intervalMs))
    .replaceAll('$__interval', range.intervalText)
    .replaceAll('$__unixEpochFrom()', String(Math.floor(range.from.getTime() / 1000)))
    .replaceAll('$__unixEpochTo()', String(Math.floor(range.to.getTime() / 1000)));
  const original = sql;
  return sql.replace(/\$([_a-zA-Z0-9]+)\(([^)]*)\)/g, (whole, name: string, rawArgs: string) => {
    // Like Grafana: a $__timeGroup followed by ',' is the pre-5.3 form that adds AS "time".
    if (name === '__timeGroup' && original[original.indexOf(whole) + whole.length] === ',') name = '__timeGroupAlias';
    const args = rawArgs.split(',').map((a) => a.trim());
    const group = () => {
      if (args.length < 2) throw new Error(`macro ${name} needs time column and interval and optional fill value`);
      const s = parseGoInterval(args[1]!);
      return `floor(extract(epoch from ${args[0]})/${s})*${s}`;
    };
    switch (name) {
      case '__time': return `${args[0]} AS "time"`;
      case '__timeEpoch': return `extract(epoch from ${args[0]}) as "time"`;
      case '__timeFilter': return `${args[0]} BETWEEN '${from}' AND '${to}'`;
      case '__timeFrom': return `'${from}'`;
      case '__timeTo': return `'${to}'`;
      case '__timeGroup': return group();
      case '__timeGroupAlias': return `${group()} AS "time"`;
      case '__unixEpochFilter':
        return `${args[0]} >= ${Math.floor(range.from.getTime() / 1000)} AND ${args[0]} <= ${Math.floor(range.to.getTime() / 1000)}`;
      default: throw new Error(`unknown macro "${name}"`);
    }
  });
}

const expand = (sql: string, vars: Map<string, VariableState>, range: TimeRange) => expandMacros(interpolateVariables(sql, vars, range), range);

// ---------------------------------------------------------------------------------------------
// The dashboards

interface Target { refId: string; rawSql: string; format: 'table' | 'time_series'; datasource?: { uid?: string } }
interface Panel { id: number; type: string; title: string; datasource?: { uid?: string }; targets?: Target[]; panels?: Panel[] }
interface Dashboard { uid: string; title: string; panels: Panel[]; templating: { list: (VariableModel & { current?: { value?: string | string[] } })[] } }

const dashboardFiles = readdirSync(join(GRAFANA_DIR, 'dashboards')).filter((f) => f.endsWith('.json')).sort();
const everyDashboard: Dashboard[] = dashboardFiles.map((f) => JSON.parse(readFileSync(join(GRAFANA_DIR, 'dashboards', f), 'utf8')) as Dashboard);
/** The store's dashboards (SQL); pipeline health reads Prometheus (test/deploy/grafana-import.unit.spec.ts). */
const dashboards = everyDashboard.filter((d) => d.templating.list.some((v) => v.type === 'datasource' && v.query === 'grafana-postgresql-datasource'));
/** Panels and variables name the data source through the dashboard's `datasource` variable (importable anywhere). */
const sourceOf = (d: Dashboard, ref: { uid?: string } | undefined) =>
  ref?.uid === '${datasource}' ? d.templating.list.find((v) => v.name === 'datasource')?.current?.value : ref?.uid;
const allPanels = (d: Dashboard): Panel[] => d.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');

describe('Grafana macro and variable expansion (as documented by Grafana)', () => {
  // The examples of Grafana's PostgreSQL data source documentation.
  const range: TimeRange = { from: new Date('2017-04-21T05:01:17Z'), to: new Date('2017-04-21T05:06:17Z'), intervalText: '5m', intervalMs: 300_000 };
  const none = new Map<string, VariableState>();

  it('expands the time macros', () => {
    expect(expand('WHERE $__timeFilter(dateColumn)', none, range)).toBe("WHERE dateColumn BETWEEN '2017-04-21T05:01:17Z' AND '2017-04-21T05:06:17Z'");
    expect(expand("$__timeGroup(dateColumn,'5m')", none, range)).toBe('floor(extract(epoch from dateColumn)/300)*300');
    expect(expand('SELECT $__timeGroup(dateColumn,$__interval), x', none, range)).toBe('SELECT floor(extract(epoch from dateColumn)/300)*300 AS "time", x');
    expect(expand('$__timeGroupAlias(dateColumn, $__interval, 0)', none, range)).toBe('floor(extract(epoch from dateColumn)/300)*300 AS "time"');
    expect(expand('$__timeFrom() $__timeTo() $__interval_ms', none, range)).toBe("'2017-04-21T05:01:17Z' '2017-04-21T05:06:17Z' 300000");
    expect(expand('$__unixEpochFilter(dateColumn)', none, range)).toBe('dateColumn >= 1492750877 AND dateColumn <= 1492751177');
    expect(expand('$__timeGroup(t, $__interval)', none, { ...range, intervalText: '200ms', intervalMs: 200 })).toBe('floor(extract(epoch from t)/0.2)*0.2');
    expect(rfc3339Nano(new Date('2026-01-02T03:04:05.120Z'))).toBe('2026-01-02T03:04:05.12Z');
  });

  it('formats single, multi and All values like the SQL data sources', () => {
    const state = (model: Partial<VariableModel>, current: string | string[], options = ['a', "o'b"]): VariableState => ({ model: { name: 'v', type: 'query', ...model }, options, current });
    const run = (sql: string, v: VariableState) => expand(sql, new Map([['v', v]]), range);
    expect(run('IN ($v)', state({ multi: true }, ['a', "o'b"]))).toBe("IN ('a','o''b')");
    expect(run('= $v', state({}, "o'b"))).toBe("= o''b");
    expect(run("= '${v}'", state({}, 'a'))).toBe("= 'a'");
    expect(run('= $v', state({ includeAll: true }, 'a'))).toBe("= 'a'");
    expect(run('${v:csv}|${v:sqlstring}|[[v:csv]]', state({ multi: true }, ['a', "o'b"]))).toBe("a,o'b|'a','o''b'|a,o'b");
    expect(run('IN ($v)', state({ multi: true, includeAll: true }, [ALL]))).toBe("IN ('a','o''b')");
    expect(run('IN (${v:csv})', state({ multi: true, includeAll: true, allValue: '-1' }, [ALL]))).toBe('IN (-1)');
    expect(() => run('${v:regex}', state({ multi: true }, ['a']))).toThrow(/not modelled/);
  });
});

describe('Grafana dashboards (JSON)', () => {
  it('has unique dashboard uids, unique panel ids and every query on the provisioned data source', () => {
    expect(dashboards.length).toBeGreaterThanOrEqual(3);
    expect(new Set(dashboards.map((d) => d.uid)).size).toBe(dashboards.length);
    for (const d of dashboards) {
      expect(d.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/); // Grafana's uid limit
      const panels = allPanels(d);
      expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
      for (const p of panels) {
        expect({ panel: p.title, uid: sourceOf(d, p.datasource) }).toEqual({ panel: p.title, uid: DATASOURCE_UID });
        expect(p.targets?.length).toBeGreaterThan(0);
        for (const t of p.targets!) expect({ panel: p.title, uid: sourceOf(d, t.datasource) }).toEqual({ panel: p.title, uid: DATASOURCE_UID });
      }
      for (const v of d.templating.list.filter((x) => x.type === 'query')) expect({ variable: v.name, uid: sourceOf(d, v.datasource) }).toEqual({ variable: v.name, uid: DATASOURCE_UID });
    }
  });

  it('defaults every variable to All', () => {
    for (const d of dashboards) {
      for (const v of d.templating.list.filter((x) => x.type !== 'datasource')) expect({ dashboard: d.uid, variable: v.name, current: v.current?.value }).toEqual({ dashboard: d.uid, variable: v.name, current: [ALL] });
    }
  });

  it('bakes in no host name, address or secret', () => {
    const files = [
      ...dashboardFiles.map((f) => join('dashboards', f)),
      join('provisioning', 'datasources', 'probefleet.yaml'),
      join('provisioning', 'dashboards', 'probefleet.yaml'),
    ];
    for (const f of files) {
      const text = readFileSync(join(GRAFANA_DIR, f), 'utf8');
      expect({ f, hits: text.match(/\b(?:localhost|\d{1,3}(?:\.\d{1,3}){3}|[\w-]+\.(?:com|net|org|io|local|internal|svc|lan))\b/gi) }).toEqual({ f, hits: null });
      expect({ f, hits: text.match(/(?:password|secret|token)["']?\s*[:=]\s*["']?(?!\$\{)[^\s"',}]+/gi) }).toEqual({ f, hits: null });
    }
  });

  it('provisions the data source with a fixed uid, from environment variables only', () => {
    const ds = parseYaml(readFileSync(join(GRAFANA_DIR, 'provisioning', 'datasources', 'probefleet.yaml'), 'utf8')) as { datasources: Record<string, unknown>[] };
    expect(ds.datasources).toHaveLength(1);
    const [source] = ds.datasources as [{ uid: string; type: string; url: string; user: string; jsonData: { database: string }; secureJsonData: { password: string } }];
    expect(source).toMatchObject({ uid: DATASOURCE_UID, type: 'grafana-postgresql-datasource' });
    for (const value of [source.url, source.user, source.jsonData.database, source.secureJsonData.password]) expect(value).toMatch(/^\$\{\w+\}$/);
    const provider = parseYaml(readFileSync(join(GRAFANA_DIR, 'provisioning', 'dashboards', 'probefleet.yaml'), 'utf8')) as { providers: { type: string; options: { path: string } }[] };
    expect(provider.providers).toEqual([expect.objectContaining({ type: 'file', options: expect.objectContaining({ path: expect.stringMatching(/dashboards\/probefleet$/) }) })]);
  });
});

// ---------------------------------------------------------------------------------------------
// Every query against a seeded store, as the read-only role

interface Result { columns: string[]; rows: Record<string, unknown>[] }
/** What each panel must return with every variable at All (rows: a check of the seeded facts). */
/** When seeding ran (set in beforeAll): events are stored at now(), so this bounds their ingest lag. */
const seeded = { from: 0, to: 0 };
/** The seed's event times span 10:00:00.001 to 10:01:00.011 UTC (apps/aggregator/test/streams.ts, db-1 starts a minute in). */
const SEED_FIRST = Date.parse('2026-11-25T10:00:00.001Z');
const SEED_LAST = Date.parse('2026-11-25T10:01:00.011Z');

const EXPECTED: Record<string, { columns: string[]; check?: (r: Result) => void }> = {
  'probefleet-tcp-transitions/Transitions per second by new state': {
    columns: ['time', 'metric', 'value'],
    check: (r) => expect(new Set(r.rows.map((x) => x['metric']))).toEqual(new Set(['TCP_SYN_SENT', 'TCP_ESTABLISHED', 'TCP_FIN_WAIT1', 'TCP_FIN_WAIT2', 'TCP_CLOSE', 'TCP_LISTEN', 'TCP_SYN_RECV', 'TCP_CLOSE_WAIT', 'TCP_LAST_ACK'])),
  },
  'probefleet-tcp-transitions/State matrix (old → new)': {
    columns: ['old_state', 'new_state', 'transitions'],
    check: (r) => expect(r.rows).toContainEqual({ old_state: 'TCP_SYN_SENT', new_state: 'TCP_ESTABLISHED', transitions: '4' }),
  },
  'probefleet-tcp-transitions/Failed connects and resets': {
    columns: ['time', 'failed connects', 'resets'],
    check: (r) => {
      expect(sum(r, 'failed connects')).toBe(1);
      expect(sum(r, 'resets')).toBe(1);
    },
  },
  'probefleet-tcp-transitions/Time in state (ms)': {
    columns: ['state', 'transitions', 'p50_ms', 'p90_ms', 'p99_ms', 'max_ms'],
    check: (r) => expect(r.rows.find((x) => x['state'] === 'TCP_ESTABLISHED')?.['max_ms']).toBeGreaterThanOrEqual(20),
  },
  'probefleet-tcp-transitions/Time in state distribution': {
    columns: ['bucket', 'state', 'transitions'],
    check: (r) => expect(r.rows.map((x) => x['bucket'])).toEqual([...r.rows.map((x) => x['bucket'])].sort((a, b) => BUCKETS.indexOf(a as string) - BUCKETS.indexOf(b as string))),
  },
  'probefleet-tcp-transitions/Top remote endpoints (connect attempts)': {
    columns: ['remote_addr', 'remote_port', 'attempts', 'established', 'failed', 'avg_connect_ms', 'hosts'],
    check: (r) => {
      expect(r.rows[0]).toMatchObject({ remote_addr: '10.0.0.5', remote_port: 443, attempts: '2', established: '2', failed: '0' });
      expect(r.rows).toContainEqual(expect.objectContaining({ remote_addr: '10.0.0.9', remote_port: 5432, attempts: '1', failed: '1' }));
    },
  },
  'probefleet-tcp-connections/Connections opened per second by host': { columns: ['time', 'metric', 'value'] },
  'probefleet-tcp-connections/Lifetime percentiles (closed connections)': { columns: ['time', 'p50', 'p90', 'p99', 'max'] },
  'probefleet-tcp-connections/Churn by host and service port': {
    columns: ['host', 'service_port', 'direction', 'opened', 'closed', 'p50_lifetime_ms'],
    check: (r) => {
      expect(r.rows).toContainEqual(expect.objectContaining({ host: 'web-1', service_port: 443, direction: 'outbound', opened: '2', closed: '2' }));
      expect(r.rows).toContainEqual(expect.objectContaining({ host: 'db-1', service_port: 5432, direction: 'inbound', opened: '1', closed: '1' }));
      expect(r.rows).toContainEqual(expect.objectContaining({ host: 'db-1', service_port: 5432, direction: 'listener', closed: '0' }));
    },
  },
  'probefleet-tcp-connections/Connection lifetimes (tcplife)': {
    columns: ['time', 'host', 'local_addr', 'local_port', 'remote_addr', 'remote_port', 'duration_ms', 'states'],
    check: (r) => expect(r.rows).toContainEqual(expect.objectContaining({ remote_port: 5432, states: expect.stringMatching(/^CLOSE > SYN_SENT \d+(\.\d)?ms > CLOSE$/) })),
  },
  'probefleet-tcp-connections/Long-lived connections (open at the end of the range)': {
    columns: ['opened_at', 'host', 'local_addr', 'local_port', 'remote_addr', 'remote_port', 'state', 'age_ms', 'in_state_ms'],
    // The previous boot's open socket (port 8080) is gone and must not be listed.
    check: (r) => expect(r.rows.map((x) => [x['host'], x['remote_port'], x['state']]).sort()).toEqual([['db-1', 0, 'TCP_LISTEN'], ['web-1', 9092, 'TCP_ESTABLISHED']]),
  },
  'probefleet-tcp-owners/Failed connects by pod': {
    columns: ['time', 'metric', 'value'],
    check: (r) => expect(r.rows.map((x) => [x['metric'], Number(x['value']) * 60])).toEqual([['shop/checkout-1', 1]]),
  },
  'probefleet-tcp-owners/Top talkers by bytes (tcplife)': {
    columns: ['pod', 'comm', 'host', 'connections', 'tx_bytes', 'rx_bytes', 'total_bytes', 'retrans', 'avg_srtt_us'],
    check: (r) => expect(r.rows).toEqual([
      { pod: 'shop/web-7', comm: 'nginx', host: 'web-1', connections: '2', tx_bytes: '2148', rx_bytes: '10290', total_bytes: '12438', retrans: '1', avg_srtt_us: '300' },
      { pod: 'shop/checkout-1', comm: 'python3', host: 'web-1', connections: '1', tx_bytes: '0', rx_bytes: '0', total_bytes: '0', retrans: '1', avg_srtt_us: '0' },
    ]),
  },
  'probefleet-tcp-owners/Transitions by comm': {
    columns: ['time', 'metric', 'value'],
    check: (r) => {
      const by: Record<string, number> = {};
      for (const x of r.rows) by[String(x['metric'])] = (by[String(x['metric'])] ?? 0) + Math.round(Number(x['value']) * 60);
      expect(by).toEqual({ nginx: 8, python3: 2, postgres: 2, '(unknown)': 8 });
    },
  },
  'probefleet-tcp-owners/Connections by namespace and pod': {
    columns: ['namespace', 'pod', 'transitions', 'connects', 'failed_connects', 'resets', 'owner_unknown'],
    check: (r) => {
      expect(r.rows[0]).toEqual({ namespace: 'shop', pod: 'shop/checkout-1', transitions: '2', connects: '1', failed_connects: '1', resets: '0', owner_unknown: '0' });
      expect(r.rows).toContainEqual({ namespace: 'shop', pod: 'shop/web-7', transitions: '8', connects: '2', failed_connects: '0', resets: '1', owner_unknown: '0' });
      expect(r.rows).toContainEqual({ namespace: '(no pod)', pod: '(no pod)', transitions: '10', connects: '2', failed_connects: '0', resets: '0', owner_unknown: '8' });
    },
  },
  'probefleet-fleet/Agents': {
    columns: ['host', 'status', 'mode', 'kernel_release', 'arch', 'agent_version', 'started_at', 'last_seen', 'since_last_event_s', 'events', 'hits', 'kprobe_misses', 'kernel_lost', 'events_per_s'],
    check: (r) => {
      expect(r.rows).toContainEqual(expect.objectContaining({ host: 'web-1', status: 'silent', mode: 'kprobe', kprobe_misses: '2', kernel_lost: '5' }));
      expect(r.rows).toContainEqual(expect.objectContaining({ host: 'db-1', status: 'stopped', mode: 'tracepoint' }));
    },
  },
  'probefleet-fleet/TCP transitions per second by host': { columns: ['time', 'metric', 'value'] },
  'probefleet-fleet/Kernel-side losses and kprobe misses': {
    columns: ['host', 'kernel lost', 'kprobe misses'],
    check: (r) => expect(r.rows[0]).toEqual({ host: 'web-1', 'kernel lost': '5', 'kprobe misses': '2' }),
  },
  'probefleet-fleet/Probes': {
    columns: ['host', 'name', 'kind', 'symbol', 'offset', 'address', 'mechanism', 'flags', 'armed', 'hits', 'missed', 'registered_at'],
    check: (r) => expect(r.rows).toEqual([expect.objectContaining({ host: 'web-1', name: 'tcp_set_state', mechanism: 'ftrace', flags: '', armed: true, missed: '2' })]),
  },
  'probefleet-fleet/Kprobe mechanisms by host': {
    columns: ['host', 'ftrace', 'int3', 'optimized', 'unknown', 'disabled or gone'],
    check: (r) => expect(r.rows).toEqual([{ host: 'web-1', ftrace: '1', int3: '0', optimized: '0', unknown: '0', 'disabled or gone': '0' }]),
  },
  'probefleet-fleet/Streams': { columns: ['host', 'instance', 'first_time', 'last_time', 'events', 'contiguous_to', 'max_seq', 'behind'] },
  'probefleet-fleet/Events missing in open gaps': { columns: ['missing'], check: (r) => expect(r.rows).toEqual([{ missing: '1' }]) },
  'probefleet-fleet/Stream gaps': {
    columns: ['time', 'host', 'instance', 'from_seq', 'to_seq', 'missing', 'closed_at', 'status'],
    check: (r) => expect(r.rows).toEqual([expect.objectContaining({ host: 'web-1', missing: '1', status: 'open' })]),
  },
  // The title still says p50/p99: the ingest_lag table keeps sums and maxima, so the panel shows the mean and the max.
  'probefleet-fleet/Ingest lag (p50/p99 by host)': {
    columns: ['time', 'metric', 'mean', 'max'],
    check: (r) => {
      expect(new Set(r.rows.map((x) => x['metric']))).toEqual(new Set(['db-1', 'web-1']));
      for (const row of r.rows) {
        const [mean, max] = [Number(row['mean']), Number(row['max'])];
        expect(mean).toBeLessThanOrEqual(max);
        expect(mean).toBeGreaterThanOrEqual(seeded.from - SEED_LAST);
        expect(max).toBeLessThanOrEqual(seeded.to - SEED_FIRST);
      }
    },
  },
  'probefleet-fleet/Dead letters by kind': { columns: ['time', 'metric', 'value'], check: (r) => expect(r.rows).toEqual([expect.objectContaining({ metric: 'malformed', value: '1' })]) },
  'probefleet-fleet/Latest dead letters': {
    columns: ['time', 'topic', 'partition', 'offset', 'key', 'kind', 'reason', 'bytes'],
    check: (r) => expect(r.rows).toEqual([expect.objectContaining({ kind: 'malformed', bytes: 9 })]),
  },
};
const BUCKETS = ['< 1 ms', '1-10 ms', '10-100 ms', '0.1-1 s', '1-10 s', '10-60 s', '>= 1 min'];
const sum = (r: Result, column: string) => r.rows.reduce((n, x) => n + Number(x[column]), 0);

describe('Grafana dashboards against a seeded store, as probefleet_reader', () => {
  let tmp: TempDatabase;
  let db: Db;
  let reader: Client;
  let offset = 0;
  const batch = (events: Parameters<typeof record>[0]) => record(events, 0, offset++);

  beforeAll(async () => {
    seeded.from = Date.now();
    tmp = await createMigratedDatabase('probefleet_grafana');
    db = createPrisma(tmp.url);
    await seed();
    seeded.to = Date.now();
    reader = new Client({ connectionString: tmp.url });
    await reader.connect();
    await reader.query('SET ROLE probefleet_reader');
  });
  afterAll(async () => {
    await reader?.end();
    await db?.$disconnect();
    await tmp?.drop();
  });

  /**
   * web-1: an earlier boot that left a socket open (port 8080), then a kprobe-mode agent with a normal
   * close (443), a refused connect (5432), a reset (443), a connection still open (9092), kprobe
   * misses, ring-buffer losses and one event lost in transit (a gap). db-1: a tracepoint-mode agent
   * with a listener on 5432 and one accepted connection closed passively; then it stops.
   * Plus one malformed Kafka message.
   */
  async function seed() {
    const started = (mode: 'kprobe' | 'tracepoint') => ({ kernelRelease: '6.12.0-1-amd64', arch: 'x86_64', agentVersion: '0.1.0', mode, capabilities: [] });
    const beats = (s: ReturnType<typeof testStream>, n: number) => Array.from({ length: n }, (_, i) => s.event('agent.heartbeat', { counters: { n: i } }));

    const oldBoot = testStream('web-1');
    await ingest(db, [batch([
      oldBoot.event('agent.started', started('kprobe')),
      oldBoot.tcp({ skaddr: '0xffff0001', sport: 0, dport: 8080, daddr: '10.0.0.8', oldstate: 'TCP_CLOSE', newstate: 'TCP_SYN_SENT' }),
      oldBoot.tcp({ skaddr: '0xffff0001', sport: 40001, dport: 8080, daddr: '10.0.0.8', oldstate: 'TCP_SYN_SENT', newstate: 'TCP_ESTABLISHED' }),
    ])]);

    const web = testStream('web-1', undefined, 1000);
    const tcp = (skaddr: string, sport: number, dport: number, daddr: string, oldstate: string, newstate: string) => web.tcp({ skaddr, sport, dport, daddr, oldstate, newstate } as Parameters<typeof web.tcp>[0]);
    // The sockets' owners (issue 15): web-1's 443 client is nginx in pod shop/web-7, its 5432 client
    // python3 in pod shop/checkout-1; db-1's postgres is outside any pod; the rest carry none.
    const own = (e: Event, owner: Owner, life?: Life): Event => ({ ...e, data: { ...e.data, ...(life ? { life } : {}), owner, attribution: 'socket' } }) as Event;
    const pod = (ns: string, name: string, uid: string, comm: string, pid: number): Owner => ({
      pid, comm, cgroup: `/kubepods.slice/kubepods-pod${uid.replace(/-/g, '_')}.slice/cri-containerd-${'c'.repeat(64)}.scope`,
      container: { id: 'c'.repeat(64), runtime: 'containerd' }, pod: { namespace: ns, name, uid },
    });
    const nginx = pod('shop', 'web-7', '11111111-2222-4333-8444-555555555555', 'nginx', 300);
    const checkout = pod('shop', 'checkout-1', '11111111-2222-4333-8444-666666666666', 'python3', 400);
    const postgres: Owner = { pid: 500, comm: 'postgres', cgroup: '/system.slice/postgresql.service', container: { id: 'postgresql.service', runtime: 'systemd' } };
    const events = [
      web.event('agent.started', started('kprobe')),
      web.event('probe.registered', { probe: 'tcp_set_state', kind: 'kprobe', symbol: 'tcp_set_state', offset: 0, address: '0xffffffff8206b250', insn: '0f1f44' }),
      web.event('probe.armed', { probe: 'tcp_set_state', mechanism: 'ftrace', address: '0xffffffff8206b250' }),
      own(tcp('0xffff1001', 0, 443, '10.0.0.5', 'TCP_CLOSE', 'TCP_SYN_SENT'), nginx),
      own(tcp('0xffff1001', 40010, 443, '10.0.0.5', 'TCP_SYN_SENT', 'TCP_ESTABLISHED'), nginx),
      ...beats(web, 25),
      own(tcp('0xffff1001', 40010, 443, '10.0.0.5', 'TCP_ESTABLISHED', 'TCP_FIN_WAIT1'), nginx),
      own(tcp('0xffff1001', 40010, 443, '10.0.0.5', 'TCP_FIN_WAIT1', 'TCP_FIN_WAIT2'), nginx),
      own(tcp('0xffff1001', 40010, 443, '10.0.0.5', 'TCP_FIN_WAIT2', 'TCP_CLOSE'), nginx, { txBytes: 2048, rxBytes: 10240, retrans: 1, srttUs: 250 }),
      own(tcp('0xffff1002', 0, 5432, '10.0.0.9', 'TCP_CLOSE', 'TCP_SYN_SENT'), checkout),
      own(tcp('0xffff1002', 0, 5432, '10.0.0.9', 'TCP_SYN_SENT', 'TCP_CLOSE'), checkout, { txBytes: 0, rxBytes: 0, retrans: 1, srttUs: 0 }),
      own(tcp('0xffff1003', 0, 443, '10.0.0.5', 'TCP_CLOSE', 'TCP_SYN_SENT'), nginx),
      own(tcp('0xffff1003', 40012, 443, '10.0.0.5', 'TCP_SYN_SENT', 'TCP_ESTABLISHED'), nginx),
      own(tcp('0xffff1003', 40012, 443, '10.0.0.5', 'TCP_ESTABLISHED', 'TCP_CLOSE'), nginx, { txBytes: 100, rxBytes: 50, retrans: 0, srttUs: 350 }),
      tcp('0xffff1004', 0, 9092, '10.0.0.7', 'TCP_CLOSE', 'TCP_SYN_SENT'),
      tcp('0xffff1004', 40013, 9092, '10.0.0.7', 'TCP_SYN_SENT', 'TCP_ESTABLISHED'),
      web.event('probe.missed', { probe: 'tcp_set_state', count: 2 }),
      web.event('agent.loss', { overruns: [{ cpu: 0, count: 3 }, { cpu: 1, count: 2 }] }),
      ...beats(web, 3),
    ];
    const lost = events.length - 2; // a heartbeat that never arrives
    await ingest(db, [batch(events.slice(0, 20)), batch(events.slice(20, lost)), batch(events.slice(lost + 1))]);

    const dbHost = testStream('db-1', undefined, 60_000);
    const dtcp = (skaddr: string, sport: number, dport: number, daddr: string, oldstate: string, newstate: string) => dbHost.tcp({ skaddr, sport, dport, daddr, oldstate, newstate } as Parameters<typeof web.tcp>[0]);
    await ingest(db, [batch([
      dbHost.event('agent.started', started('tracepoint')),
      own(dtcp('0xffff2001', 5432, 0, '0.0.0.0', 'TCP_CLOSE', 'TCP_LISTEN'), postgres),
      own(dtcp('0xffff2002', 5432, 41000, '10.0.0.1', 'TCP_LISTEN', 'TCP_SYN_RECV'), postgres),
      dtcp('0xffff2002', 5432, 41000, '10.0.0.1', 'TCP_SYN_RECV', 'TCP_ESTABLISHED'),
      ...beats(dbHost, 3),
      dtcp('0xffff2002', 5432, 41000, '10.0.0.1', 'TCP_ESTABLISHED', 'TCP_CLOSE_WAIT'),
      dtcp('0xffff2002', 5432, 41000, '10.0.0.1', 'TCP_CLOSE_WAIT', 'TCP_LAST_ACK'),
      dtcp('0xffff2002', 5432, 41000, '10.0.0.1', 'TCP_LAST_ACK', 'TCP_CLOSE'),
      dbHost.event('agent.stopped', { reason: 'signal SIGTERM' }),
    ])]);

    await ingest(db, [batch('{not json')]);
  }

  // The seed lies on 2026-11-25 from 10:00 UTC; dead letters are stamped with the real clock.
  const range = (): TimeRange => ({ from: new Date('2026-11-25T09:00:00Z'), to: new Date(Date.now() + 60_000), intervalText: '1m', intervalMs: 60_000 });

  async function run(sql: string): Promise<Result> {
    const r = await reader.query(sql);
    return { columns: r.fields.map((f) => f.name), rows: r.rows as Record<string, unknown>[] };
  }

  /** Variables in dashboard order, each query variable run with the ones before it (chained, as Grafana does). */
  async function resolveVariables(d: Dashboard, selection: Record<string, string[]>, tr: TimeRange): Promise<Map<string, VariableState>> {
    const vars = new Map<string, VariableState>();
    for (const model of d.templating.list) {
      let options: string[];
      if (model.type === 'custom') options = model.query!.split(',').map((s) => s.trim());
      else if (model.type === 'query') options = (await run(expand(model.query!, vars, tr))).rows.map((row) => String(Object.values(row)[0]));
      else if (model.type === 'datasource') continue; // which data source, not part of any SQL
      else throw new Error(`variable type ${model.type} is not modelled by this test`);
      vars.set(model.name, { model, options, current: selection[model.name] ?? [ALL] });
    }
    return vars;
  }

  async function runPanels(d: Dashboard, selection: Record<string, string[]> = {}, tr = range()) {
    const vars = await resolveVariables(d, selection, tr);
    const out: { key: string; target: Target; sql: string; result: Result }[] = [];
    for (const p of allPanels(d)) {
      for (const target of p.targets!) {
        const sql = expand(target.rawSql, vars, tr);
        const result = await run(sql).catch((e: Error) => { throw new Error(`${d.uid}/${p.title}: ${e.message}\n${sql}`); });
        out.push({ key: `${d.uid}/${p.title}`, target, sql, result });
      }
    }
    return { vars, panels: out };
  }

  it('cannot read the raw event store (the role is in effect)', async () => {
    await expect(run('SELECT count(*) FROM events')).rejects.toThrow(/permission denied/);
  });

  it('offers the seeded hosts and ports in the variables', async () => {
    const byUid = new Map(dashboards.map((d) => [d.uid, d]));
    const vars = await resolveVariables(byUid.get('probefleet-tcp-transitions')!, {}, range());
    expect(vars.get('host')!.options).toEqual(['db-1', 'web-1']);
    expect(vars.get('port')!.options).toEqual(expect.arrayContaining(['443', '5432', '9092', '8080']));
    expect(vars.get('port')!.options.every((p) => Number(p) < 32768)).toBe(true);
    const onlyDb = await resolveVariables(byUid.get('probefleet-tcp-transitions')!, { host: ['db-1'] }, range());
    expect(onlyDb.get('port')!.options).toEqual(['5432']);
  });

  it.each(dashboards.map((d) => [d.uid, d] as const))('%s: every panel returns the columns it needs, with the seeded facts', async (_uid, d) => {
    const { panels } = await runPanels(d);
    for (const { key, target, result } of panels) {
      const expected = EXPECTED[key];
      if (!expected) throw new Error(`no expectation for panel ${key}: add one to EXPECTED`);
      expect({ key, columns: result.columns }).toEqual({ key, columns: expected.columns });
      expect({ key, rows: result.rows.length > 0 }).toEqual({ key, rows: true });
      if (target.format === 'time_series') {
        // Grafana needs a time column, sorted, and numbers for every value column but "metric".
        const times = result.rows.map((row) => Number(row['time']));
        expect(times).toEqual([...times].sort((a, b) => a - b));
        for (const row of result.rows) for (const c of result.columns.filter((x) => x !== 'metric')) expect({ key, c, v: Number.isFinite(Number(row[c])) }).toEqual({ key, c, v: true });
      }
      expected.check?.(result);
    }
    expect(panels.map((p) => p.key).sort()).toEqual(Object.keys(EXPECTED).filter((k) => k.startsWith(`${d.uid}/`)).sort());
  });

  it('narrows the ingest lag to the selected host', async () => {
    const fleet = dashboards.find((d) => d.uid === 'probefleet-fleet')!;
    const { panels } = await runPanels(fleet, { host: ['db-1'] });
    const lag = panels.find((p) => p.key.endsWith('/Ingest lag (p50/p99 by host)'))!.result;
    expect(lag.rows.length).toBeGreaterThan(0);
    expect(lag.rows.every((r) => r['metric'] === 'db-1')).toBe(true);
  });

  it.each([
    ['probefleet-tcp-transitions', 'Transitions per second by new state', {}],
    ['probefleet-tcp-transitions', 'Failed connects and resets', {}],
    ['probefleet-tcp-transitions', 'Transitions per second by new state', { host: ['db-1'], state: ['TCP_CLOSE', 'TCP_LISTEN'] }],
    ['probefleet-tcp-transitions', 'Failed connects and resets', { host: ['web-1'] }],
    ['probefleet-fleet', 'TCP transitions per second by host', {}],
  ])('%s/%s %j: the same counts from the rollups (whole-minute interval) as from raw rows (10 s)', async (uid, title, selection) => {
    const d = dashboards.find((x) => x.uid === uid)!;
    const panel = allPanels(d).find((p) => p.title === title)!;
    /** Per metric (or value column), the count the rates stand for: rate × interval. */
    const counts = async (intervalText: string, intervalMs: number) => {
      const tr = { ...range(), intervalText, intervalMs };
      const vars = await resolveVariables(d, selection, tr);
      const sql = expand(panel.targets![0]!.rawSql, vars, tr);
      const { rows } = await run(sql);
      const out: Record<string, number> = {};
      for (const row of rows) {
        for (const [c, v] of Object.entries(row)) {
          if (c === 'time' || c === 'metric') continue;
          const key = row['metric'] === undefined ? c : `${String(row['metric'])}`;
          out[key] = (out[key] ?? 0) + (title.includes('per second') ? Number(v) * (intervalMs / 1000) : Number(v));
        }
      }
      return { sql, out: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Math.round(v * 1e6) / 1e6])) };
    };
    const rollup = await counts('1m', 60_000);
    const raw = await counts('10s', 10_000);
    expect(rollup.sql).toMatch(/60000 % 60000 = 0/);
    expect(Object.keys(raw.out).length).toBeGreaterThan(0);
    expect(rollup.out).toEqual(raw.out);
  });

  it('offers the owners\' namespaces and narrows the owner panels to one', async () => {
    const owners = dashboards.find((d) => d.uid === 'probefleet-tcp-owners')!;
    const vars = await resolveVariables(owners, {}, range());
    expect(vars.get('namespace')!.options).toEqual(['(no pod)', 'shop']);
    const result = (r: Awaited<ReturnType<typeof runPanels>>, title: string) => r.panels.find((p) => p.key.endsWith(`/${title}`))!.result;
    const noPod = await runPanels(owners, { namespace: ['(no pod)'] });
    expect(result(noPod, 'Failed connects by pod').rows).toEqual([]);
    expect(new Set(result(noPod, 'Transitions by comm').rows.map((r) => r['metric']))).toEqual(new Set(['postgres', '(unknown)']));
    const shopOnDb = await runPanels(owners, { namespace: ['shop'], host: ['db-1'] });
    expect(result(shopOnDb, 'Top talkers by bytes (tcplife)').rows).toEqual([]);
  });

  it('narrows to one host, to several states and to one port', async () => {
    const [transitions, connections] = ['probefleet-tcp-transitions', 'probefleet-tcp-connections'].map((uid) => dashboards.find((d) => d.uid === uid)!);
    const result = (r: Awaited<ReturnType<typeof runPanels>>, title: string) => r.panels.find((p) => p.key.endsWith(`/${title}`))!.result;

    const dbOnly = await runPanels(transitions!, { host: ['db-1'] });
    expect(new Set(result(dbOnly, 'Transitions per second by new state').rows.map((r) => r['metric']))).toEqual(new Set(['TCP_LISTEN', 'TCP_SYN_RECV', 'TCP_ESTABLISHED', 'TCP_CLOSE_WAIT', 'TCP_LAST_ACK', 'TCP_CLOSE']));
    expect(result(dbOnly, 'Top remote endpoints (connect attempts)').rows).toEqual([]);

    const states = await runPanels(transitions!, { host: ['web-1', 'db-1'], state: ['TCP_CLOSE', 'TCP_SYN_SENT'] });
    expect(new Set(result(states, 'Transitions per second by new state').rows.map((r) => r['metric']))).toEqual(new Set(['TCP_CLOSE', 'TCP_SYN_SENT']));
    expect(new Set(result(states, 'Time in state (ms)').rows.map((r) => r['state']))).toEqual(new Set(['TCP_SYN_SENT']));

    const port = await runPanels(connections!, { port: ['5432'] });
    const lifetimes = result(port, 'Connection lifetimes (tcplife)').rows;
    expect(lifetimes.map((r) => [r['host'], r['local_port'], r['remote_port']]).sort()).toEqual([['db-1', 5432, 41000], ['web-1', 0, 5432]]);
  });
});
