// The query CLI (the built `probefleet` binary) against a real aggregator API over a seeded store:
// every -o format of every listing command parsed back, --all over several pages, times in local
// time or UTC as the header says, and the exit codes (2 naming a bad flag, 1 for a server error).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'csv-parse/sync';
import type { Event, TcpArgs } from '@probefleet/events';
import { seedFleet } from './api-seed';
import { startLiveAggregator, type LiveAggregator } from './live-app';
import { createMigratedDatabase, type TempDatabase } from './temp-database';
import { ingest } from './test-ingest';
import { record, testStream } from './streams';

const CLI = join(__dirname, '..', 'dist', 'cli.js');
const run = promisify(execFile);

let db: TempDatabase;
let api: LiveAggregator;

beforeAll(async () => {
  db = await createMigratedDatabase('live_cli');
  api = await startLiveAggregator(db.url, { apiTokens: 'cli-token' });
  await seedFleet(api.db as never);
  // 2,400 more transitions: --all must walk three pages of 1000.
  const s = testStream('cli-many');
  const events: Event[] = [];
  for (let i = 0; i < 1200; i++) {
    const ends = { skaddr: `0xffff8882${i.toString(16).padStart(8, '0')}`, sport: 20000 + i, dport: 5432 };
    const states: TcpArgs['oldstate'][] = ['TCP_CLOSE', 'TCP_SYN_SENT', 'TCP_ESTABLISHED'];
    for (let k = 0; k < 2; k++) events.push(s.tcp({ ...ends, oldstate: states[k]!, newstate: states[k + 1]! }));
  }
  // In messages of 400 events: one of all 2,400 would be over the 1 MiB message limit (an oversize dead letter).
  for (let i = 0; i < events.length; i += 400) await ingest(api.db as never, [record(events.slice(i, i + 400), 1, i)]);
});

afterAll(async () => {
  await api?.close();
  await db?.drop();
});

interface Result { code: number; stdout: string; stderr: string }

async function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      env: { ...process.env, PROBEFLEET_URL: api.url, PROBEFLEET_TOKEN: 'cli-token', TZ: 'UTC', ...env }, maxBuffer: 64 << 20,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function apiItems(path: string, paged: boolean): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let cursor: string | null = null;
  do {
    const url = new URL(path, api.url);
    for (const [k, v] of Object.entries({ ...(paged ? { limit: '1000' } : {}), ...(cursor ? { cursor } : {}) })) url.searchParams.set(k, v);
    const body = (await (await fetch(url, { headers: { authorization: 'Bearer cli-token' } })).json()) as { items: Record<string, unknown>[]; nextCursor?: string | null };
    items.push(...body.items);
    cursor = body.nextCursor ?? null;
  } while (cursor);
  return items;
}

/** A table back into rows by its columns: the header's names, cells split where two spaces or more part them. */
function parseTable(text: string): { zone: string; header: string[]; rows: Record<string, string>[] } {
  const [zoneLine, headerLine, ...lines] = text.trimEnd().split('\n');
  const header = headerLine!.split(/ {2,}/);
  return {
    zone: zoneLine!,
    header,
    rows: lines.map((l) => {
      const cells = l.split(/ {2,}/);
      expect(cells).toHaveLength(header.length);
      return Object.fromEntries(header.map((h, i) => [h, cells[i]!]));
    }),
  };
}

const LISTINGS: { command: string; path: string; key: string; column: string; paged: boolean }[] = [
  { command: 'transitions', path: '/api/v1/transitions', key: 'id', column: 'ID', paged: true },
  { command: 'connections', path: '/api/v1/connections', key: 'id', column: 'ID', paged: true },
  { command: 'agents', path: '/api/v1/agents', key: 'host', column: 'HOST', paged: false },
  { command: 'gaps', path: '/api/v1/gaps', key: 'id', column: 'ID', paged: true },
  { command: 'dead-letters', path: '/api/v1/dead-letters', key: 'id', column: 'ID', paged: true },
];

describe.each(LISTINGS)('probefleet $command', ({ command, path, key, column, paged }) => {
  let expected: Record<string, unknown>[];
  const all = paged ? ['--all'] : [];
  beforeAll(async () => { expected = await apiItems(path, paged); });

  test('has rows to show', () => expect(expected.length).toBeGreaterThan(0));

  test('-o json and --json: the API items, every page', async () => {
    for (const flag of [['-o', 'json'], ['--json']]) {
      const r = await cli([command, ...all, ...flag]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual(expected);
    }
  });

  test('-o ndjson: one item a line', async () => {
    const r = await cli([command, ...all, '-o', 'ndjson']);
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual(expected);
  });

  test('-o csv: a header and one record per item, parsed by csv-parse', async () => {
    const r = await cli([command, ...all, '-o', 'csv']);
    expect(r.code).toBe(0);
    const records = parse(r.stdout, { columns: true }) as Record<string, string>[];
    expect(records.map((x) => x[column])).toEqual(expected.map((x) => String(x[key])));
  });

  test('-o wide and -o table: the columns, one row per item, in UTC with --utc', async () => {
    const wide = parseTable((await cli([command, ...all, '-o', 'wide', '--utc'])).stdout);
    expect(wide.zone).toBe('# times in UTC');
    expect(wide.rows.map((x) => x[column])).toEqual(expected.map((x) => String(x[key])));
    const table = await cli([command, ...all]);
    expect(table.code).toBe(0);
    const parsed = parseTable(table.stdout);
    expect(parsed.rows).toHaveLength(expected.length);
    expect(parsed.header.length).toBeLessThan(wide.header.length);
  });

  if (paged) {
    test('--limit lists that many, newest first', async () => {
      const r = await cli([command, '--limit', '2', '-o', 'ndjson']);
      expect(r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l)[key])).toEqual(expected.slice(0, 2).map((x) => x[key]));
    });
  }
});

test('the transitions table is tcpstates: TIME HOST PID COMM LADDR LPORT RADDR RPORT OLDSTATE -> NEWSTATE MS, local time by default', async () => {
  const r = await cli(['transitions', '--host', 'cli-many', '--limit', '3'], { TZ: 'Asia/Kolkata' });
  const t = parseTable(r.stdout);
  expect(t.zone).toMatch(/^# times in local Asia\/(Kolkata|Calcutta) \+05:30$/);
  expect(t.header).toEqual(['TIME', 'HOST', 'PID', 'COMM', 'LADDR', 'LPORT', 'RADDR', 'RPORT', 'OLDSTATE', '->', 'NEWSTATE', 'MS']);
  expect(t.rows[0]).toMatchObject({ HOST: 'cli-many', PID: '100', COMM: 'curl', LADDR: '127.0.0.1', LPORT: '21199', RPORT: '5432', OLDSTATE: 'SYN_SENT', NEWSTATE: 'ESTABLISHED' });
  expect(t.rows[0]!.TIME).toMatch(/^2026-11-25T\d\d:\d\d:\d\d\.\d{6}\+05:30$/);
});

test('--all lists every transition of a host once, across pages', async () => {
  const r = await cli(['transitions', '--host', 'cli-many', '--all', '-o', 'ndjson']);
  const ids = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l).id as string);
  expect(ids).toHaveLength(2400);
  expect(new Set(ids).size).toBe(2400);
});

describe('exit codes', () => {
  test.each([
    [['transitions', '--bogus'], /unknown option '--bogus'/],
    [['transitions', '-o', 'xml'], /'-o, --output <format>' argument 'xml' is invalid/],
    [['connections', '--limit', 'ten'], /'--limit <n>' argument 'ten' is invalid/],
    [['transitions', '--new-state', 'TCP_NOPE'], /'--new-state <value>' argument 'TCP_NOPE' is invalid/],
    [['transitions', '--port', '70000'], /bad flag: --port: expected an integer 0\.\.65535/],
    [['transitions', '--saddr', '10.0.0.1/8'], /bad flag: --saddr: 10\.0\.0\.1\/8 has host bits set/],
    [['tail', '--url', 'ftp://x'], /--url: expected an http:\/\/ or https:\/\/ URL/],
  ])('%j exits 2 naming the flag', async (args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  test('a wrong token is a server error: exit 1 with its message', async () => {
    const r = await cli(['agents'], { PROBEFLEET_TOKEN: 'wrong' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/401 Unauthorized: expected Authorization: Bearer <token>/);
  });

  test('no server: exit 1 naming where', async () => {
    const r = await cli(['agents', '--url', 'http://127.0.0.1:9']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^probefleet: http:\/\/127\.0\.0\.1:9: /);
  });

  test('--version', async () => {
    const r = await cli(['--version']);
    expect(r).toMatchObject({ code: 0, stdout: '0.1.0\n' });
  });
});
