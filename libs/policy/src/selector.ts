// Which hosts a policy is for: host names or globs (`*`, `?`), a kernel release range, the modes,
// and labels the agents declare in their config. Every part given must hold; an empty selector
// selects every host. Pure: the agent decides for itself, the aggregator for its status view.
import { LabelsSchema } from '@probefleet/events';
import { z } from 'zod';

const GLOB_RE = /^[A-Za-z0-9_.*?-]{1,253}$/;
/** A kernel version prefix: 6, 6.1, 6.1.0 (what `uname -r` starts with). */
const VERSION_RE = /^[0-9]{1,4}(?:\.[0-9]{1,4}){0,2}$/;


export const ModeSchema = z.enum(['kprobe', 'tracepoint']);

export const SelectorSchema = z
  .strictObject({
    hosts: z.array(z.string().regex(GLOB_RE, 'expected a host name or glob ([A-Za-z0-9_.-], * and ?)')).min(1).max(256).optional(),
    /** Inclusive: min 6.1 takes 6.1.0 and later, max 6.12 takes every 6.12.x. */
    kernels: z
      .strictObject({
        min: z.string().regex(VERSION_RE, 'expected a kernel version such as 6.1 or 6.1.0').optional(),
        max: z.string().regex(VERSION_RE, 'expected a kernel version such as 6.12 or 6.12.57').optional(),
      })
      .optional(),
    modes: z.array(ModeSchema).min(1).optional(),
    labels: LabelsSchema.optional(),
  })
  .superRefine((s, ctx) => {
    const { min, max } = s.kernels ?? {};
    if (min !== undefined && max !== undefined && compareVersions(version(min), version(max), version(max).length) > 0) {
      ctx.addIssue({ code: 'custom', path: ['kernels', 'max'], message: `${max} is below min ${min}` });
    }
  });
export type Selector = z.infer<typeof SelectorSchema>;

/** What a host says about itself, for its selectors. */
export interface HostFacts {
  host: string;
  kernelRelease: string;
  mode: 'kprobe' | 'tracepoint';
  labels: Readonly<Record<string, string>>;
}

const version = (text: string): number[] => (/^[0-9]+(?:\.[0-9]+){0,2}/.exec(text)?.[0] ?? '').split('.').filter((p) => p !== '').map(Number);

/** Compares the first `n` components (a missing one counts as 0). */
function compareVersions(a: number[], b: number[], n: number): number {
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function globMatches(glob: string, name: string): boolean {
  const re = glob.replace(/[.+^${}()|[\]\\-]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(name);
}

/** True when `release` is within the range (a release that names no version is outside any range). */
export function inKernelRange(release: string, range: { min?: string | undefined; max?: string | undefined }): boolean {
  const v = version(release);
  if (v.length === 0) return range.min === undefined && range.max === undefined;
  if (range.min !== undefined && compareVersions(v, version(range.min), 3) < 0) return false;
  if (range.max !== undefined && compareVersions(v, version(range.max), version(range.max).length) > 0) return false;
  return true;
}

export function selects(s: Selector, h: HostFacts): boolean {
  if (s.hosts && !s.hosts.some((g) => globMatches(g, h.host))) return false;
  if (s.kernels && !inKernelRange(h.kernelRelease, s.kernels)) return false;
  if (s.modes && !s.modes.includes(h.mode)) return false;
  return Object.entries(s.labels ?? {}).every(([k, v]) => h.labels[k] === v);
}
