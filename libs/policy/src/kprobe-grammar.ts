// kprobe_events definitions (Documentation/trace/kprobetrace.rst), x86-64 only.
// The validator accepts a strict subset of what the kernel takes: every value we write to
// kprobe_events passes through it, so nothing can smuggle a second definition, extra
// arguments or control bytes into the write.

export type ProbeKind = 'p' | 'r';

export interface FetchArg {
  /** Argument name as it will appear in trace lines (`NAME=`). */
  name: string;
  /** Fetch expression: `%di`, `$arg1`, `+16(%di)`, `@jiffies`, `$comm`, ... */
  fetch: string;
  /** Type suffix: `u16`, `x8[16]`, `string`, `b4@0/8`; omitted = kernel default (x64/u64). */
  type?: string;
}

export interface KprobeDefinition {
  kind: ProbeKind;
  group: string;
  event: string;
  /** `SYM`, `SYM+OFFS`, `MOD:SYM[+OFFS]` or a `0x...` address (p only). */
  target: string;
  /** r only: `MAXACTIVE` (`r10:...`). */
  maxActive?: number;
  args: readonly FetchArg[];
}

export class KprobeDefinitionError extends Error {
  constructor(
    readonly field: string,
    readonly value: string,
    reason: string,
  ) {
    super(`invalid kprobe definition: ${field} ${JSON.stringify(value)}: ${reason}`);
    this.name = 'KprobeDefinitionError';
  }
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Kernel limits (MAX_EVENT_NAME_LEN, MAX_TRACE_ARGS, MAX_ARRAY_LEN): one copy, the event contract's.
import { MAX_ARRAY_LEN, MAX_NAME_LEN, MAX_TRACE_ARGS as MAX_ARGS } from '@probefleet/events';
const MAX_DEREF_DEPTH = 16;

/** x86-64 pt_regs names accepted by regs_query_register_offset(). */
export const X86_64_REGISTERS: ReadonlySet<string> = new Set([
  'ax', 'bx', 'cx', 'dx', 'si', 'di', 'bp', 'sp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
  'ip', 'flags', 'cs', 'ss', 'ds', 'es', 'fs', 'gs', 'orig_ax',
]);

const BASIC_TYPES: ReadonlySet<string> = new Set([
  'u8', 'u16', 'u32', 'u64', 's8', 's16', 's32', 's64', 'x8', 'x16', 'x32', 'x64',
  'char', 'string', 'ustring', 'symbol', 'symstr',
]);
// Strings cannot be array elements or bitfield containers.
const SCALAR_TYPES_RE = /^(?:[usx](?:8|16|32|64)|char|symbol)$/;
const SYMBOL_RE = /^(?:[A-Za-z0-9_-]+:)?[A-Za-z_.][A-Za-z0-9_.]*(?:\+(?:0x[0-9a-fA-F]+|[0-9]+))?$/;
const ADDRESS_RE = /^0x[0-9a-fA-F]{1,16}$/;

function checkName(field: string, value: string): void {
  if (!NAME_RE.test(value)) throw new KprobeDefinitionError(field, value, 'must match [A-Za-z_][A-Za-z0-9_]*');
  if (value.length > MAX_NAME_LEN) throw new KprobeDefinitionError(field, value, `longer than ${MAX_NAME_LEN}`);
}

function checkTarget(field: string, kind: ProbeKind, value: string): void {
  if (ADDRESS_RE.test(value)) {
    if (kind === 'r') throw new KprobeDefinitionError(field, value, 'return probes need a symbol, not an address');
    return;
  }
  if (!SYMBOL_RE.test(value)) throw new KprobeDefinitionError(field, value, 'expected [MOD:]SYM[+OFFS] or 0xADDR');
  if (kind === 'r') {
    const plus = value.indexOf('+');
    if (plus >= 0 && Number(value.slice(plus + 1)) !== 0) {
      throw new KprobeDefinitionError(field, value, 'return probes only allow +0');
    }
  }
}

/** Validates one fetch expression (recursive for `+|-OFFS(FETCH)`). */
function checkFetch(field: string, kind: ProbeKind, value: string, depth = 0): void {
  const fail = (reason: string): never => {
    throw new KprobeDefinitionError(field, value, reason);
  };
  if (depth > MAX_DEREF_DEPTH) fail('dereference nested too deeply');
  const c = value[0];
  if (c === '%') {
    if (!X86_64_REGISTERS.has(value.slice(1))) fail('unknown x86-64 register');
    return;
  }
  if (c === '$') {
    const v = value.slice(1);
    if (v === 'comm' || v === 'stack') return;
    if (v === 'retval') {
      if (kind !== 'r') fail('$retval is only available in return probes');
      return;
    }
    let m = /^arg([1-9][0-9]*)$/.exec(v);
    if (m) {
      if (Number(m[1]) > MAX_ARGS) fail('argument index out of range');
      return;
    }
    m = /^stack(0|[1-9][0-9]*)$/.exec(v);
    if (m) {
      if (Number(m[1]) > 4095) fail('stack index out of range');
      return;
    }
    return fail('unknown $ variable (allowed: $argN, $retval, $comm, $stack, $stackN)');
  }
  if (c === '@') {
    const v = value.slice(1);
    if (ADDRESS_RE.test(v)) return;
    if (!/^[A-Za-z_.][A-Za-z0-9_.]*(?:[+-](?:0x[0-9a-fA-F]+|[0-9]+))?$/.test(v)) fail('expected @ADDR or @SYM[+|-OFFS]');
    return;
  }
  if (c === '+' || c === '-') {
    const m = /^[+-]u?(0x[0-9a-fA-F]+|[0-9]+)\((.*)\)$/.exec(value);
    if (!m || m[2] === undefined) return fail('expected +|-[u]OFFS(FETCHARG)');
    return checkFetch(field, kind, m[2], depth + 1);
  }
  fail('expected %REG, $argN, $retval, $comm, $stackN, @SYM or +|-OFFS(FETCHARG)');
}

function checkType(field: string, value: string): void {
  const fail = (reason: string): never => {
    throw new KprobeDefinitionError(field, value, reason);
  };
  if (BASIC_TYPES.has(value)) return;
  const arr = /^([a-z0-9]+)\[([0-9]+)\]$/.exec(value);
  if (arr && arr[1] !== undefined) {
    if (!SCALAR_TYPES_RE.test(arr[1])) fail('array elements must be u/s/x 8..64, char or symbol');
    const n = Number(arr[2]);
    if (n < 1 || n > MAX_ARRAY_LEN) fail(`array length must be 1..${MAX_ARRAY_LEN}`);
    return;
  }
  const bf = /^b([0-9]+)@([0-9]+)\/(8|16|32|64)$/.exec(value);
  if (bf) {
    const width = Number(bf[1]);
    const offset = Number(bf[2]);
    const container = Number(bf[3]);
    if (width < 1 || width + offset > container) fail('bitfield must fit its container');
    return;
  }
  fail('unknown type (allowed: u8..u64, s8..s64, x8..x64, char, string, ustring, symbol, symstr, TYPE[N], bW@O/C)');
}

/** Throws KprobeDefinitionError naming the first bad field. */
export function validateKprobeDefinition(def: KprobeDefinition): void {
  if (def.kind !== 'p' && def.kind !== 'r') throw new KprobeDefinitionError('kind', String(def.kind), 'must be p or r');
  checkName('group', def.group);
  checkName('event', def.event);
  checkTarget('target', def.kind, def.target);
  if (def.maxActive !== undefined) {
    if (def.kind !== 'r') throw new KprobeDefinitionError('maxActive', String(def.maxActive), 'only for return probes');
    if (!Number.isInteger(def.maxActive) || def.maxActive < 0 || def.maxActive > 4096) {
      throw new KprobeDefinitionError('maxActive', String(def.maxActive), 'must be an integer 0..4096');
    }
  }
  if (def.args.length > MAX_ARGS) throw new KprobeDefinitionError('args', String(def.args.length), `more than ${MAX_ARGS} arguments`);
  const seen = new Set<string>();
  def.args.forEach((arg, i) => {
    checkName(`args[${i}].name`, arg.name);
    if (seen.has(arg.name)) throw new KprobeDefinitionError(`args[${i}].name`, arg.name, 'duplicate argument name');
    seen.add(arg.name);
    checkFetch(`args[${i}].fetch`, def.kind, arg.fetch);
    if (arg.type !== undefined) checkType(`args[${i}].type`, arg.type);
  });
}

/** Builds the line to append to kprobe_events (without the trailing newline). */
export function buildKprobeLine(def: KprobeDefinition): string {
  validateKprobeDefinition(def);
  const head = def.kind === 'r' && def.maxActive !== undefined ? `r${def.maxActive}` : def.kind;
  let line = `${head}:${def.group}/${def.event} ${def.target}`;
  for (const a of def.args) line += ` ${a.name}=${a.fetch}${a.type !== undefined ? `:${a.type}` : ''}`;
  return line;
}

/** `-:GROUP/EVENT`: removes one probe. */
export function buildRemoveLine(group: string, event: string): string {
  checkName('group', group);
  checkName('event', event);
  return `-:${group}/${event}`;
}

/**
 * Parses a line as the kernel prints it back from kprobe_events (`p:grp/ev sym args`,
 * `r10:grp/ev ...`). Lenient about argument syntax (the kernel may print BTF-style args
 * like `sk=sk` or `sk->__sk_common.skc_num`), strict about the header.
 */
export function parseKprobeLine(line: string): KprobeDefinition {
  const parts = line.trim().split(/ +/);
  const head = parts[0] ?? '';
  const m = /^([pr])([0-9]*):([^/\s]+)\/(\S+)$/.exec(head);
  if (!m || m[1] === undefined || m[3] === undefined || m[4] === undefined) {
    throw new KprobeDefinitionError('line', line, 'expected p|r[N]:GROUP/EVENT');
  }
  const target = parts[1];
  if (target === undefined) throw new KprobeDefinitionError('target', line, 'missing probe target');
  const kind = m[1] as ProbeKind;
  const args = parts.slice(2).map((p): FetchArg => {
    const eq = p.indexOf('=');
    const name = eq >= 0 ? p.slice(0, eq) : p;
    const rest = eq >= 0 ? p.slice(eq + 1) : p;
    // The type follows the last ':' outside parentheses/brackets (fetch args contain no ':').
    const colon = rest.lastIndexOf(':');
    return colon >= 0 ? { name, fetch: rest.slice(0, colon), type: rest.slice(colon + 1) } : { name, fetch: rest };
  });
  const def: KprobeDefinition = { kind, group: m[3], event: m[4], target, args };
  if (m[2]) def.maxActive = Number(m[2]);
  return def;
}

/** True when `line` is exactly what buildKprobeLine would produce for some valid definition. */
export function isValidKprobeLine(line: string): boolean {
  try {
    return buildKprobeLine(parseKprobeLine(line)) === line;
  } catch {
    return false;
  }
}
