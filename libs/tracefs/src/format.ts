// Parsers for tracefs binary layout descriptions: an event's `format` file and
// `events/header_page` (the sub-buffer header of the per-cpu ring buffer).
//
// Field line (kernel/trace/trace_events.c, f_show):
//   `\tfield:TYPE NAME[LEN];\toffset:N;\tsize:N;\tsigned:N;`
// TYPE may be `__data_loc char[]` / `__rel_loc u8[]` (a u32 holding offset | length << 16),
// a pointer (`const void *`), or an array element type; kprobe arrays print as `u8 name[]`
// with the length only in `size`.

export type FieldKind = 'int' | 'pointer' | 'string' | 'array' | 'dynamic';

export interface FormatField {
  /** C type as written, without the array suffix (`__u8`, `const void *`, `__data_loc char[]`). */
  type: string;
  name: string;
  offset: number;
  size: number;
  signed: boolean;
  /** Element count of a fixed array (`__u8 saddr[4]` → 4, `u8 saddr6[]` of size 16 → 16); else null. */
  arrayLength: number | null;
  /**
   * int: a scalar; pointer: any `*` type; string: fixed `char[N]`; array: fixed array of
   * integers; dynamic: `__data_loc`/`__rel_loc` (string when the element type is char).
   */
  kind: FieldKind;
  /** Size of one array element (equals `size` for scalars). */
  elementSize: number;
  /** `__rel_loc`: the stored offset counts from the end of this field, not from the record. */
  relative: boolean;
}

export interface EventFormat {
  name: string;
  id: number;
  /** `common_type`, `common_flags`, `common_preempt_count`, `common_pid`. */
  commonFields: FormatField[];
  fields: FormatField[];
  /** The `print fmt:` line verbatim (format string and arguments). */
  printFmt: string;
}

export class FormatParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormatParseError';
  }
}

const FIELD_RE = /^\s*field:\s*(.+?);\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d+);/;

function parseFieldLine(line: string): FormatField {
  const m = FIELD_RE.exec(line);
  if (!m || m[1] === undefined || m[2] === undefined || m[3] === undefined || m[4] === undefined) {
    throw new FormatParseError(`bad field line: ${JSON.stringify(line)}`);
  }
  const decl = m[1].trim();
  const offset = Number(m[2]);
  const size = Number(m[3]);
  const signed = m[4] === '1';
  // `TYPE NAME` or `TYPE NAME[LEN]`; the name is the last identifier, the type what precedes it.
  const dm = /^(.*?)([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[(\d*)\])?$/.exec(decl);
  if (!dm || dm[1] === undefined || dm[2] === undefined) throw new FormatParseError(`bad field declaration: ${decl}`);
  const type = dm[1].trim();
  const name = dm[2];
  const bracket = dm[3];
  const dynamic = /^__(data|rel)_loc\b/.test(type);
  const base = type.replace(/^__(data|rel)_loc\s*/, '').replace(/\[\]$/, '').trim();
  // Only plain `char` arrays are text (`comm`); `unsigned char`/`u8` arrays are bytes.
  const isChar = /^(const\s+)?char$/.test(base);
  let kind: FieldKind;
  let arrayLength: number | null = null;
  let elementSize = size;
  if (dynamic) {
    kind = 'dynamic';
    elementSize = isChar ? 1 : elementSizeOf(base);
  } else if (bracket !== undefined) {
    elementSize = isChar ? 1 : elementSizeOf(base);
    arrayLength = bracket === '' ? size / elementSize : Number(bracket);
    if (!Number.isInteger(arrayLength) || arrayLength * elementSize !== size) {
      throw new FormatParseError(`array ${name}: size ${size} is not ${bracket || '?'} × ${elementSize}`);
    }
    kind = isChar ? 'string' : 'array';
  } else if (type.includes('*')) {
    kind = 'pointer';
  } else {
    kind = 'int';
  }
  if (kind !== 'string' && kind !== 'dynamic' && ![1, 2, 4, 8].includes(elementSize)) {
    throw new FormatParseError(`field ${name}: unsupported element size ${elementSize}`);
  }
  return { type, name, offset, size, signed, arrayLength, kind, elementSize, relative: type.startsWith('__rel_loc') };
}

/** Byte size of an integer element type as kernels spell them in format files. */
function elementSizeOf(type: string): number {
  const t = type.replace(/^const\s+/, '');
  const m = /^(?:__)?[us](8|16|32|64)$/.exec(t);
  if (m?.[1]) return Number(m[1]) / 8;
  if (/^(unsigned\s+|signed\s+)?(char|bool|_Bool)$/.test(t)) return 1;
  if (/^(unsigned\s+|signed\s+)?short(\s+int)?$/.test(t)) return 2;
  if (/^(unsigned\s+|signed\s+)?int$|^unsigned$|^pid_t$|^gfp_t$/.test(t)) return 4;
  if (/^(unsigned\s+|signed\s+)?long(\s+long)?(\s+int)?$|^size_t$|^loff_t$|^dev_t$/.test(t)) return 8;
  throw new FormatParseError(`unknown element type ${JSON.stringify(type)}`);
}

/** Parses `events/<group>/<event>/format`. */
export function parseEventFormat(text: string): EventFormat {
  let name: string | null = null;
  let id: number | null = null;
  let printFmt = '';
  const commonFields: FormatField[] = [];
  const fields: FormatField[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('name: ')) name = line.slice(6).trim();
    else if (line.startsWith('ID: ')) id = Number(line.slice(4));
    else if (line.startsWith('print fmt: ')) printFmt = line.slice(11);
    else if (/^\s*field:/.test(line)) {
      const f = parseFieldLine(line);
      (f.name.startsWith('common_') ? commonFields : fields).push(f);
    }
  }
  if (name === null || id === null || !Number.isInteger(id)) throw new FormatParseError('format without name or ID');
  if (!commonFields.some((f) => f.name === 'common_type')) throw new FormatParseError(`${name}: no common_type field`);
  return { name, id, commonFields, fields, printFmt };
}

export interface HeaderPage {
  timestampOffset: number;
  timestampSize: number;
  commitOffset: number;
  /** 8 on 64-bit kernels (local_t); the RB_MISSED_* flags live in it. */
  commitSize: number;
  dataOffset: number;
  /** Data bytes per sub-buffer (`data` field size): page size − dataOffset. */
  dataSize: number;
}

/** Parses `events/header_page` (struct buffer_data_page as the kernel describes it). */
export function parseHeaderPage(text: string): HeaderPage {
  const byName = new Map<string, { offset: number; size: number }>();
  for (const line of text.split('\n')) {
    const m = /field:\s*(.+?)\s+(\w+);\s*offset:(\d+);\s*size:(\d+);/.exec(line);
    if (m?.[2] !== undefined) byName.set(m[2], { offset: Number(m[3]), size: Number(m[4]) });
  }
  const get = (n: string) => {
    const f = byName.get(n);
    if (!f) throw new FormatParseError(`header_page without ${n}`);
    return f;
  };
  const ts = get('timestamp');
  const commit = get('commit');
  const data = get('data');
  return {
    timestampOffset: ts.offset,
    timestampSize: ts.size,
    commitOffset: commit.offset,
    commitSize: commit.size,
    dataOffset: data.offset,
    dataSize: data.size,
  };
}
