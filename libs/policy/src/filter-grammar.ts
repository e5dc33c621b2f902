// Event filters (the tracefs `filter` file of an event): a conjunction of disjunctions of
// `field op integer` comparisons, rendered by us and validated by the same kind of strict grammar
// as kprobe_events lines. Values are integers only (no strings, so no globs or quotes) and field
// names are identifiers, so no value can carry an operator, a newline or a second expression.
// Everything is checked before anything is written to tracefs.

export const FILTER_OPS = ['==', '!=', '<', '<=', '>', '>=', '&'] as const;
export type FilterOp = (typeof FILTER_OPS)[number];

export interface FilterComparison {
  field: string;
  op: FilterOp;
  /** An integer: a number (safe integer) or a bigint (64-bit fields). */
  value: number | bigint;
}

/** All clauses must hold; a clause holds when any of its comparisons does. */
export type FilterExpression = readonly (readonly FilterComparison[])[];

export class FilterDefinitionError extends Error {
  override name = 'FilterDefinitionError';
}

const FIELD_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** The kernel's own limit on a filter string is a page; far below that keeps error_log readable. */
export const MAX_FILTER_LENGTH = 2048;
const U64_MAX = (1n << 64n) - 1n;
const S64_MIN = -(1n << 63n);

function comparison(c: FilterComparison, where: string): string {
  if (typeof c.field !== 'string' || !FIELD_RE.test(c.field)) throw new FilterDefinitionError(`${where}.field: ${JSON.stringify(c.field)} is not a field name ([A-Za-z_][A-Za-z0-9_]*)`);
  if (!(FILTER_OPS as readonly string[]).includes(c.op)) throw new FilterDefinitionError(`${where}.op: ${JSON.stringify(c.op)} is not one of ${FILTER_OPS.join(' ')}`);
  const v = c.value;
  const ok = typeof v === 'bigint' ? v >= S64_MIN && v <= U64_MAX : typeof v === 'number' && Number.isSafeInteger(v);
  if (!ok) throw new FilterDefinitionError(`${where}.value: ${String(v)} is not an integer the kernel compares`);
  return `${c.field} ${c.op} ${v.toString()}`;
}

/** The filter line for an expression ('' = no filter, i.e. `0` clears it); throws FilterDefinitionError. */
export function renderFilter(expr: FilterExpression, where = 'filter'): string {
  const clauses = expr.map((clause, i) => {
    if (clause.length === 0) throw new FilterDefinitionError(`${where}[${i}]: an empty alternative matches nothing`);
    const parts = clause.map((c, j) => comparison(c, `${where}[${i}][${j}]`));
    return parts.length === 1 ? (parts[0] as string) : `(${parts.join(' || ')})`;
  });
  const line = clauses.join(' && ');
  if (line.length > MAX_FILTER_LENGTH) throw new FilterDefinitionError(`${where}: ${line.length} characters, more than ${MAX_FILTER_LENGTH}`);
  validateFilterLine(line);
  return line;
}

const TOKEN_RE = /^(?:\(|\)|&&|\|\||==|!=|<=|>=|<|>|&|[A-Za-z_][A-Za-z0-9_]*|-?[0-9]+)$/;

/**
 * The grammar check of a rendered line, independent of how it was built: printable ASCII only,
 * tokens separated by single spaces or parentheses, `field op integer` terms joined by && and ||.
 */
export function validateFilterLine(line: string): void {
  if (!/^[\x20-\x7e]*$/.test(line)) throw new FilterDefinitionError(`filter line has a non-printable character: ${JSON.stringify(line)}`);
  const tokens = line.replace(/\(/g, '( ').replace(/\)/g, ' )').split(' ').filter((t) => t !== '');
  let depth = 0;
  let expect: 'term' | 'join' = 'term';
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as string;
    if (!TOKEN_RE.test(t)) throw new FilterDefinitionError(`filter line: unexpected ${JSON.stringify(t)}`);
    if (expect === 'term') {
      if (t === '(') {
        depth++;
        continue;
      }
      const [op, value] = [tokens[i + 1], tokens[i + 2]];
      if (!FIELD_RE.test(t) || !(FILTER_OPS as readonly string[]).includes(op ?? '') || !/^-?[0-9]+$/.test(value ?? '')) {
        throw new FilterDefinitionError(`filter line: expected \`field op integer\` at ${JSON.stringify(tokens.slice(i, i + 3).join(' '))}`);
      }
      i += 2;
      expect = 'join';
    } else if (t === ')') {
      if (--depth < 0) throw new FilterDefinitionError('filter line: unbalanced )');
    } else if (t === '&&' || t === '||') {
      expect = 'term';
    } else {
      throw new FilterDefinitionError(`filter line: expected && or || before ${JSON.stringify(t)}`);
    }
  }
  if (depth !== 0 || (tokens.length > 0 && expect === 'term')) throw new FilterDefinitionError(`filter line is incomplete: ${JSON.stringify(line)}`);
}
