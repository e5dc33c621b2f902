// Binary reader for the per-cpu ring buffer (`per_cpu/cpuN/trace_pipe_raw`), decoded with the
// events' `format` files like trace-cmd/libtraceevent do. Used where the text output loses data
// (inet_sock_set_state prints no skaddr) and because it is cheaper than text.
//
// Sub-buffer (kernel/trace/ring_buffer.c, struct buffer_data_page; offsets from header_page):
//   u64 time_stamp; local_t commit (data length | RB_MISSED_EVENTS 1<<31 | RB_MISSED_STORED 1<<30);
//   data: events, then — when RB_MISSED_STORED — an unsigned long count of lost events.
// Event header: u32 type_len:5 | time_delta:27 (little-endian; big-endian kernels are not supported):
//   0       data, length in array[0] (including itself), payload from array[1]
//   1..28   data, payload of type_len*4 bytes from array[0]
//   29      padding: time_delta 0 = rest of the page is empty, else a discarded event of array[0] bytes
//   30      time extend: delta = array[0] << 27 | time_delta
//   31      absolute time stamp: array[0] << 27 | time_delta, top 5 bits from the running time
import { constants, readSync } from 'node:fs';
import { open, readdir, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { parseEventFormat, parseHeaderPage, type EventFormat, type FormatField, type HeaderPage } from './format';
import { errnoCode, sleep, type StreamOptions } from './instance';
import { decodeFlags, type TraceFlags } from './parser';

export type RawValue = number | bigint | string | Uint8Array | number[] | bigint[];
export type RawFields = Record<string, RawValue>;

export interface RawRecord {
  kind: 'event';
  cpu: number;
  /** Ring-buffer clock value (with trace_clock `mono`: CLOCK_MONOTONIC ns). */
  timestampNs: bigint;
  eventId: number;
  /** Event name from the format file (`inet_sock_set_state`). */
  event: string;
  pid: number;
  /** Shared, frozen objects: one per distinct (common_flags, common_preempt_count). */
  flags: Readonly<TraceFlags>;
  /** Event fields (not the common_* ones), decoded by type; see RawValue. */
  fields: RawFields;
}

/** The kernel dropped events on `cpu` before `timestampNs` (ring buffer full in overwrite mode). */
export interface RawLost {
  kind: 'lost';
  cpu: number;
  timestampNs: bigint;
  /** Null when the kernel flagged the loss but had no room in the page to store the count. */
  count: number | null;
}

export type RawItem = RawRecord | RawLost;

const TYPE_DATA_MAX = 28;
const TYPE_PADDING = 29;
const TYPE_TIME_EXTEND = 30;
const MISSED_EVENTS = 0x80000000;
const MISSED_STORED = 0x40000000;
const COMMIT_MASK = (1 << 27) - 1;
const TS_MSB = 0xf8n << 56n;
const TWO_32 = 0x1_0000_0000;
/** Common header every event starts with: u16 type, u8 flags, u8 preempt_count, s32 pid. */
const COMMON_SIZE = 8;

type Reader = (v: DataView, b: Buffer, base: number) => RawValue;

function hexPointer(hi: number, lo: number): string {
  return hi === 0 ? `0x${lo.toString(16)}` : `0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')}`;
}

function cString(b: Buffer, start: number, end: number): string {
  const nul = b.indexOf(0, start);
  return b.toString('utf8', start, nul !== -1 && nul < end ? nul : end);
}

function scalarReader(size: number, signed: boolean, at: number): Reader {
  switch (size) {
    case 1:
      return signed ? (v, _b, p) => v.getInt8(p + at) : (v, _b, p) => v.getUint8(p + at);
    case 2:
      return signed ? (v, _b, p) => v.getInt16(p + at, true) : (v, _b, p) => v.getUint16(p + at, true);
    case 4:
      return signed ? (v, _b, p) => v.getInt32(p + at, true) : (v, _b, p) => v.getUint32(p + at, true);
    default:
      return signed ? (v, _b, p) => v.getBigInt64(p + at, true) : (v, _b, p) => v.getBigUint64(p + at, true);
  }
}

/**
 * `count` elements from byte `start`: unsigned bytes as a copied Uint8Array (the page buffer is
 * reused), wider or signed elements as numbers/bigints read by `one`.
 */
function readElements(v: DataView, b: Buffer, start: number, count: number, size: number, one: Reader | null): Uint8Array | number[] | bigint[] {
  if (one === null) {
    const out = new Uint8Array(count);
    for (let i = 0; i < count; i++) out[i] = b[start + i] as number;
    return out;
  }
  const out: RawValue[] = [];
  for (let i = 0; i < count; i++) out.push(one(v, b, start + i * size));
  return out as number[] | bigint[];
}

function elementReader(f: FormatField): Reader | null {
  return f.elementSize === 1 && !f.signed ? null : scalarReader(f.elementSize, f.signed, 0);
}

function fieldReader(f: FormatField): Reader {
  const at = f.offset;
  switch (f.kind) {
    case 'int':
      return scalarReader(f.size, f.signed, at);
    case 'pointer':
      return f.size === 8
        ? (v, _b, p) => hexPointer(v.getUint32(p + at + 4, true), v.getUint32(p + at, true))
        : (v, _b, p) => hexPointer(0, v.getUint32(p + at, true));
    case 'string':
      return (_v, b, p) => cString(b, p + at, p + at + f.size);
    case 'array': {
      const count = f.arrayLength ?? 0;
      const one = elementReader(f);
      return (v, b, p) => readElements(v, b, p + at, count, f.elementSize, one);
    }
    case 'dynamic': {
      // u32: offset (low 16 bits) and length (high 16) of the data inside the record.
      const from = f.relative ? at + f.size : 0;
      const text = /\bchar\[\]$/.test(f.type) && !/unsigned/.test(f.type);
      const one = elementReader(f);
      return (v, b, p) => {
        const loc = v.getUint32(p + at, true);
        const start = p + from + (loc & 0xffff);
        const len = loc >>> 16;
        return text ? cString(b, start, start + len) : readElements(v, b, start, Math.floor(len / f.elementSize), f.elementSize, one);
      };
    }
  }
}

interface CompiledEvent {
  name: string;
  names: string[];
  readers: Reader[];
}

function compile(format: EventFormat): CompiledEvent {
  const common = new Map(format.commonFields.map((f) => [f.name, f.offset]));
  const expected: [string, number][] = [['common_type', 0], ['common_flags', 2], ['common_preempt_count', 3], ['common_pid', 4]];
  for (const [name, offset] of expected) {
    if (common.get(name) !== offset) throw new RangeError(`${format.name}: ${name} is not at offset ${offset}`);
  }
  return { name: format.name, names: format.fields.map((f) => f.name), readers: format.fields.map(fieldReader) };
}

const flagsCache = new Map<number, Readonly<TraceFlags>>();

/**
 * common_flags/common_preempt_count → the flags column the kernel prints (trace_print_lat_fmt),
 * decoded by decodeFlags() so raw and text records carry the same shape.
 */
export function rawFlags(flags: number, preemptCount: number): Readonly<TraceFlags> {
  const key = (flags << 8) | preemptCount;
  let cached = flagsCache.get(key);
  if (cached === undefined) {
    const irqsOff = flags & 0x01;
    const bhOff = flags & 0x80;
    const irq = irqsOff && bhOff ? 'D' : irqsOff ? 'd' : bhOff ? 'b' : '.';
    const resched = ['.', 'l', 'n', 'b', 'p', 'L', 'N', 'B'][((flags >> 1) & 1) | ((flags >> 1) & 2) | ((flags >> 3) & 4)] as string;
    const nmi = flags & 0x40;
    const hard = flags & 0x08;
    const soft = flags & 0x10;
    const hs = nmi && hard ? 'Z' : nmi ? 'z' : hard && soft ? 'H' : hard ? 'h' : soft ? 's' : '.';
    const depth = preemptCount & 0xf ? (preemptCount & 0xf).toString(16) : '.';
    const migrate = preemptCount >> 4 ? (preemptCount >> 4).toString(16) : '.';
    cached = Object.freeze(decodeFlags(`${irq}${resched}${hs}${depth}${migrate}`));
    flagsCache.set(key, cached);
  }
  return cached;
}

export class RawPageError extends Error {
  constructor(cpu: number, reason: string) {
    super(`cpu${cpu}: bad ring-buffer page: ${reason}`);
    this.name = 'RawPageError';
  }
}

/** Decodes sub-buffer pages; one compiled field list per event id. */
export class RawPageDecoder {
  /** Records whose event id has no format (not enabled through this decoder); skipped. */
  unknownRecords = 0;
  private readonly events: (CompiledEvent | undefined)[] = [];
  private view: DataView | null = null;
  private viewOf: Buffer | null = null;

  constructor(
    readonly header: HeaderPage,
    formats: Iterable<EventFormat> = [],
  ) {
    if (header.commitSize !== 8 || header.timestampSize !== 8) throw new RangeError('only 64-bit kernels are supported');
    for (const f of formats) this.addFormat(f);
  }

  addFormat(format: EventFormat): void {
    this.events[format.id] = compile(format);
  }

  /**
   * Appends the page's items to `out` in order: a RawLost first when the kernel flagged missed
   * events, then the records. `page` is a whole sub-buffer; the commit word bounds the data.
   */
  decodePage(page: Buffer, cpu: number, out: RawItem[]): void {
    if (page !== this.viewOf) {
      this.view = new DataView(page.buffer, page.byteOffset, page.byteLength);
      this.viewOf = page;
    }
    const v = this.view as DataView;
    const h = this.header;
    const commitWord = v.getUint32(h.commitOffset, true);
    const length = commitWord & COMMIT_MASK;
    const start = h.dataOffset;
    const end = start + length;
    if (end > page.length) throw new RawPageError(cpu, `commit ${length} beyond the page`);
    // Running time: a bigint base plus a small number of summed 27-bit deltas (cheap to add).
    let base = v.getBigUint64(h.timestampOffset, true);
    let delta = 0;
    if (commitWord & MISSED_EVENTS) {
      let count: number | null = null;
      if (commitWord & MISSED_STORED) {
        if (end + 8 > page.length) throw new RawPageError(cpu, 'missed-events count beyond the page');
        count = v.getUint32(end + 4, true) * TWO_32 + v.getUint32(end, true);
      }
      out.push({ kind: 'lost', cpu, timestampNs: base, count });
    }
    let p = start;
    while (p + 4 <= end) {
      const word = v.getUint32(p, true);
      const type = word & 31;
      const timeDelta = word >>> 5;
      let data: number;
      let size: number;
      if (type === 0) {
        data = p + 8;
        size = ((v.getUint32(p + 4, true) - 4 + 3) & ~3) >>> 0;
      } else if (type <= TYPE_DATA_MAX) {
        data = p + 4;
        size = type * 4;
      } else if (type === TYPE_PADDING) {
        if (timeDelta === 0) break;
        // A discarded event: later deltas count from its time, so its delta still applies.
        delta += timeDelta;
        p += 4 + v.getUint32(p + 4, true);
        continue;
      } else {
        const stamp = (BigInt(v.getUint32(p + 4, true)) << 27n) | BigInt(timeDelta);
        if (type === TYPE_TIME_EXTEND) {
          base += BigInt(delta) + stamp;
        } else {
          // Absolute stamps lack the 5 most significant bits: take them from the running time.
          const now = base + BigInt(delta);
          base = stamp | (now & TS_MSB);
          if (base < now && now & TS_MSB) base += 1n << 59n;
        }
        delta = 0;
        p += 8;
        continue;
      }
      delta += timeDelta;
      p = data + size;
      if (p > end) throw new RawPageError(cpu, `event at ${data - start} overruns commit ${length}`);
      if (size < COMMON_SIZE) continue;
      const id = v.getUint16(data, true);
      const ev = this.events[id];
      if (ev === undefined) {
        this.unknownRecords++;
        continue;
      }
      const fields: RawFields = {};
      const { names, readers } = ev;
      for (let i = 0; i < readers.length; i++) fields[names[i] as string] = (readers[i] as Reader)(v, page, data);
      out.push({
        kind: 'event',
        cpu,
        timestampNs: delta === 0 ? base : base + BigInt(delta),
        eventId: id,
        event: ev.name,
        pid: v.getInt32(data + 4, true),
        flags: rawFlags(v.getUint8(data + 2), v.getUint8(data + 3)),
        fields,
      });
    }
  }
}

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
    for (let i = 0; i < queues.length; i++) {
      const h = heads[i] as number;
      if (h > 1024 && h * 2 > (queues[i] as RawItem[]).length) {
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
  static async open(instanceDir: string, events?: string[]): Promise<RawTraceReader> {
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
    return new RawTraceReader(instanceDir, cpus, pageSize, new RawPageDecoder(header, formats));
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
  private readCpu(fh: FileHandle, cpu: number, page: Buffer, out: RawItem[], maxPages: number): boolean {
    let any = false;
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
      any = true;
    }
    return any;
  }

  /**
   * Merged items in batches as they arrive. Files are opened O_NONBLOCK (see
   * TracingInstance.batches()); ends when `signal` aborts (after emitting what it still holds)
   * or the consumer stops iterating.
   */
  async *batches(opts: RawStreamOptions = {}): AsyncGenerator<RawItem[], void, undefined> {
    const pollMs = opts.pollMs ?? 50;
    const windowMs = opts.mergeWindowMs ?? Math.max(100, 2 * pollMs);
    const fhs = await this.openPipes();
    const page = Buffer.allocUnsafe(this.pageSize);
    const merge = new CpuMerge(this.cpus.length);
    try {
      while (!opts.signal?.aborted) {
        let any = false;
        for (let i = 0; i < fhs.length; i++) {
          const items: RawItem[] = [];
          if (this.readCpu(fhs[i] as FileHandle, this.cpus[i] as number, page, items, MAX_PAGES_PER_ROUND)) any = true;
          merge.push(i, items, performance.now());
        }
        const out = merge.take(performance.now(), windowMs, false);
        if (out.length > 0) yield out;
        if (!any) await sleep(pollMs, opts.signal);
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
