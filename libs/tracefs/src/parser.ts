// Parser for lines of `trace` / `trace_pipe` (default output options). Hot path: plain
// indexOf/charCodeAt scanning, one object per line, typed helpers computed on demand.
//
// Header layout (kernel/trace/trace_output.c): `%16s-%-7d ` comm-pid, optional `(%7s) ` TGID,
// `[%03d] ` cpu, the latency flags, `%5lu.%06lu: ` timestamp, then `EVENT: PAYLOAD`.

export interface TraceLine {
  /** comm as recorded by the kernel (may contain spaces and dashes). */
  task: string;
  pid: number;
  /** With `options/record-tgid`; null when the column is absent or `-------`. */
  tgid: number | null;
  cpu: number;
  /** Raw latency flags, e.g. `..s2.`; decode with decodeFlags(). */
  flags: string;
  /** Seconds as printed (`12.345678`); exact integer ns via timestampNs(). */
  timestamp: string;
  event: string;
  /** kprobe location without parentheses (`tcp_set_state+0x4/0x1f0`, `f+0x1/0x2 <- g`), else null. */
  location: string | null;
  /** `key=value` pairs; quoted strings are unquoted; arrays stay as `{0x0,0x1}`. */
  fields: Record<string, string>;
  /** Everything after `EVENT: `. */
  payload: string;
}

const SPACE = 32;
const DASH = 45;
const LPAREN = 40;
const LBRACKET = 91;
const QUOTE = 34;
const HASH = 35;

export class TraceLineError extends Error {
  constructor(
    readonly line: string,
    reason: string,
  ) {
    super(`cannot parse trace line (${reason}): ${JSON.stringify(line.length > 200 ? `${line.slice(0, 200)}...` : line)}`);
    this.name = 'TraceLineError';
  }
}

function skipSpaces(s: string, i: number): number {
  while (s.charCodeAt(i) === SPACE) i++;
  return i;
}

/** Finds `[digits] ` (the cpu column) when the comm column is not at its fixed width. */
function findCpuBracket(s: string): number {
  let i = s.indexOf(' [');
  while (i !== -1) {
    let j = i + 2;
    while (j < s.length && s.charCodeAt(j) >= 48 && s.charCodeAt(j) <= 57) j++;
    if (j > i + 2 && s.charCodeAt(j) === 93 && s.charCodeAt(j + 1) === SPACE) return i + 1;
    i = s.indexOf(' [', i + 1);
  }
  return -1;
}

/**
 * Parses one trace line. Returns null for comment/blank lines (`# tracer: nop`, ...);
 * throws TraceLineError for lines that are not trace records.
 */
export function parseTraceLine(s: string): TraceLine | null {
  const len = s.length;
  const first = skipSpaces(s, 0);
  if (first === len || s.charCodeAt(first) === HASH) return null;

  let task: string;
  let pid: number;
  let tgid: number | null = null;
  let i: number;
  if (len > 18 && s.charCodeAt(16) === DASH && s.charCodeAt(17) !== SPACE) {
    // Fast path: comm right-aligned in 16 columns (TASK_COMM_LEN).
    task = s.slice(first, 16);
    i = 17;
    pid = 0;
    let c = s.charCodeAt(i);
    while (c >= 48 && c <= 57) {
      pid = pid * 10 + (c - 48);
      c = s.charCodeAt(++i);
    }
    if (c !== SPACE) return parseSlowHeader(s);
    // `%-7d ` pads the pid: jump to the next non-space with native indexOf.
    const paren = s.indexOf('(', i);
    const bracket = s.indexOf('[', i);
    i = paren !== -1 && paren < bracket ? paren : bracket;
    if (s.charCodeAt(i) === LPAREN) {
      const close = s.indexOf(')', i);
      if (close === -1) throw new TraceLineError(s, 'unterminated TGID');
      const t = s.slice(i + 1, close).trim();
      tgid = t.charCodeAt(0) === DASH ? null : Number(t);
      i = skipSpaces(s, close + 1);
    }
    if (i <= 17 || s.charCodeAt(i) !== LBRACKET || s.charCodeAt(i - 1) !== SPACE) return parseSlowHeader(s);
  } else {
    return parseSlowHeader(s);
  }
  return parseFromCpu(s, i, task, pid, tgid);
}

function parseSlowHeader(s: string): TraceLine {
  const b = findCpuBracket(s);
  if (b === -1) throw new TraceLineError(s, 'no [cpu] column');
  let head = s.slice(0, b).trim();
  let tgid: number | null = null;
  if (head.endsWith(')')) {
    const open = head.lastIndexOf('(');
    if (open === -1) throw new TraceLineError(s, 'unterminated TGID');
    const t = head.slice(open + 1, -1).trim();
    tgid = t.startsWith('-') ? null : Number(t);
    head = head.slice(0, open).trimEnd();
  }
  const dash = head.lastIndexOf('-');
  const pid = Number(head.slice(dash + 1));
  if (dash <= 0 || !Number.isInteger(pid)) throw new TraceLineError(s, 'no TASK-PID column');
  return parseFromCpu(s, b, head.slice(0, dash), pid, tgid);
}

function parseFromCpu(s: string, i: number, task: string, pid: number, tgid: number | null): TraceLine {
  // s[i] === '['
  let cpu = 0;
  let c = s.charCodeAt(++i);
  while (c >= 48 && c <= 57) {
    cpu = cpu * 10 + (c - 48);
    c = s.charCodeAt(++i);
  }
  if (c !== 93) throw new TraceLineError(s, 'bad cpu column');
  i = skipSpaces(s, i + 1);
  let sp = s.indexOf(' ', i);
  if (sp === -1) throw new TraceLineError(s, 'no flags column');
  const flags = s.slice(i, sp);
  i = skipSpaces(s, sp);
  const colon = s.indexOf(': ', i);
  if (colon === -1) throw new TraceLineError(s, 'no timestamp');
  const timestamp = s.slice(i, colon);
  i = colon + 2;
  const evEnd = s.indexOf(':', i);
  if (evEnd === -1) throw new TraceLineError(s, 'no event name');
  const event = s.slice(i, evEnd);
  i = evEnd + 1;
  if (s.charCodeAt(i) === SPACE) i++;
  const payload = s.slice(i);

  let location: string | null = null;
  if (s.charCodeAt(i) === LPAREN) {
    const close = s.indexOf(')', i);
    if (close === -1) throw new TraceLineError(s, 'unterminated probe location');
    location = s.slice(i + 1, close);
    i = skipSpaces(s, close + 1);
  }

  const fields: Record<string, string> = {};
  let lastKey: string | null = null;
  const len = s.length;
  while (i < len) {
    sp = s.indexOf(' ', i);
    if (sp === -1) sp = len;
    const eq = s.indexOf('=', i);
    if (eq === -1 || eq > sp) {
      // A value with spaces (e.g. a comm) continues the previous field.
      if (lastKey !== null) fields[lastKey] += ` ${s.slice(i, sp)}`;
      i = skipSpaces(s, sp);
      continue;
    }
    const key = s.slice(i, eq);
    let v = eq + 1;
    if (s.charCodeAt(v) === QUOTE) {
      // Strings are printed unescaped: the closing quote is the one followed by a space or EOL.
      let q = s.indexOf('"', v + 1);
      while (q !== -1 && q + 1 < len && s.charCodeAt(q + 1) !== SPACE) q = s.indexOf('"', q + 1);
      if (q === -1) throw new TraceLineError(s, `unterminated string in ${key}`);
      fields[key] = s.slice(v + 1, q);
      v = q + 1;
      i = skipSpaces(s, v);
    } else {
      fields[key] = s.slice(v, sp);
      i = skipSpaces(s, sp);
    }
    lastKey = key;
  }
  return { task, pid, tgid, cpu, flags, timestamp, event, location, fields, payload };
}

export type IrqContext = 'normal' | 'softirq' | 'hardirq' | 'nmi';

export interface TraceFlags {
  raw: string;
  irqsOff: boolean;
  bhDisabled: boolean;
  needResched: boolean;
  context: IrqContext;
  /** Also true for hardirq-in-softirq (`H`) and NMI-in-hardirq (`Z`). */
  nested: boolean;
  preemptDepth: number;
  /** Kernels ≥5.14 print a 5th column; null when absent. */
  migrateDisable: number | null;
}

function hexDigit(ch: string | undefined): number {
  if (ch === undefined || ch === '.') return 0;
  const n = parseInt(ch, 16);
  return Number.isNaN(n) ? 0 : n;
}

/** Decodes the latency-format flags column (trace_print_lat_fmt). */
export function decodeFlags(raw: string): TraceFlags {
  const irq = raw[0];
  const hs = raw[2];
  let context: IrqContext = 'normal';
  if (hs === 's') context = 'softirq';
  else if (hs === 'h' || hs === 'H') context = 'hardirq';
  else if (hs === 'z' || hs === 'Z') context = 'nmi';
  return {
    raw,
    irqsOff: irq === 'd' || irq === 'D' || irq === 'X',
    bhDisabled: irq === 'b' || irq === 'D',
    needResched: raw[1] !== undefined && raw[1] !== '.',
    context,
    nested: hs === 'H' || hs === 'Z',
    preemptDepth: hexDigit(raw[3]),
    migrateDisable: raw.length >= 5 ? hexDigit(raw[4]) : null,
  };
}

/** `12.345678` → 12345678000n; handles 6 or 9 fractional digits and integer-only clocks. */
export function timestampNs(timestamp: string): bigint {
  const dot = timestamp.indexOf('.');
  if (dot === -1) return BigInt(timestamp);
  const frac = timestamp.slice(dot + 1);
  if (frac.length > 9) throw new RangeError(`timestamp with more than 9 fractional digits: ${timestamp}`);
  return BigInt(timestamp.slice(0, dot)) * 1_000_000_000n + BigInt(frac.padEnd(9, '0'));
}

export interface ProbeLocation {
  /** The probed function (for return probes: the function that returned). */
  symbol: string;
  offset: number;
  /** Function size; null for return probes. */
  size: number | null;
  /** Return probes: the caller location `func+off/size` we returned to. */
  returnTo: string | null;
}

/** `tcp_set_state+0x4/0x1f0` or `tcp_v4_connect+0x266/0x4f0 <- tcp_set_state`. */
export function parseProbeLocation(location: string): ProbeLocation {
  const arrow = location.indexOf(' <- ');
  if (arrow !== -1) {
    return { symbol: location.slice(arrow + 4), offset: 0, size: null, returnTo: location.slice(0, arrow) };
  }
  const plus = location.lastIndexOf('+');
  const slash = location.indexOf('/', plus);
  if (plus === -1 || slash === -1) return { symbol: location, offset: 0, size: null, returnTo: null };
  return {
    symbol: location.slice(0, plus),
    offset: parseInt(location.slice(plus + 1, slash), 16),
    size: parseInt(location.slice(slash + 1), 16),
    returnTo: null,
  };
}

/** Splits `{0x0,0xff,...}` into numbers (kprobe array fields). */
export function parseArrayField(value: string): number[] {
  if (value.charCodeAt(0) !== 123 || value.charCodeAt(value.length - 1) !== 125) {
    throw new RangeError(`not an array field: ${value}`);
  }
  const inner = value.slice(1, -1);
  return inner === '' ? [] : inner.split(',').map((x) => Number(x));
}

/** Parses every record of a whole `trace` file, skipping comments. */
export function parseTraceText(text: string): TraceLine[] {
  const out: TraceLine[] = [];
  for (const line of text.split('\n')) {
    const parsed = parseTraceLine(line);
    if (parsed) out.push(parsed);
  }
  return out;
}
