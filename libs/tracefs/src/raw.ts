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
import type { EventFormat, FormatField, HeaderPage } from './format';
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
  /** Event fields (not the common_* ones), decoded by type; see RawValue. Empty with a RecordDecoder. */
  fields: RawFields;
  /** What the event's own RecordDecoder returned (undefined when decoded into `fields`). */
  decoded: unknown;
}

/**
 * Decodes one record straight from the page into what its consumer reports (a probe's args),
 * without the generic field map: `base` is where the record's common fields start. Must not throw;
 * null skips the record (counted in RawPageDecoder.skippedRecords).
 */
export type RecordDecoder = (v: DataView, page: Buffer, base: number) => unknown;
/** Compiles a RecordDecoder from the event's format (field offsets), once, when the reader opens. */
export type DecoderFactory = (format: EventFormat) => RecordDecoder;

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

const POINTER_BITS = 10;
/** Recently decoded pointers (a socket's address comes with each of its ~10 transitions) and their text. */
const pointerHi = new Uint32Array(1 << POINTER_BITS);
const pointerLo = new Uint32Array(1 << POINTER_BITS);
const pointerText: (string | undefined)[] = new Array<string | undefined>(1 << POINTER_BITS).fill(undefined);

/**
 * `0x…` of a pointer given as two u32 halves. A pointer seen recently gets the same string back:
 * a new one was a cons string that each consumer flattened and hashed again (the owner tracker's
 * map lookups by skaddr, the JSON encoder).
 */
export function hexPointer(hi: number, lo: number): string {
  const slot = Math.imul(hi ^ lo, 0x9e3779b1) >>> (32 - POINTER_BITS); // Fibonacci hashing
  const cached = pointerText[slot];
  if (cached !== undefined && pointerLo[slot] === lo && pointerHi[slot] === hi) return cached;
  const text = hi === 0 ? `0x${lo.toString(16)}` : `0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')}`;
  pointerText[slot] = text;
  pointerHi[slot] = hi;
  pointerLo[slot] = lo;
  return text;
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
  direct: RecordDecoder | undefined;
}

const NO_FIELDS: RawFields = Object.freeze({}) as RawFields;

function compile(format: EventFormat, factory?: DecoderFactory): CompiledEvent {
  const common = new Map(format.commonFields.map((f) => [f.name, f.offset]));
  const expected: [string, number][] = [['common_type', 0], ['common_flags', 2], ['common_preempt_count', 3], ['common_pid', 4]];
  for (const [name, offset] of expected) {
    if (common.get(name) !== offset) throw new RangeError(`${format.name}: ${name} is not at offset ${offset}`);
  }
  return { name: format.name, names: format.fields.map((f) => f.name), readers: format.fields.map(fieldReader), direct: factory?.(format) };
}

/** The generic field map of one event as a RecordDecoder (for decoders built on named fields). */
export function fieldsDecoder(format: EventFormat): (v: DataView, page: Buffer, base: number) => RawFields {
  const { names, readers } = compile(format);
  return (v, page, base) => {
    const fields: RawFields = {};
    for (let i = 0; i < readers.length; i++) fields[names[i] as string] = (readers[i] as Reader)(v, page, base);
    return fields;
  };
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
  /** Records their RecordDecoder skipped (returned null). */
  skippedRecords = 0;
  private readonly events: (CompiledEvent | undefined)[] = [];
  private view: DataView | null = null;
  private viewOf: Buffer | null = null;

  constructor(
    readonly header: HeaderPage,
    formats: Iterable<EventFormat> = [],
    /** Per event name: its own decoder (the rest get the generic field map). */
    decoders: ReadonlyMap<string, DecoderFactory> = new Map(),
  ) {
    if (header.commitSize !== 8 || header.timestampSize !== 8) throw new RangeError('only 64-bit kernels are supported');
    for (const f of formats) this.addFormat(f, decoders.get(f.name));
  }

  addFormat(format: EventFormat, decoder?: DecoderFactory): void {
    this.events[format.id] = compile(format, decoder);
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
      let fields = NO_FIELDS;
      let decoded: unknown;
      if (ev.direct !== undefined) {
        decoded = ev.direct(v, page, data);
        if (decoded === null) {
          this.skippedRecords++;
          continue;
        }
      } else {
        fields = {};
        const { names, readers } = ev;
        for (let i = 0; i < readers.length; i++) fields[names[i] as string] = (readers[i] as Reader)(v, page, data);
      }
      out.push({
        kind: 'event',
        cpu,
        timestampNs: delta === 0 ? base : base + BigInt(delta),
        eventId: id,
        event: ev.name,
        pid: v.getInt32(data + 4, true),
        flags: rawFlags(v.getUint8(data + 2), v.getUint8(data + 3)),
        fields,
        decoded,
      });
    }
  }
}
