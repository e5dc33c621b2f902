// Reading an instance's per-cpu trace_pipe_raw files: pages decoded by RawPageDecoder (raw.ts),
// merged across CPUs in time order.
import { constants, readSync } from 'node:fs';
import { open, readdir, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { parseEventFormat, parseHeaderPage } from './format';
import { errnoCode, sleep, type StreamOptions } from './instance';
import { RawPageDecoder, RawPageError, type DecoderFactory, type RawItem } from './raw';

export interface RawStreamOptions extends Pick<StreamOptions, 'signal' | 'pollMs'> {
  /**
   * Longest time (ms) a record waits for older records from other CPUs before it is emitted
   * anyway; default max(100, 2 × pollMs).
   */
  mergeWindowMs?: number;
}

/** Pages read from one CPU per poll round at most, so a busy CPU cannot starve the others. */
const MAX_PAGES_PER_ROUND = 256;

/**
 * k-way merge of per-cpu streams (each already in time order). The oldest head is emitted when
 * every CPU has something queued (nothing older can still come from them) or when it has waited
 * `windowMs` since it was read: an event is read within about one poll round of being written, so
 * a window of a few rounds keeps the output in order without holding records indefinitely when a
 * CPU is idle. Only a writer stalled between reserve and commit for longer than that can still
 * produce an out-of-order record.
 */
class CpuMerge {
  private readonly queues: RawItem[][];
  private readonly readAt: number[][];
  private readonly heads: number[];

  constructor(cpus: number) {
    this.queues = Array.from({ length: cpus }, () => []);
    this.readAt = Array.from({ length: cpus }, () => []);
    this.heads = new Array<number>(cpus).fill(0);
  }

  push(i: number, items: RawItem[], now: number): void {
    const q = this.queues[i] as RawItem[];
    const at = this.readAt[i] as number[];
    for (const item of items) {
      q.push(item);
      at.push(now);
    }
  }

  /** Items safe to emit at `now` (everything when `all`), oldest first. */
  take(now: number, windowMs: number, all: boolean): RawItem[] {
    const out: RawItem[] = [];
    const { queues, readAt, heads } = this;
    for (;;) {
      let best = -1;
      let bestTs = 0n;
      let everyCpu = true;
      for (let i = 0; i < queues.length; i++) {
        const item = (queues[i] as RawItem[])[heads[i] as number];
        if (item === undefined) everyCpu = false;
        else if (best === -1 || item.timestampNs < bestTs) {
          best = i;
          bestTs = item.timestampNs;
        }
      }
      if (best === -1) break;
      const h = heads[best] as number;
      if (!all && !everyCpu && now - ((readAt[best] as number[])[h] as number) < windowMs) break;
      out.push((queues[best] as RawItem[])[h] as RawItem);
      heads[best] = h + 1;
    }
    // Taken items are let go at once when a queue is emptied (the usual case): held until a later
    // round, every record outlived young-generation collections and was promoted, and the old
    // generation (the agent's RSS) grew with garbage.
    for (let i = 0; i < queues.length; i++) {
      const h = heads[i] as number;
      if (h > 0 && h === (queues[i] as RawItem[]).length) {
        (queues[i] as RawItem[]).length = 0;
        (readAt[i] as number[]).length = 0;
        heads[i] = 0;
      } else if (h > 1024 && h * 2 > (queues[i] as RawItem[]).length) {
        (queues[i] as RawItem[]).splice(0, h);
        (readAt[i] as number[]).splice(0, h);
        heads[i] = 0;
      }
    }
    return out;
  }
}

/**
 * Reads an instance's per-cpu `trace_pipe_raw` files (consuming reads), decoding with the formats
 * of the given events, merged in time order across CPUs.
 */
export class RawTraceReader {
  private constructor(
    readonly dir: string,
    readonly cpus: number[],
    readonly pageSize: number,
    readonly decoder: RawPageDecoder,
  ) {}

  /**
   * `events` as `group:event` (set_event syntax); default: the instance's enabled events
   * (`set_event`), so enable them before opening.
   */
  static async open(instanceDir: string, events?: string[], decoders?: ReadonlyMap<string, DecoderFactory>): Promise<RawTraceReader> {
    const header = parseHeaderPage(await readFile(join(instanceDir, 'events', 'header_page'), 'utf8'));
    // buffer_subbuf_size_kb (6.8+) is authoritative; older kernels have fixed page-sized sub-buffers.
    const kb = await readFile(join(instanceDir, 'buffer_subbuf_size_kb'), 'utf8').catch(() => null);
    const pageSize = kb === null ? header.dataOffset + header.dataSize : Number(kb.trim()) * 1024;
    const names = events ?? (await readFile(join(instanceDir, 'set_event'), 'utf8')).split('\n').filter((l) => l.trim() !== '');
    const formats = await Promise.all(
      names.map(async (n) => {
        const m = /^([A-Za-z_][A-Za-z0-9_]*):([A-Za-z_][A-Za-z0-9_]*)$/.exec(n.trim());
        if (!m?.[1] || !m[2]) throw new RangeError(`bad event name ${JSON.stringify(n)}`);
        return parseEventFormat(await readFile(join(instanceDir, 'events', m[1], m[2], 'format'), 'utf8'));
      }),
    );
    const cpus = (await readdir(join(instanceDir, 'per_cpu')))
      .filter((d) => /^cpu[0-9]+$/.test(d))
      .map((d) => Number(d.slice(3)))
      .sort((a, b) => a - b);
    return new RawTraceReader(instanceDir, cpus, pageSize, new RawPageDecoder(header, formats, decoders));
  }

  private openPipes(): Promise<FileHandle[]> {
    return Promise.all(
      this.cpus.map((c) => open(join(this.dir, 'per_cpu', `cpu${c}`, 'trace_pipe_raw'), constants.O_RDONLY | constants.O_NONBLOCK)),
    );
  }

  /**
   * Reads and decodes up to `maxPages` whole pages from one CPU; false when it had nothing. The fd
   * is non-blocking, so a synchronous read returns at once (a page or EAGAIN): one syscall per
   * page and no promise, instead of a thread-pool round trip per page.
   */
  private readCpu(fh: FileHandle, cpu: number, page: Buffer, out: RawItem[], maxPages: number): number {
    let pages = 0;
    for (let i = 0; i < maxPages; i++) {
      let n: number;
      try {
        n = readSync(fh.fd, page, 0, page.length, null);
      } catch (e) {
        if (errnoCode(e) !== 'EAGAIN') throw e;
        break;
      }
      if (n <= 0) break;
      if (n !== page.length) throw new RawPageError(cpu, `short read of ${n} bytes (page size ${page.length})`);
      this.decoder.decodePage(page, cpu, out);
      pages++;
    }
    return pages;
  }

  /**
   * Merged items in batches as they arrive. Files are opened O_NONBLOCK (see
   * TracingInstance.batches()); ends when `signal` aborts (after emitting what it still holds)
   * or the consumer stops iterating. A round reads every CPU, then sleeps `pollMs` unless a CPU
   * had more than a round's pages: the per-round costs (a failed read per CPU, a batch, a sink
   * write) are then paid per ~pollMs of events, not per page, and the kernel hands out full pages.
   */
  async *batches(opts: RawStreamOptions = {}): AsyncGenerator<RawItem[], void, undefined> {
    const pollMs = opts.pollMs ?? 50;
    const windowMs = opts.mergeWindowMs ?? Math.max(100, 2 * pollMs);
    const fhs = await this.openPipes();
    const page = Buffer.allocUnsafe(this.pageSize);
    const merge = new CpuMerge(this.cpus.length);
    try {
      while (!opts.signal?.aborted) {
        let behind = false;
        for (let i = 0; i < fhs.length; i++) {
          const items: RawItem[] = [];
          if (this.readCpu(fhs[i] as FileHandle, this.cpus[i] as number, page, items, MAX_PAGES_PER_ROUND) === MAX_PAGES_PER_ROUND) behind = true;
          merge.push(i, items, performance.now());
        }
        const out = merge.take(performance.now(), windowMs, false);
        if (out.length > 0) yield out;
        if (!behind) await sleep(pollMs, opts.signal);
      }
      const rest = merge.take(performance.now(), windowMs, true);
      if (rest.length > 0) yield rest;
    } finally {
      await Promise.all(fhs.map((fh) => fh.close()));
    }
  }

  /** One item at a time; see batches(). */
  async *records(opts: RawStreamOptions = {}): AsyncGenerator<RawItem, void, undefined> {
    for await (const batch of this.batches(opts)) yield* batch;
  }

  /**
   * Reads everything the per-cpu buffers still hold without waiting, merged (call after the
   * events are disabled and when no batches() reader is running).
   */
  async drain(): Promise<RawItem[]> {
    const fhs = await this.openPipes();
    const page = Buffer.allocUnsafe(this.pageSize);
    const merge = new CpuMerge(this.cpus.length);
    try {
      for (let i = 0; i < fhs.length; i++) {
        const items: RawItem[] = [];
        this.readCpu(fhs[i] as FileHandle, this.cpus[i] as number, page, items, Infinity);
        merge.push(i, items, 0);
      }
    } finally {
      await Promise.all(fhs.map((fh) => fh.close()));
    }
    return merge.take(0, 0, true);
  }
}
