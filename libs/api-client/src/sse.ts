// A Server-Sent Events client for the stream endpoints: follows one, and when the connection drops
// reconnects with Last-Event-ID (the last event it handed out), so the caller sees every row once.
// A `cutoff` event (the server found this client too slow) is handed out like any other: the
// caller chooses to resume or stop.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { ApiError, type ApiClient, type Query } from './client';

export interface StreamEvent { id: string | undefined; event: string; data: string }

export interface FollowOptions {
  lastEventId?: string | undefined;
  /** Reconnect after a dropped connection (not after an HTTP error). Default true. */
  reconnect?: boolean;
  /** Delay before a reconnect; the server's `retry:` overrides it. */
  retryMs?: number;
  signal?: AbortSignal;
}

export async function* follow(client: ApiClient, path: string, query: Query = {}, opts: FollowOptions = {}): AsyncGenerator<StreamEvent> {
  let lastEventId = opts.lastEventId;
  let retryMs = opts.retryMs ?? 1000;
  let connected = false;
  for (;;) {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    let dropped: Error | undefined;
    try {
      const res = await client.request(path, query, { headers, ...(opts.signal ? { signal: opts.signal } : {}) });
      if (!res.body) throw new ApiError(0, 'the stream has no body');
      connected = true;
      const queue: EventSourceMessage[] = [];
      const parser = createParser({ onEvent: (m) => queue.push(m), onRetry: (ms) => (retryMs = ms) });
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        parser.feed(decoder.decode(chunk, { stream: true }));
        while (queue.length > 0) {
          const m = queue.shift()!;
          if (m.id !== undefined) lastEventId = m.id;
          yield { id: m.id, event: m.event ?? 'message', data: m.data };
        }
      }
    } catch (err) {
      // Refused outright (an HTTP error, or no server at the first try): the caller's to report.
      if (opts.signal?.aborted || (err instanceof ApiError && (err.status !== 0 || !connected))) throw err;
      dropped = err as Error;
    }
    if (opts.reconnect === false || opts.signal?.aborted) {
      if (dropped) throw new ApiError(0, `stream ${path}: ${dropped.message}`);
      return;
    }
    await new Promise((r) => setTimeout(r, retryMs));
  }
}
