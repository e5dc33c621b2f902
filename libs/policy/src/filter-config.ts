// The `filter:` config section: which transitions the kernel records at all. Rendered into the
// tracefs `filter` file of each of our events in our own instance, so a transition outside it never
// reaches the ring buffer (nor user space). Values are validated twice: by this schema (integers,
// enum names, identifiers only) and by the filter grammar (filter-grammar.ts) when rendered.
import { FILTER_OPS, renderFilter, type FilterComparison, type FilterExpression } from './filter-grammar';
import { TCP_PROBE_FIELDS } from './tcp-probe';
import { TCP_STATES, TcpStateSchema, type TcpStateName } from '@probefleet/events';
import { z } from 'zod';

export const Name = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must match [A-Za-z_][A-Za-z0-9_]*').max(63);
const Port = z.number().int().min(0).max(65535);
const FAMILIES = { AF_INET: 2, AF_INET6: 10 } as const;

export const FieldComparisonSchema = z.strictObject({
  field: Name,
  op: z.enum(FILTER_OPS),
  /** An integer, or its decimal/hex text for 64-bit values beyond 2^53. */
  value: z.union([z.number().int().refine(Number.isSafeInteger, 'must be a safe integer'), z.string().regex(/^(?:0x[0-9a-fA-F]{1,16}|-?[0-9]{1,20})$/, 'must be an integer (decimal or 0x hex)')]),
});

export const FilterConfigSchema = z.strictObject({
  /** A transition matches when its local or remote port is one of these. */
  ports: z.array(Port).min(1).max(64).optional(),
  /** ... when its old or new state is one of these. */
  states: z.array(TcpStateSchema).min(1).optional(),
  families: z.array(z.enum(['AF_INET', 'AF_INET6'])).min(1).optional(),
  /** User probes: every comparison must hold (fields are the probe's arg names). */
  probes: z.record(Name, z.array(FieldComparisonSchema).min(1).max(16)).optional(),
});
export type FilterConfig = z.infer<typeof FilterConfigSchema>;

/** The TCP event's field names in each source (the kprobe's dport is read in network order). */
export type TcpSource = 'tracepoint' | 'kprobe';
const htons = (p: number) => ((p & 0xff) << 8) | (p >>> 8);

/** The expression for our TCP event; empty when nothing is filtered. */
export function tcpFilter(source: TcpSource, f: FilterConfig | undefined): FilterExpression {
  if (!f) return [];
  const eq = (field: string, value: number): FilterComparison => ({ field, op: '==', value });
  const out: FilterComparison[][] = [];
  const dport = source === 'kprobe' ? TCP_PROBE_FIELDS.dportBe : 'dport';
  const dportValue = source === 'kprobe' ? htons : (p: number) => p;
  if (f.ports) out.push(f.ports.flatMap((p) => [eq('sport', p), eq(dport, dportValue(p))]));
  if (f.states) out.push(f.states.flatMap((s: TcpStateName) => [eq('oldstate', TCP_STATES[s]), eq('newstate', TCP_STATES[s])]));
  if (f.families) out.push(f.families.map((fam) => eq('family', FAMILIES[fam])));
  return out;
}

/** The expression of a user probe; each comparison is its own clause (all must hold). */
export function probeFilter(f: FilterConfig | undefined, probe: string): FilterExpression {
  const cmp = f?.probes?.[probe];
  if (!cmp) return [];
  return cmp.map((c) => [{ field: c.field, op: c.op, value: typeof c.value === 'number' ? c.value : BigInt(c.value) }]);
}

/** The filter line (throws FilterDefinitionError); '' when nothing is filtered. */
export function filterLine(expr: FilterExpression, where: string): string {
  return expr.length === 0 ? '' : renderFilter(expr, where);
}

/** Filter line per event name of a run (only the filtered ones), in the given mode. */
export function eventFilters(mode: TcpSource, f: FilterConfig | undefined, tcpEvent: string, userProbes: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const tcp = filterLine(tcpFilter(mode, f), 'filter');
  if (tcp !== '') out.set(tcpEvent, tcp);
  for (const name of userProbes) {
    const line = filterLine(probeFilter(f, name), `filter.probes.${name}`);
    if (line !== '') out.set(name, line);
  }
  return out;
}
