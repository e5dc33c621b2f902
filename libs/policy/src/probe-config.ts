// A user probe as configs and policies spell it: a kprobe or kretprobe with typed fetch args. The
// schema checks the shape; the kprobe grammar (kprobe-grammar.ts) checks every value once it is a
// definition, so a bad one is refused before anything is written to tracefs.
import { PROBE_GROUP } from '@probefleet/events';
import { z } from 'zod';
import { Name } from './filter-config';
import type { KprobeDefinition } from './kprobe-grammar';

export const ProbeArgSchema = z.strictObject({
  name: Name,
  fetch: z.string().min(1),
  type: z.string().min(1),
});

export const ProbeConfigSchema = z.strictObject({
  name: Name,
  /** Absent: kprobe (the configs written before kretprobes existed). */
  kind: z.enum(['kprobe', 'kretprobe']).optional(),
  symbol: z.string().min(1),
  offset: z.number().int().min(0).optional(),
  /** kretprobe only: how many instances may be in flight at once (r<N>:). */
  maxActive: z.number().int().min(0).max(4096).optional(),
  args: z.array(ProbeArgSchema).default([]),
});
export type ProbeConfig = z.infer<typeof ProbeConfigSchema>;

export function userProbeDefinition(p: ProbeConfig): KprobeDefinition {
  return {
    kind: p.kind === 'kretprobe' ? 'r' : 'p',
    group: PROBE_GROUP,
    event: p.name,
    target: p.offset ? `${p.symbol}+${p.offset}` : p.symbol,
    ...(p.maxActive !== undefined ? { maxActive: p.maxActive } : {}),
    args: p.args.map((a) => ({ name: a.name, fetch: a.fetch, type: a.type })),
  };
}
