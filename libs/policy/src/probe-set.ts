// What the agent's config and a policy both carry: user probes, tracepoints and in-kernel filters,
// with the checks across them (names, the grammar of every definition, filters that name what
// exists), reported as zod issues at the field's path. Rendering them is pure; nothing is written.
import { ACCEPT_PROBE_EVENT, TCP_PROBE_EVENT, TCP_TRACEPOINT } from '@probefleet/events';
import { z } from 'zod';
import { eventFilters, filterLine, probeFilter, tcpFilter, type FilterConfig, type TcpSource } from './filter-config';
import { FilterDefinitionError, type FilterExpression } from './filter-grammar';
import { buildKprobeLine, KprobeDefinitionError } from './kprobe-grammar';
import { Name } from './filter-config';
import { userProbeDefinition, type ProbeConfig } from './probe-config';

/** A tracepoint by `group:event` (set_event syntax), its hits named `name`. */
export const TracepointConfigSchema = z.strictObject({
  name: Name,
  tracepoint: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}:[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'expected GROUP:EVENT (identifiers)'),
});
export type TracepointConfig = z.infer<typeof TracepointConfigSchema>;

export interface ProbeSet {
  probes: readonly ProbeConfig[];
  tracepoints?: readonly TracepointConfig[] | undefined;
  filter?: FilterConfig | undefined;
}

/** Names no user probe may take: the agent's own events. */
export const RESERVED_PROBE_NAMES: readonly string[] = [TCP_PROBE_EVENT, ACCEPT_PROBE_EVENT, TCP_TRACEPOINT.event];

/** Maps a grammar field (`target`, `args[1].fetch`, `event`) to the path under probes[i]. */
function grammarPath(field: string): (string | number)[] {
  if (field === 'target') return ['symbol'];
  if (field === 'event') return ['name'];
  const m = /^args\[(\d+)\]\.(\w+)$/.exec(field);
  return m ? ['args', Number(m[1]), m[2] as string] : [field];
}

/** The superRefine body of a schema with a probe set (`at`: the set's path in it). */
export function checkProbeSet(set: ProbeSet, ctx: z.RefinementCtx, at: (string | number)[] = []): void {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path: [...at, ...path], message });
  const seen = new Set<string>();
  const named = (name: string, path: (string | number)[], what: string) => {
    if (RESERVED_PROBE_NAMES.includes(name)) issue(path, `${name} is reserved for the agent's own probe`);
    if (seen.has(name)) issue(path, `duplicate ${what} name ${name}`);
    seen.add(name);
  };
  set.probes.forEach((p, i) => {
    named(p.name, ['probes', i, 'name'], 'probe');
    try {
      buildKprobeLine(userProbeDefinition(p));
    } catch (e) {
      if (!(e instanceof KprobeDefinitionError)) throw e;
      issue(['probes', i, ...grammarPath(e.field)], e.message);
    }
  });
  (set.tracepoints ?? []).forEach((t, i) => named(t.name, ['tracepoints', i, 'name'], 'probe'));
  for (const [name, cmp] of Object.entries(set.filter?.probes ?? {})) {
    const probe = set.probes.find((p) => p.name === name);
    const tracepoint = set.tracepoints?.find((t) => t.name === name);
    if (!probe && !tracepoint) {
      issue(['filter', 'probes', name], `no probe or tracepoint named ${name}`);
      continue;
    }
    // A tracepoint's fields are its format's, which only the kernel knows: it checks them.
    if (probe) {
      cmp.forEach((c, j) => {
        if (!probe.args.some((a) => a.name === c.field)) issue(['filter', 'probes', name, j, 'field'], `${c.field} is not an arg of probe ${name}`);
      });
    }
  }
  // The rendered lines pass the filter grammar too, here, before anything touches tracefs.
  try {
    for (const source of ['tracepoint', 'kprobe'] as const) filterLine(tcpFilter(source, set.filter), 'filter');
    for (const name of seen) filterLine(probeFilter(set.filter, name), `filter.probes.${name}`);
  } catch (e) {
    // Anything else is a value the schema has already refused (and reported).
    if (e instanceof FilterDefinitionError) issue(['filter'], e.message);
  }
}

/** What a probe set writes in `mode`: kprobe_events lines, and a filter line per event it filters. */
export interface RenderedSet {
  definitions: string[];
  /** Event name → filter line (only the filtered ones; the TCP event's under `tcpEvent`). */
  filters: Map<string, string>;
  /** The TCP event's clauses, to be joined with those of the other sets applied. */
  tcp: FilterExpression;
}

export function renderProbeSet(mode: TcpSource, set: ProbeSet, tcpEvent: string): RenderedSet {
  const names = [...set.probes.map((p) => p.name), ...(set.tracepoints ?? []).map((t) => t.name)];
  return {
    definitions: set.probes.map((p) => buildKprobeLine(userProbeDefinition(p))),
    filters: eventFilters(mode, set.filter, tcpEvent, names),
    tcp: tcpFilter(mode, set.filter),
  };
}
