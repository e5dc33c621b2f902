// Listing output as SREs expect it: `table` (the columns that matter, aligned), `wide` (every
// column), `json` (one array), `ndjson` (one object a line, streamable) and `csv` (RFC 4180, a
// header line). Rows are written as they come, so `--all` over millions of rows stays in constant
// memory (a table aligns each screenful of rows, as `kubectl get -w` does, so it streams too).
import { stringify } from 'csv-stringify/sync';

export const FORMATS = ['table', 'wide', 'json', 'ndjson', 'csv'] as const;
export type Format = (typeof FORMATS)[number];

export interface Column<T> {
  header: string;
  value: (row: T, ctx: FormatContext) => string | number | boolean | null | undefined;
  /** Only in `wide`. */
  wide?: boolean;
}

export interface FormatContext { utc: boolean }

export interface Writer<T> {
  row(item: T): void;
  end(): void;
}

type Out = { write(s: string): unknown };

const TABLE_BLOCK = 50;

/** An RFC 3339 UTC time as local time (ISO-like, with its offset) or kept in UTC, to the microsecond. */
export function formatTime(iso: string | null | undefined, utc: boolean): string {
  if (iso === null || iso === undefined || iso === '') return '';
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$/.exec(iso);
  if (!m) return iso;
  const frac = m[2] ?? '';
  if (utc) return `${m[1]}${frac}Z`;
  const d = new Date(`${m[1]}Z`);
  const offMin = -d.getTimezoneOffset();
  const local = new Date(d.getTime() + offMin * 60000).toISOString().slice(0, 19);
  const sign = offMin < 0 ? '-' : '+';
  const abs = Math.abs(offMin);
  return `${local}${frac}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** The zone times are shown in, for headers: "UTC" or the local offset like "local +01:00". */
export function zoneName(utc: boolean): string {
  if (utc) return 'UTC';
  const off = -new Date().getTimezoneOffset();
  const abs = Math.abs(off);
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return `local ${zone} ${off < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

function cell(v: ReturnType<Column<unknown>['value']>): string {
  if (v === null || v === undefined) return '';
  return typeof v === 'string' ? v.replace(/[\t\r\n]/g, ' ') : String(v);
}

/**
 * A writer for a format. `table`/`wide` start with a line naming the time zone (`# times in UTC`),
 * then a header; json/ndjson write the API's items unchanged (times stay RFC 3339 UTC, as served);
 * csv writes the wide columns with times converted like the table.
 */
export function createWriter<T>(format: Format, columns: readonly Column<T>[], out: Out, ctx: FormatContext, opts: { header?: boolean } = {}): Writer<T> {
  switch (format) {
    case 'json': {
      let first = true;
      return {
        row(item) { out.write(`${first ? '[\n' : ',\n'}${JSON.stringify(item)}`); first = false; },
        end() { out.write(first ? '[]\n' : '\n]\n'); },
      };
    }
    case 'ndjson':
      return { row(item) { out.write(`${JSON.stringify(item)}\n`); }, end() {} };
    case 'csv': {
      out.write(stringify([columns.map((c) => c.header)]));
      return {
        row(item) { out.write(stringify([columns.map((c) => cell(c.value(item, ctx)))])); },
        end() {},
      };
    }
    case 'table':
    case 'wide': {
      const cols = format === 'wide' ? columns : columns.filter((c) => !c.wide);
      const widths = cols.map((c) => c.header.length);
      let block: string[][] = [];
      let headerDone = opts.header === false;
      const flush = () => {
        if (!headerDone) {
          for (const row of block) row.forEach((v, i) => (widths[i] = Math.max(widths[i]!, v.length)));
          out.write(`# times in ${zoneName(ctx.utc)}\n`);
          out.write(`${line(cols.map((c) => c.header), widths)}\n`);
          headerDone = true;
        }
        for (const row of block) {
          row.forEach((v, i) => (widths[i] = Math.max(widths[i]!, v.length)));
          out.write(`${line(row, widths)}\n`);
        }
        block = [];
      };
      return {
        row(item) {
          block.push(cols.map((c) => cell(c.value(item, ctx)) || '-'));
          if (block.length >= TABLE_BLOCK) flush();
        },
        end() { flush(); },
      };
    }
  }
}

function line(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((v, i) => (i === cells.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd();
}

/** Flushes the table after each row: for `tail`, where rows trickle in. */
export function createLiveWriter<T>(format: Format, columns: readonly Column<T>[], out: Out, ctx: FormatContext): Writer<T> {
  if (format !== 'table' && format !== 'wide') return createWriter(format, columns, out, ctx);
  const cols = format === 'wide' ? columns : columns.filter((c) => !c.wide);
  // Rows arrive one by one: fixed widths wide enough for the usual values, so columns stay aligned.
  const widths = cols.map((c) => Math.max(c.header.length, LIVE_WIDTHS[c.header] ?? 0));
  out.write(`# times in ${zoneName(ctx.utc)}\n${line(cols.map((c) => c.header), widths)}\n`);
  return {
    row(item) { out.write(`${line(cols.map((c) => cell(c.value(item, ctx)) || '-'), widths)}\n`); },
    end() {},
  };
}

const LIVE_WIDTHS: Record<string, number> = { TIME: 32, HOST: 12, PID: 7, COMM: 16, LADDR: 15, LPORT: 5, RADDR: 15, RPORT: 5, OLDSTATE: 16, NEWSTATE: 16 };
