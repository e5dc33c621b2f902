// What every query command shares: where the API is (--url / PROBEFLEET_URL, --token /
// PROBEFLEET_TOKEN), the output format (-o, --json), --utc, each resource's filter flags, and the
// exit codes: 0 done, 1 a server or network error (its message), 2 a bad flag (named).
import { Command, InvalidArgumentError, Option } from 'commander';
import { ApiClient, ApiError, FORMATS, type Filter, type Format, type Query } from '@probefleet/api-client';

export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

export interface QueryOptions { url?: string; token?: string; output: Format; json?: boolean; utc?: boolean; [flag: string]: unknown }

/** A usage error: exits 2. */
export class UsageError extends Error {}

export function withQueryOptions(cmd: Command, filters: readonly Filter[]): Command {
  cmd
    .option('--url <url>', 'aggregator base URL (default: $PROBEFLEET_URL or http://127.0.0.1:8080)')
    .option('--token <token>', 'API bearer token (default: $PROBEFLEET_TOKEN)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(FORMATS).default('table'))
    .option('--json', 'same as -o json')
    .option('--utc', 'times in UTC (default: local time)');
  for (const f of filters) {
    const option = new Option(`--${f.flag} <value>`, f.description);
    cmd.addOption(f.choices ? option.choices(f.choices) : option);
  }
  return cmd;
}

export function clientOf(o: QueryOptions): ApiClient {
  const url = o.url ?? process.env.PROBEFLEET_URL ?? 'http://127.0.0.1:8080';
  try {
    return new ApiClient({ url, token: o.token ?? process.env.PROBEFLEET_TOKEN });
  } catch (err) {
    throw new UsageError(`--url: ${(err as Error).message}`);
  }
}

export const formatOf = (o: QueryOptions): Format => (o.json ? 'json' : o.output);

/** The filter flags given, as the API's query parameters. */
export function filterQuery(o: QueryOptions, filters: readonly Filter[]): Query {
  const q: Query = {};
  for (const f of filters) {
    const key = f.flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (o[key] !== undefined) q[f.param] = String(o[key]);
  }
  return q;
}

export function positiveInt(flag: string) {
  return (value: string): number => {
    if (!/^\d{1,9}$/.test(value) || Number(value) < 1) throw new InvalidArgumentError(`${flag} expects a positive integer`);
    return Number(value);
  };
}

/**
 * Runs a query command's body with its exit code: a 400 from the server is a bad flag (the message
 * names the parameter, said here as the flag), any other API error is 1.
 */
export async function runQuery(filters: readonly Filter[], body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (err instanceof UsageError) return fail(EXIT_USAGE, err.message);
    if (err instanceof ApiError && err.status === 400) {
      let message = err.message.replace(/^400 [^:]*: /, '');
      for (const f of filters) message = message.replace(new RegExp(`(^|; )${f.param}:`, 'g'), `$1--${f.flag}:`);
      return fail(EXIT_USAGE, `bad flag: ${message}`);
    }
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return;
    fail(EXIT_ERROR, (err as Error).message);
  }
}

function fail(code: number, message: string): void {
  process.stderr.write(`probefleet: ${message}\n`);
  process.exitCode = code;
}
