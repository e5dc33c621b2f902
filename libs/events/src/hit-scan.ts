import {
  MAX_ARG_NAME_LEN,
  MAX_CGROUP_BYTES,
  MAX_COMM_BYTES,
  MAX_CONTAINER_ID_BYTES,
  MAX_HOST_BYTES,
  MAX_POD_NAME_BYTES,
  MAX_POD_NAMESPACE_BYTES,
  MAX_PROBE_NAME_LEN,
  MAX_STRING_ARG_BYTES,
  MAX_TRACE_ARGS,
} from './limits';
import { CONTAINER_RUNTIMES, EVENT_VERSION, MAX_CPU, MAX_MONO_NS, MAX_PID } from './schemas';

/**
 * What replay needs of a probe.hit, read straight from its JSON line. `line` is that text: replay's
 * duplicate window keeps it, and byte-identical lines are the same event (see kprobe-model's README).
 */
export interface ScannedHit {
  readonly line: string;
  readonly host: string;
  readonly bootId: string;
  readonly instance: string;
  readonly seq: number;
  readonly probe: string;
  readonly cpu: number;
  readonly pid: number;
}

// The scanner reads one spelling only: the key order and compact form of `encodeEvent` (JSON.stringify)
// of a hit as the agent builds it, ASCII only, strings without escapes, integers without sign, fraction
// or exponent where the schema wants integers; every length within limits.ts (ASCII: characters are
// bytes). Anything else is left to `decodeEvent`, so the scanner
// never has to diagnose: it only has to be sure that decodeEvent accepts the line with the same values.
//
// Speed is the point (replay's budget is ~1 µs a line, JSON.parse alone takes 2): it reads the line's
// bytes (TextEncoder.encodeInto, native) four at a time where it can — key names as 32-bit words,
// string contents with SWAR tests — because a charCodeAt loop costs ~1.5 ns a character.

/** Longer lines are decoded: a hit is ~600 bytes, and the buffer is allocated once. */
const MAX_LINE = 16384;
/** Integer digits of an arg number: 300 keeps it finite (below 1.8e308) without looking at the value. */
const MAX_ARG_DIGITS = 300;
const MAX_SAFE_DIGITS = 16;

const QUOTE = 34;
const COMMA = 44;
const MINUS = 45;
const DOT = 46;
const ZERO = 48;
const NINE = 57;
const COLON = 58;
const CLOSE = 125; // }

const encoder = new TextEncoder();
/**
 * The line's bytes, then a 0 that stops every loop (it matches no literal, digit or string character);
 * the slack after it lets word reads and fixed-width fields run past the end without a bounds check.
 */
const b = new Uint8Array(MAX_LINE + 64);
const view = new DataView(b.buffer);
/** The value of the last `integer` read (its return value is the position after it). */
let integerValue = 0;

/** Fixed text as little-endian 32-bit words, the last one zero-padded and compared under `lastMask`. */
interface Literal {
  readonly length: number;
  readonly words: Int32Array;
  readonly lastMask: number;
}

function literalOf(text: string): Literal {
  const bytes = new Uint8Array(Math.ceil(text.length / 4) * 4);
  encoder.encodeInto(text, bytes);
  const tail = text.length % 4;
  return { length: text.length, words: new Int32Array(bytes.buffer), lastMask: tail === 0 ? -1 : (1 << (8 * tail)) - 1 };
}

const HEAD = literalOf(`{"v":${EVENT_VERSION},"type":"probe.hit","host":"`);
const BOOT_ID = literalOf('","bootId":"');
const INSTANCE = literalOf('","instance":"');
const SEQ = literalOf('","seq":');
const TIME = literalOf(',"time":"');
const MONO_NS = literalOf(',"monoNs":"');
const DATA = literalOf(',"data":{"probe":"');
const CPU = literalOf(',"cpu":');
const PID = literalOf(',"pid":');
const COMM = literalOf(',"comm":"');
const CTX = literalOf(',"ctx":{"irqsOff":');
const CTX_FLAGS = [',"needResched":', ',"hardirq":', ',"softirq":', ',"nmi":'].map(literalOf);
const PREEMPT_DEPTH = literalOf(',"preemptDepth":');
const ARGS = literalOf(',"args":{');
// tcplife's counters of a TCP_CLOSE hit (LifeSchema, in its key order).
const LIFE = literalOf(',"life":{"txBytes":');
const LIFE_RX = literalOf(',"rxBytes":');
const LIFE_RETRANS = literalOf(',"retrans":');
const LIFE_SRTT = literalOf(',"srttUs":');
// The owner tail of a TCP hit (OwnerSchema and attribution, in the agent's key order).
const OWNER = literalOf(',"owner":{"pid":');
const OWNER_COMM = literalOf(',"comm":"');
const CGROUP = literalOf(',"cgroup":"');
const CONTAINER = literalOf(',"container":{"id":"');
const RUNTIME = literalOf(',"runtime":"');
const POD = literalOf(',"pod":{"');
const POD_NAMESPACE = literalOf('namespace":"');
const POD_NAME = literalOf('name":"');
const POD_UID = literalOf('uid":"');
const ATTRIBUTION = literalOf('},"attribution":"');
const UNKNOWN = literalOf(',"attribution":"unknown"');
const COMMA_QUOTE = literalOf(',"');
const DIRECT = literalOf('direct"');
const SOCKET = literalOf('socket"');
const RUNTIMES = new Set<string>(CONTAINER_RUNTIMES);
const TRUE = literalOf('true');
const FALSE = literalOf('false');
const NULL = literalOf('null');

/**
 * The hit in `line` if it is a probe.hit in the spelling of `encodeEvent`, which `decodeEvent` is
 * then sure to accept with these values; undefined for anything else (decode those).
 */
export function scanHit(line: string): ScannedHit | undefined {
  if (line.length > MAX_LINE) return undefined;
  const { read, written } = encoder.encodeInto(line, b);
  // ASCII only, so that byte offsets are string offsets.
  if (read !== line.length || written !== line.length) return undefined;
  b[written] = 0;

  let p = literal(0, HEAD);
  const hostEnd = stringEnd(p);
  if (p < 0 || hostEnd <= p || hostEnd - p > MAX_HOST_BYTES) return undefined;
  const bootStart = literal(hostEnd, BOOT_ID);
  const bootId = uuid(line, bootStart);
  const instanceStart = bootId === undefined ? -1 : literal(bootStart + 36, INSTANCE);
  const instance = uuid(line, instanceStart);
  if (bootId === undefined || instance === undefined) return undefined;
  p = integer(literal(instanceStart + 36, SEQ), MAX_SAFE_DIGITS);
  const seq = integerValue;
  if (p < 0 || seq < 1 || seq > Number.MAX_SAFE_INTEGER) return undefined;
  p = time(literal(p, TIME));
  if (b[p + 2] === 109) p = decimal(literal(p, MONO_NS)); // ,"m
  const probeStart = literal(p, DATA);
  const probeEnd = stringEnd(probeStart);
  if (probeStart < 0 || probeEnd <= probeStart || probeEnd - probeStart > MAX_PROBE_NAME_LEN) return undefined;
  p = integer(literal(probeEnd + 1, CPU), 5);
  const cpu = integerValue;
  if (p < 0 || cpu > MAX_CPU) return undefined;
  p = integer(literal(p, PID), MAX_SAFE_DIGITS);
  const pid = integerValue;
  if (p < 0 || pid > MAX_PID) return undefined;
  const commStart = literal(p, COMM);
  const commEnd = stringEnd(commStart);
  p = commEnd < 0 || commEnd - commStart > MAX_COMM_BYTES ? -1 : commEnd + 1;
  if (b[p + 2] === 99) p = context(p); // ,"c
  p = args(literal(p, ARGS));
  if (p >= 0 && b[p + 2] === 108) p = life(p); // ,"l
  if (p >= 0 && b[p] === COMMA) p = b[p + 2] === 111 ? owner(line, p) : literal(p, UNKNOWN); // ,"o
  if (p !== written - 2 || b[p] !== CLOSE || b[p + 1] !== CLOSE) return undefined;
  return {
    line,
    host: name(line, HEAD.length, hostEnd),
    bootId,
    instance,
    seq,
    probe: name(line, probeStart, probeEnd),
    cpu,
    pid,
  };
}

// Each step takes the position to read at (-1 after a failed step, which it passes on) and returns the
// position after what it read, or -1.

function literal(p: number, text: Literal): number {
  if (p < 0) return -1;
  const { words } = text;
  const last = words.length - 1;
  for (let i = 0; i < last; i++) if (view.getInt32(p + 4 * i, true) !== words[i]) return -1;
  return (view.getInt32(p + 4 * last, true) & text.lastMask) === words[last] ? p + text.length : -1;
}

/**
 * The position of the closing quote of a string whose characters start at `p`; -1 at an escape or a
 * control character. Reads a word at a time: the lowest byte the SWAR tests flag is a quote, a
 * backslash or a control character (only bytes above a flagged one can be flagged falsely).
 */
function stringEnd(p: number): number {
  if (p < 0) return -1;
  for (;; p += 4) {
    const x = view.getInt32(p, true);
    const quote = x ^ 0x22222222;
    const backslash = x ^ 0x5c5c5c5c;
    const special = (((quote - 0x01010101) & ~quote) | ((backslash - 0x01010101) & ~backslash) | ((x - 0x20202020) & ~x)) & 0x80808080;
    if (special !== 0) {
      const end = p + ((31 - Math.clz32(special & -special)) >> 3);
      return b[end] === QUOTE ? end : -1;
    }
  }
}

const isDigit = (c: number | undefined): boolean => c !== undefined && c >= ZERO && c <= NINE;

// SWAR tests on a word of four bytes, after https://graphics.stanford.edu/~seander/bithacks.html#HasLessInWord:
// each is non-zero exactly when some byte is out of its range (bytes of 0x80 and above always are).

/** Some byte is not a decimal digit. */
function notDigits(x: number): number {
  return (((x - 0x30303030) & ~x) | ((x + 0x46464646) | x)) & 0x80808080; // below '0' | above '9'
}

/** Some byte is not a lowercase hex digit. */
function notHex(x: number): number {
  const low = x & 0x7f7f7f7f;
  const below0 = (x - 0x30303030) & ~x;
  const between9a = (0xe0e0e0e0 - low) & ~x & (low + 0x46464646);
  const abovef = (x + 0x19191919) | x;
  return (below0 | between9a | abovef) & 0x80808080;
}

/** Turns the byte at `shift` into '0' when it is '-' and into 0 otherwise, so that notHex accepts only a dash there. */
function dashAt(x: number, shift: number): number {
  return (x & ~(0xff << shift)) | (((x >>> shift) & 0xff) === MINUS ? ZERO << shift : 0);
}

const NAME_BITS = 6;
const NAME_WORDS = 8;
/** Recently read host and probe names of up to NAME_WORDS words, and their bytes: as for UUIDs below. */
const names: (string | undefined)[] = new Array<string | undefined>(1 << NAME_BITS).fill(undefined);
const nameWords = new Int32Array(NAME_WORDS << NAME_BITS);

/** line.slice(start, end), as the same string as last time for a recently read name. */
function name(line: string, start: number, end: number): string {
  const length = end - start;
  if (length > 4 * NAME_WORDS) return line.slice(start, end);
  const words = (length + 3) >> 2;
  const lastMask = length % 4 === 0 ? -1 : (1 << (8 * (length % 4))) - 1;
  const first = view.getInt32(start, true) & (words === 1 ? lastMask : -1);
  const last = view.getInt32(start + 4 * (words - 1), true) & lastMask;
  const slot = Math.imul(first ^ last ^ length, 0x9e3779b1) >>> (32 - NAME_BITS);
  const s = slot * NAME_WORDS;
  const cached = names[slot];
  let same = cached !== undefined && cached.length === length;
  for (let i = 0; same && i < words - 1; i++) same = nameWords[s + i] === view.getInt32(start + 4 * i, true);
  if (same && nameWords[s + words - 1] === last) return cached as string;
  for (let i = 0; i < words - 1; i++) nameWords[s + i] = view.getInt32(start + 4 * i, true);
  nameWords[s + words - 1] = last;
  const value = line.slice(start, end);
  names[slot] = value;
  return value;
}

const UUID_BITS = 6;
const UUID_SLOTS = 1 << UUID_BITS;
/** Recently read UUIDs (a stream's bootId and instance repeat on every line) and their bytes as words. */
const uuidStrings: (string | undefined)[] = new Array<string | undefined>(UUID_SLOTS).fill(undefined);
const uuidWords = new Int32Array(UUID_SLOTS * 9);

/**
 * The UUID_PATTERN string at `p` (its closing quote is the next literal's), or undefined. A UUID read
 * recently is returned as the same string without checking it again: the model's Map lookups then
 * find its hash already computed.
 */
function uuid(line: string, p: number): string | undefined {
  if (p < 0) return undefined;
  const w0 = view.getInt32(p, true);
  const w1 = view.getInt32(p + 4, true);
  const w2 = view.getInt32(p + 8, true);
  const w3 = view.getInt32(p + 12, true);
  const w4 = view.getInt32(p + 16, true);
  const w5 = view.getInt32(p + 20, true);
  const w6 = view.getInt32(p + 24, true);
  const w7 = view.getInt32(p + 28, true);
  const w8 = view.getInt32(p + 32, true);
  const slot = Math.imul(w0 ^ w3 ^ w6 ^ w7 ^ w8, 0x9e3779b1) >>> (32 - UUID_BITS); // Fibonacci hashing
  const s = slot * 9;
  const cached = uuidStrings[slot];
  if (
    cached !== undefined &&
    uuidWords[s] === w0 &&
    uuidWords[s + 1] === w1 &&
    uuidWords[s + 2] === w2 &&
    uuidWords[s + 3] === w3 &&
    uuidWords[s + 4] === w4 &&
    uuidWords[s + 5] === w5 &&
    uuidWords[s + 6] === w6 &&
    uuidWords[s + 7] === w7 &&
    uuidWords[s + 8] === w8
  ) {
    return cached;
  }
  const bad =
    notHex(w0) |
    notHex(w1) |
    notHex(dashAt(w2, 0)) |
    notHex(dashAt(w3, 8)) |
    notHex(dashAt(w4, 16)) |
    notHex(dashAt(w5, 24)) |
    notHex(w6) |
    notHex(w7) |
    notHex(w8);
  if (bad !== 0) return undefined;
  const value = line.slice(p, p + 36);
  uuidWords[s] = w0;
  uuidWords[s + 1] = w1;
  uuidWords[s + 2] = w2;
  uuidWords[s + 3] = w3;
  uuidWords[s + 4] = w4;
  uuidWords[s + 5] = w5;
  uuidWords[s + 6] = w6;
  uuidWords[s + 7] = w7;
  uuidWords[s + 8] = w8;
  uuidStrings[slot] = value;
  return value;
}

/** A digit between `lo` and `hi`. */
function digitIn(c: number | undefined, lo: number, hi: number): boolean {
  return c !== undefined && c >= ZERO + lo && c <= ZERO + hi;
}

/** TIME_PATTERN (YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ) and the closing quote. */
function time(p: number): number {
  if (p < 0) return -1;
  const digits =
    notDigits(view.getInt32(p, true)) | notDigits(view.getInt32(p + 20, true)) | notDigits(view.getInt32(p + 24, true));
  const month = b[p + 5] === ZERO ? digitIn(b[p + 6], 1, 9) : b[p + 5] === ZERO + 1 && digitIn(b[p + 6], 0, 2);
  const day = b[p + 8] === ZERO ? digitIn(b[p + 9], 1, 9) : b[p + 8] === ZERO + 3 ? digitIn(b[p + 9], 0, 1) : digitIn(b[p + 8], 1, 2) && isDigit(b[p + 9]);
  const hour = b[p + 11] === ZERO + 2 ? digitIn(b[p + 12], 0, 3) : digitIn(b[p + 11], 0, 1) && isDigit(b[p + 12]);
  const ok =
    digits === 0 &&
    month &&
    day &&
    hour &&
    digitIn(b[p + 14], 0, 5) &&
    isDigit(b[p + 15]) &&
    digitIn(b[p + 17], 0, 5) &&
    isDigit(b[p + 18]) &&
    isDigit(b[p + 28]) &&
    b[p + 4] === MINUS &&
    b[p + 7] === MINUS &&
    b[p + 10] === 84 && // T
    b[p + 13] === COLON &&
    b[p + 16] === COLON &&
    b[p + 19] === DOT &&
    b[p + 29] === 90 && // Z
    b[p + 30] === QUOTE;
  return ok ? p + 31 : -1;
}

const MONO_NS_DIGITS = new TextEncoder().encode(MAX_MONO_NS);

/** DECIMAL_PATTERN within MAX_MONO_NS (isMonoNs) and the closing quote. */
function decimal(p: number): number {
  if (p < 0) return -1;
  const start = p;
  while (isDigit(b[p])) p++;
  const digits = p - start;
  if (digits === 0 || (digits > 1 && b[start] === ZERO) || digits > MONO_NS_DIGITS.length) return -1;
  if (digits === MONO_NS_DIGITS.length) {
    for (let i = 0; i < digits; i++) {
      const d = (b[start + i] as number) - (MONO_NS_DIGITS[i] as number);
      if (d > 0) return -1;
      if (d < 0) break;
    }
  }
  return b[p] === QUOTE ? p + 1 : -1;
}

/** An unsigned integer without leading zeros of at most `maxDigits` digits; its value goes to `integerValue`. */
function integer(p: number, maxDigits: number): number {
  if (p < 0) return -1;
  const start = p;
  let n = 0;
  for (let c = b[p] as number; isDigit(c); c = b[++p] as number) n = n * 10 + (c - ZERO);
  // Up to 16 digits the sum is exact while it is a safe integer, and above 2^53 it stays above.
  integerValue = n;
  const digits = p - start;
  return digits === 0 || digits > maxDigits || (digits > 1 && b[start] === ZERO) ? -1 : p;
}

function boolean(p: number): number {
  return b[p] === 116 ? literal(p, TRUE) : literal(p, FALSE);
}

/** HitContextSchema in its key order, from `,"ctx":` to its closing brace. */
function context(p: number): number {
  p = boolean(literal(p, CTX));
  for (const flag of CTX_FLAGS) p = boolean(literal(p, flag));
  p = integer(literal(p, PREEMPT_DEPTH), 3);
  return p >= 0 && integerValue <= 255 && b[p] === CLOSE ? p + 1 : -1;
}

/** A string whose characters start at `p`, of `min` to `max` bytes: the position after its closing quote. */
function text(p: number, min: number, max: number): number {
  const end = stringEnd(p);
  return end < 0 || end - p < min || end - p > max ? -1 : end + 1;
}

/** An integer of at most 16 digits (so `integer` is exact) within `max`. */
function count(p: number, max = Number.MAX_SAFE_INTEGER): number {
  p = integer(p, MAX_SAFE_DIGITS);
  return p >= 0 && integerValue <= max ? p : -1;
}

/** `,"life":{…}` as HitEncoder.life spells it. */
function life(p: number): number {
  p = count(literal(p, LIFE));
  p = count(literal(p, LIFE_RX));
  p = count(literal(p, LIFE_RETRANS));
  p = count(literal(p, LIFE_SRTT), 2 ** 31 - 1); // LifeSchema's srttUs
  return p >= 0 && b[p] === CLOSE ? p + 1 : -1;
}

/** `,"owner":{…},"attribution":"direct"|"socket"` as ownerJson spells it. */
function owner(line: string, p: number): number {
  p = integer(literal(p, OWNER), 10);
  if (p < 0 || integerValue < 1 || integerValue > MAX_PID) return -1;
  p = text(literal(p, OWNER_COMM), 0, MAX_COMM_BYTES);
  p = text(literal(p, CGROUP), 0, MAX_CGROUP_BYTES);
  if (p >= 0 && b[p + 2] === 99) { // ,"c
    p = text(literal(p, CONTAINER), 1, MAX_CONTAINER_ID_BYTES);
    const start = literal(p, RUNTIME);
    const end = stringEnd(start);
    if (start < 0 || end < 0 || end - start > 16 || !RUNTIMES.has(name(line, start, end)) || b[end + 1] !== CLOSE) return -1;
    p = end + 2;
  }
  if (p >= 0 && b[p + 2] === 112) { // ,"p
    p = literal(p, POD);
    if (p >= 0 && b[p + 4] === 115) p = literal(text(literal(p, POD_NAMESPACE), 1, MAX_POD_NAMESPACE_BYTES), COMMA_QUOTE); // name"s"pace
    if (p >= 0 && b[p] === 110) p = literal(text(literal(p, POD_NAME), 1, MAX_POD_NAME_BYTES), COMMA_QUOTE);
    const start = literal(p, POD_UID);
    if (uuid(line, start) === undefined || b[start + 36] !== QUOTE || b[start + 37] !== CLOSE) return -1;
    p = start + 38;
  }
  p = literal(p, ATTRIBUTION);
  if (p < 0) return -1;
  return b[p] === 100 ? literal(p, DIRECT) : literal(p, SOCKET);
}

/** Name → scalar pairs after the opening brace, and the closing one. */
function args(p: number): number {
  if (p < 0 || b[p] === CLOSE) return p < 0 ? -1 : p + 1;
  for (let n = 1; n <= MAX_TRACE_ARGS; n++) {
    if (b[p] !== QUOTE) return -1;
    const nameEnd = stringEnd(p + 1);
    if (nameEnd <= p + 1 || nameEnd - (p + 1) > MAX_ARG_NAME_LEN || b[nameEnd + 1] !== COLON) return -1;
    p = scalar(nameEnd + 2);
    if (p < 0) return -1;
    if (b[p] === CLOSE) return p + 1;
    if (b[p] !== COMMA) return -1;
    p++;
  }
  return -1;
}

function scalar(p: number): number {
  const c = b[p];
  if (c === QUOTE) {
    const end = stringEnd(p + 1);
    return end < 0 || end - (p + 1) > MAX_STRING_ARG_BYTES ? -1 : end + 1;
  }
  if (c === MINUS || isDigit(c)) return number(p);
  if (c === 116) return literal(p, TRUE);
  return c === 102 ? literal(p, FALSE) : literal(p, NULL);
}

/** -?(0|[1-9]\d*)(\.\d+)? with a bounded integer part; exponents are left to JSON.parse. */
function number(p: number): number {
  if (b[p] === MINUS) p++;
  const start = p;
  while (isDigit(b[p])) p++;
  const digits = p - start;
  if (digits === 0 || digits > MAX_ARG_DIGITS || (digits > 1 && b[start] === ZERO)) return -1;
  if (b[p] !== DOT) return p;
  const fraction = ++p;
  while (isDigit(b[p])) p++;
  return p > fraction ? p : -1;
}
