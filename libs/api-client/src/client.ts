// The probefleet HTTP API from anywhere (a laptop, a CI job): JSON GETs (and the few writes) with the bearer token, and
// keyset pagination that follows nextCursor. Errors carry the server's message (a 400 names the
// parameter) or the network's, for the CLI to print.

export interface ClientOptions {
  /** Base URL of an aggregator, e.g. http://aggregator:8080. */
  url: string;
  token?: string | undefined;
  /** Replaces the global fetch (tests, proxies). */
  fetch?: typeof fetch;
}

export type QueryValue = string | number | boolean | undefined;
export type Query = Record<string, QueryValue>;

/** A request that failed: the HTTP status (0 for the network) and why. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface Page<T> { items: T[]; nextCursor?: string | null }

export class ApiClient {
  readonly base: URL;
  private readonly doFetch: typeof fetch;

  constructor(private readonly options: ClientOptions) {
    try {
      this.base = new URL(options.url);
    } catch {
      throw new ApiError(0, `not a URL: ${options.url}`);
    }
    if (!/^https?:$/.test(this.base.protocol)) throw new ApiError(0, `expected an http:// or https:// URL, got ${options.url}`);
    this.doFetch = options.fetch ?? fetch;
  }

  url(path: string, query: Query = {}): URL {
    const url = new URL(path.replace(/^\//, ''), this.base.href.endsWith('/') ? this.base : new URL(`${this.base.href}/`));
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { accept: 'application/json', ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}), ...extra };
  }

  /** fetch with the token; a network failure is an ApiError (status 0) naming the URL. */
  async request(path: string, query: Query = {}, init: { headers?: Record<string, string>; signal?: AbortSignal; method?: string; body?: string } = {}): Promise<Response> {
    const url = this.url(path, query);
    let res: Response;
    try {
      res = await this.doFetch(url, {
        headers: this.headers(init.headers),
        ...(init.signal ? { signal: init.signal } : {}),
        ...(init.method ? { method: init.method } : {}),
        ...(init.body !== undefined ? { body: init.body } : {}),
      });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new ApiError(0, `${url.origin}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
    if (!res.ok) throw new ApiError(res.status, `${res.status} ${res.statusText}: ${await errorMessage(res)}`);
    return res;
  }

  async get<T>(path: string, query: Query = {}): Promise<T> {
    const res = await this.request(path, query);
    return (await res.json()) as T;
  }

  /** A write (PUT, DELETE) with a text body of `type`; the JSON answer. */
  async send<T>(method: 'PUT' | 'DELETE', path: string, body?: { text: string; type: string }): Promise<T> {
    const res = await this.request(path, {}, { method, ...(body ? { body: body.text, headers: { 'content-type': body.type } } : {}) });
    return (await res.json()) as T;
  }

  /**
   * Items of a keyset-paged endpoint: up to `limit` (one request when it fits in a page), or every
   * page with `all`. Pages are fetched as they are consumed, so `--all` streams in constant memory.
   */
  async *items<T>(path: string, query: Query, opts: { limit?: number; all?: boolean; pageSize?: number } = {}): AsyncGenerator<T> {
    const pageSize = opts.pageSize ?? 1000;
    let left = opts.all ? Infinity : (opts.limit ?? 100);
    let cursor: string | undefined;
    do {
      const size = Math.min(pageSize, left);
      const page = await this.get<Page<T>>(path, { ...query, limit: size, cursor });
      for (const item of page.items) {
        if (left-- <= 0) return;
        yield item;
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined && left > 0);
  }
}

async function errorMessage(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { message?: unknown };
    if (typeof body.message === 'string') return body.message;
    if (Array.isArray(body.message)) return body.message.join('; ');
  } catch {
    // not JSON: the text itself
  }
  return text.slice(0, 500) || 'no message';
}
