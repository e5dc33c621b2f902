import type { z } from 'zod';
import {
  fitsKernelText,
  fitsUtf8,
  utf8Length,
  MAX_ARG_NAME_LEN,
  MAX_COMM_BYTES,
  MAX_HOST_BYTES,
  MAX_PROBE_NAME_LEN,
  MAX_STRING_ARG_BYTES,
  MAX_TRACE_ARGS,
} from './limits';
import {
  EVENT_SCHEMAS,
  EVENT_VERSION,
  isEventType,
  isMonoNs,
  MAX_CPU,
  MAX_PID,
  TIME_PATTERN,
  UUID_PATTERN,
  type Event,
} from './schemas';
import { isValidOwner } from './owner';

/** LifeSchema's bound on srttUs (the store's integer; the kernel's u32 srtt_us >> 3 stays below it). */
const MAX_SRTT_US = 2 ** 31 - 1;

export type DecodeFailureKind =
  | 'malformed'
  | 'unknown-version'
  | 'unknown-type'
  | 'mixed-stream'
  | 'not-consecutive'
  | 'oversize'
  | 'key-mismatch';

/**
 * Why bytes are not a valid event (or batch). `field` is the path of the offending field
 * ("data.args.sport", "[3].seq" in a batch), "" for the whole input. `unknown-version` and
 * `unknown-type` mean "maybe valid for someone newer": they go to the dead-letter store.
 */
export interface DecodeFailure {
  ok: false;
  kind: DecodeFailureKind;
  field: string;
  reason: string;
}

export type DecodeResult<T> = { ok: true; value: T } | DecodeFailure;

function failure(kind: DecodeFailureKind, field: string, reason: string): DecodeFailure {
  return { ok: false, kind, field, reason };
}

/** One line for logs and CLIs: `data.cpu: Invalid input: expected number, received string`. */
export function formatDecodeFailure(f: DecodeFailure): string {
  return `${f.field === '' ? '(event)' : f.field}: ${f.kind === 'malformed' ? '' : `${f.kind}: `}${f.reason}`;
}

export function encodeEvent(event: Event): string {
  return JSON.stringify(event);
}

/** Decodes one JSON event; never throws. */
export function decodeEvent(json: string): DecodeResult<Event> {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    return failure('malformed', '', `not JSON: ${(error as Error).message}`);
  }
  return unstorableText(json, value) ?? decodeEventValue(value);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * PostgreSQL's text and jsonb hold neither U+0000 nor half a UTF-16 surrogate pair, so an event
 * carrying one could never be stored: it is refused here (and dead-lettered) instead of failing its
 * whole batch's transaction again and again. Such strings only arrive as \u escapes in JSON (or in a
 * JS string), so the parsed value is walked only when the text has an escape.
 */
function unstorableText(text: string, parsed: unknown, fromBytes = false): DecodeFailure | undefined {
  // Text decoded from (valid) UTF-8 bytes cannot hold a raw lone surrogate: only escapes to look for.
  if (!text.includes('\\u') && (fromBytes || !LONE_SURROGATE.test(text))) return undefined;
  const walk = (x: unknown, path: string): DecodeFailure | undefined => {
    if (typeof x === 'string') {
      if (x.includes('\u0000')) return failure('malformed', path, 'contains U+0000, which PostgreSQL text cannot hold');
      if (LONE_SURROGATE.test(x)) return failure('malformed', path, 'contains half a UTF-16 surrogate pair, which is not Unicode text');
      return undefined;
    }
    if (typeof x !== 'object' || x === null) return undefined;
    for (const [key, v] of Object.entries(x)) {
      const at = Array.isArray(x) ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;
      const bad = walk(key, at) ?? walk(v, at);
      if (bad !== undefined) return bad;
    }
    return undefined;
  };
  return walk(parsed, '');
}

/** Validates an already parsed JSON value as an event; never throws. */
export function decodeEventValue(value: unknown): DecodeResult<Event> {
  if (!isRecord(value)) return failure('malformed', '', 'expected a JSON object');
  const { v, type } = value;
  if (v === undefined) return failure('malformed', 'v', 'required');
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) return failure('malformed', 'v', 'expected a positive integer');
  if (v !== EVENT_VERSION) return failure('unknown-version', 'v', `version ${v} is not supported (this reader knows ${EVENT_VERSION})`);
  if (typeof type !== 'string') return failure('malformed', 'type', 'expected a string');
  if (!isEventType(type)) return failure('unknown-type', 'type', `unknown event type "${type}"`);
  // Hits are nearly all of the traffic: a hand-written check avoids zod for them. It is never more
  // lenient than the schema; whatever it does not accept goes through zod for an exact diagnosis.
  if (type === 'probe.hit' && isValidHit(value)) return { ok: true, value: value as Event };
  const parsed = EVENT_SCHEMAS[type].safeParse(value);
  if (parsed.success) return { ok: true, value: parsed.data };
  return fromZodIssue(parsed.error.issues[0]);
}

function fromZodIssue(issue: z.core.$ZodIssue | undefined): DecodeFailure {
  if (issue === undefined) return failure('malformed', '', 'rejected by the schema');
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys' && issue.keys[0] !== undefined) path.push(issue.keys[0]);
  return failure('malformed', path.join('.'), issue.message);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function keyCount(o: object): number {
  let n = 0;
  for (const _ in o) n++;
  return n;
}

const isCount = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) >= 0;

/**
 * The probe.hit fast path of decodeEventValue (`v` and `type` already checked): true only for a hit
 * the schema accepts. Exported for the property tests that hold it to the schema.
 */
export function isValidHit(e: Record<string, unknown>): boolean {
  const { host, bootId, instance, seq, time, monoNs, data } = e;
  if (keyCount(e) !== (monoNs === undefined ? 8 : 9)) return false;
  if (typeof host !== 'string' || host.length === 0 || !fitsUtf8(host, MAX_HOST_BYTES)) return false;
  if (typeof bootId !== 'string' || !UUID_PATTERN.test(bootId)) return false;
  if (typeof instance !== 'string' || !UUID_PATTERN.test(instance)) return false;
  if (!Number.isSafeInteger(seq) || (seq as number) < 1) return false;
  if (typeof time !== 'string' || !TIME_PATTERN.test(time)) return false;
  if (monoNs !== undefined && (typeof monoNs !== 'string' || !isMonoNs(monoNs))) return false;
  if (!isRecord(data)) return false;
  const { probe, cpu, pid, comm, ctx, args, life, owner, attribution } = data;
  if (keyCount(data) !== 5 + (ctx === undefined ? 0 : 1) + (life === undefined ? 0 : 1) + (owner === undefined ? 0 : 1) + (attribution === undefined ? 0 : 1)) return false;
  if (life !== undefined && !isValidLife(life)) return false;
  // An owner exactly with attribution direct or socket (the schema's refinement).
  if (owner === undefined ? attribution === 'direct' || attribution === 'socket' : attribution !== 'direct' && attribution !== 'socket') return false;
  if (owner !== undefined && !isValidOwner(owner)) return false;
  if (attribution !== undefined && attribution !== 'direct' && attribution !== 'socket' && attribution !== 'unknown') return false;
  if (typeof probe !== 'string' || probe.length === 0 || !fitsUtf8(probe, MAX_PROBE_NAME_LEN)) return false;
  if (!isCount(cpu) || (cpu as number) > MAX_CPU || !isCount(pid) || (pid as number) > MAX_PID) return false;
  if (typeof comm !== 'string' || !fitsKernelText(comm, MAX_COMM_BYTES)) return false;
  if (ctx !== undefined && !isValidContext(ctx)) return false;
  if (!isRecord(args)) return false;
  let n = 0;
  for (const key in args) {
    const arg = args[key];
    if (++n > MAX_TRACE_ARGS || key === '' || !fitsUtf8(key, MAX_ARG_NAME_LEN)) return false;
    if (typeof arg === 'string') {
      if (!fitsKernelText(arg, MAX_STRING_ARG_BYTES)) return false;
    } else if (typeof arg === 'number' ? !Number.isFinite(arg) : arg !== null && typeof arg !== 'boolean') {
      return false;
    }
  }
  return true;
}

function isValidLife(life: unknown): boolean {
  if (!isRecord(life) || keyCount(life) !== 4) return false;
  const { txBytes, rxBytes, retrans, srttUs } = life;
  return isCount(txBytes) && isCount(rxBytes) && isCount(retrans) && isCount(srttUs) && (srttUs as number) <= MAX_SRTT_US;
}

function isValidContext(ctx: unknown): boolean {
  if (!isRecord(ctx) || keyCount(ctx) !== 6) return false;
  const { irqsOff, needResched, hardirq, softirq, nmi, preemptDepth } = ctx;
  return (
    typeof irqsOff === 'boolean' &&
    typeof needResched === 'boolean' &&
    typeof hardirq === 'boolean' &&
    typeof softirq === 'boolean' &&
    typeof nmi === 'boolean' &&
    isCount(preemptDepth) &&
    (preemptDepth as number) <= 255
  );
}

/** Kafka headers of a batch: which stream and which `seq` range it carries, without decoding the value. */
export interface BatchHeaders {
  v: string;
  host: string;
  instance: string;
  'seq-first': string;
  'seq-last': string;
}

/** Why events do not form one batch (one stream, `seq` strictly consecutive), or undefined when they do. */
function batchDefect(events: readonly Event[]): DecodeFailure | undefined {
  const first = events[0];
  if (first === undefined) return failure('malformed', '', 'a batch holds at least one event');
  for (let i = 1; i < events.length; i++) {
    const e = events[i] as Event;
    for (const field of ['host', 'instance', 'bootId'] as const) {
      if (e[field] !== first[field]) {
        return failure('mixed-stream', `[${i}].${field}`, `"${e[field]}" differs from the batch's "${first[field]}"`);
      }
    }
    if (e.seq !== first.seq + i) return failure('not-consecutive', `[${i}].seq`, `expected ${first.seq + i}, got ${e.seq}`);
  }
  return undefined;
}

function assertBatch(events: readonly Event[]): asserts events is readonly [Event, ...Event[]] {
  const defect = batchDefect(events);
  if (defect) throw new RangeError(`not a batch: ${formatDecodeFailure(defect)}`);
}

/** Encodes consecutive events of one stream as a Kafka message value (a JSON array); throws if they are not. */
export function encodeBatch(events: readonly Event[]): string {
  assertBatch(events);
  return JSON.stringify(events);
}

export function batchHeaders(events: readonly Event[]): BatchHeaders {
  assertBatch(events);
  const [first] = events;
  const last = events[events.length - 1] as Event;
  return {
    v: String(EVENT_VERSION),
    host: first.host,
    instance: first.instance,
    'seq-first': String(first.seq),
    'seq-last': String(last.seq),
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** What the consumer knows of a message besides its value. */
export interface BatchDecodeOptions {
  /** Larger values are `oversize`, refused before parsing (the consumer's limit per message). */
  maxBytes?: number;
  /** The Kafka message key, which must be the events' host (`key-mismatch` otherwise; null: no key). */
  key?: string | Uint8Array | null;
}

/** Decodes a Kafka message value (UTF-8 bytes or text) into its events; never throws. */
export function decodeBatch(value: string | Uint8Array, options: BatchDecodeOptions = {}): DecodeResult<Event[]> {
  const { maxBytes, key } = options;
  if (maxBytes !== undefined) {
    const size = typeof value === 'string' ? utf8Length(value) : value.byteLength;
    if (size > maxBytes) return failure('oversize', '', `${size} bytes, over the limit of ${maxBytes}`);
  }
  const decoded = decodeBatchValue(value);
  if (!decoded.ok || !('key' in options)) return decoded;
  let keyText: string | null = null;
  try {
    keyText = key === null || key === undefined ? null : typeof key === 'string' ? key : utf8.decode(key);
  } catch {
    return failure('key-mismatch', '', 'the message key is not valid UTF-8');
  }
  const host = (decoded.value[0] as Event).host;
  if (keyText !== host) {
    return failure('key-mismatch', '[0].host', `"${host}" is not the message key ${keyText === null ? '(none)' : `"${keyText}"`}`);
  }
  return decoded;
}

function decodeBatchValue(value: string | Uint8Array): DecodeResult<Event[]> {
  let text: string;
  let parsed: unknown;
  try {
    text = typeof value === 'string' ? value : utf8.decode(value);
  } catch {
    return failure('malformed', '', 'not valid UTF-8');
  }
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return failure('malformed', '', `not JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed)) return failure('malformed', '', 'expected a JSON array of events');
  const unstorable = unstorableText(text, parsed, typeof value !== 'string');
  if (unstorable !== undefined) return unstorable;
  const events: Event[] = [];
  for (const [i, item] of parsed.entries()) {
    const decoded = decodeEventValue(item);
    if (!decoded.ok) return { ...decoded, field: decoded.field === '' ? `[${i}]` : `[${i}].${decoded.field}` };
    events.push(decoded.value);
  }
  return batchDefect(events) ?? { ok: true, value: events };
}
