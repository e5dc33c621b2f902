import { parse } from 'csv-parse/sync';
import { createWriter, formatTime, type Column } from './output';

type Row = { id: string; reason: string; at: string | null };
const columns: Column<Row>[] = [
  { header: 'ID', value: (r) => r.id },
  { header: 'AT', value: (r, ctx) => formatTime(r.at, ctx.utc) },
  { header: 'REASON', value: (r) => r.reason, wide: true },
];
const rows: Row[] = [
  { id: '1', reason: 'a "quoted", comma\nand newline', at: '2026-11-25T10:00:00.123456Z' },
  { id: '2', reason: '', at: null },
];

function render(format: Parameters<typeof createWriter>[0], utc = true): string {
  let out = '';
  const w = createWriter(format, columns, { write: (s: string) => (out += s) }, { utc });
  rows.forEach((r) => w.row(r));
  w.end();
  return out;
}

test('csv quotes what needs quoting and parses back', () => {
  expect(parse(render('csv'), { columns: true })).toEqual([
    { ID: '1', AT: '2026-11-25T10:00:00.123456Z', REASON: 'a "quoted", comma and newline' },
    { ID: '2', AT: '', REASON: '' },
  ]);
});

test('json is one array and ndjson one object a line, the items unchanged', () => {
  expect(JSON.parse(render('json'))).toEqual(rows);
  expect(render('ndjson').trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual(rows);
  let empty = '';
  createWriter('json', columns, { write: (s: string) => (empty += s) }, { utc: true }).end();
  expect(JSON.parse(empty)).toEqual([]);
});

test('table names the zone, leaves wide columns out, and shows an empty cell as -', () => {
  expect(render('table').split('\n')).toEqual(['# times in UTC', 'ID  AT', '1   2026-11-25T10:00:00.123456Z', '2   -', '']);
  expect(render('wide').split('\n')[1]).toBe('ID  AT                           REASON');
});

test('local time keeps the microseconds and says its offset (the CLI test runs it under another TZ)', () => {
  expect(formatTime('2026-11-25T10:00:00.123456Z', false)).toMatch(/^2026-11-2[45]T\d\d:\d\d:00\.123456[+-]\d\d:\d\d$/);
  expect(formatTime('2026-11-25T10:00:00.123456Z', true)).toBe('2026-11-25T10:00:00.123456Z');
});
