// What this host offers for tracing. All paths hang off `root` so tests can use a fake tree.
import { execFile } from 'node:child_process';
import { access, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

export const TRACEFS_CANDIDATES = ['sys/kernel/tracing', 'sys/kernel/debug/tracing'] as const;
const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

export interface DiscoveryOptions {
  /** Filesystem root; default `/`. */
  root?: string;
  /** Mount tracefs when absent (root only). Default true. */
  mount?: boolean;
  /** Overrides the effective uid (tests). */
  euid?: number;
  /** How to mount tracefs at a directory; default runs `mount -t tracefs nodev DIR`. */
  mountTracefs?: (dir: string) => Promise<void>;
  /** How to mount debugfs (for kprobes/list); default runs `mount -t debugfs nodev DIR`. */
  mountDebugfs?: (dir: string) => Promise<void>;
}

/**
 * debugfs's kprobes directory (list, blacklist, enabled): the kernel's own view of each kprobe.
 * Mounted like tracefs when absent, but only on kernels with kprobe events (nothing to see otherwise).
 */
export interface KprobesDebugfs {
  /** The kprobes directory, or null when debugfs cannot be had. */
  dir: string | null;
  /** True when this call mounted debugfs. */
  mounted: boolean;
  /** Why dir is null (the mechanism of each probe is then unknown); null when readable or not needed. */
  problem: string | null;
  /** kprobes/enabled: false when every kprobe is disarmed at once; null when unreadable. */
  enabled: boolean | null;
  /** sysctl debug.kprobes-optimization (CONFIG_OPTPROBES); null when the kernel has none. */
  optimization: boolean | null;
}

export interface Privileges {
  euid: number;
  /** CapEff from /proc/self/status, hex as printed; null when unreadable. */
  capEff: string | null;
  capSysAdmin: boolean;
  capPerfmon: boolean;
  capBpf: boolean;
  /** euid 0 or CAP_SYS_ADMIN: enough to write kprobe_events and create instances. */
  canTrace: boolean;
}

export interface DiscoveryReport {
  /** Directory of the tracefs mount, or null when none is usable. */
  tracefs: string | null;
  /** True when this call mounted tracefs. */
  mountedTracefs: boolean;
  kprobeEvents: boolean;
  dynamicEvents: boolean;
  instances: boolean;
  btf: { path: string; present: boolean; bytes: number | null };
  /** `group:event` from available_events. */
  tracepoints: string[];
  /** Symbols from the kprobe blacklist; null when debugfs is not readable. */
  kprobeBlacklist: string[] | null;
  kprobes: KprobesDebugfs;
  privileges: Privileges;
  /** Human-readable reasons why the preferred mode won't work. */
  problems: string[];
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

async function readOrNull(p: string): Promise<string | null> {
  try {
    return await readFile(p, 'utf8');
  } catch {
    return null;
  }
}

const mounter = (type: string) => async (dir: string): Promise<void> => {
  await promisify(execFile)('mount', ['-t', type, 'nodev', dir]);
};

const DEBUGFS = 'sys/kernel/debug';

/** The kprobes directory of debugfs, mounting debugfs when it is absent and we may. */
async function findKprobesDebugfs(root: string, mayMount: boolean, opts: DiscoveryOptions): Promise<KprobesDebugfs> {
  const dir = join(root, DEBUGFS, 'kprobes');
  let mounted = false;
  let problem: string | null = null;
  if (!(await exists(join(dir, 'list'))) && mayMount) {
    try {
      await (opts.mountDebugfs ?? mounter('debugfs'))(join(root, DEBUGFS));
      mounted = true;
    } catch (e) {
      problem = `mounting debugfs at ${join(root, DEBUGFS)} failed: ${(e as Error).message}`;
    }
  }
  const readable = await exists(join(dir, 'list'));
  if (!readable && problem === null) problem = mayMount ? `${dir} missing (kernel without CONFIG_DEBUG_FS?)` : `${dir} not readable (debugfs not mounted, and not root to mount it)`;
  const flag = async (p: string) => {
    const text = await readOrNull(p);
    return text === null ? null : text.trim() === '1';
  };
  return {
    dir: readable ? dir : null,
    mounted,
    problem: readable ? null : problem,
    enabled: await flag(join(dir, 'enabled')),
    optimization: await flag(join(root, 'proc/sys/debug/kprobes-optimization')),
  };
}

/** Parses /proc/self/status into privileges. */
export function parsePrivileges(status: string | null, euid: number): Privileges {
  const m = status ? /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(status) : null;
  const caps = m?.[1] !== undefined ? BigInt(`0x${m[1]}`) : 0n;
  const has = (bit: bigint) => ((caps >> bit) & 1n) === 1n;
  return {
    euid,
    capEff: m?.[1] ?? null,
    capSysAdmin: has(CAP_SYS_ADMIN),
    capPerfmon: has(CAP_PERFMON),
    capBpf: has(CAP_BPF),
    canTrace: euid === 0 || has(CAP_SYS_ADMIN),
  };
}

/** Parses the kprobe blacklist (`0xstart-0xend\tsymbol` per line). */
export function parseBlacklist(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const sym = line.split(/\s+/)[1];
    if (sym) out.push(sym);
  }
  return out;
}

async function findTracefs(root: string): Promise<string | null> {
  for (const c of TRACEFS_CANDIDATES) {
    const dir = join(root, c);
    if (await exists(join(dir, 'available_events'))) return dir;
  }
  return null;
}

export async function discover(opts: DiscoveryOptions = {}): Promise<DiscoveryReport> {
  const root = opts.root ?? '/';
  const euid = opts.euid ?? process.geteuid?.() ?? -1;
  const privileges = parsePrivileges(await readOrNull(join(root, 'proc/self/status')), euid);
  const problems: string[] = [];

  let tracefs = await findTracefs(root);
  let mountedTracefs = false;
  if (tracefs === null && (opts.mount ?? true) && privileges.canTrace) {
    const dir = join(root, TRACEFS_CANDIDATES[0]);
    try {
      await (opts.mountTracefs ?? mounter('tracefs'))(dir);
      tracefs = await findTracefs(root);
      mountedTracefs = tracefs !== null;
    } catch (e) {
      problems.push(`mounting tracefs at ${dir} failed: ${(e as Error).message}`);
    }
  }
  if (tracefs === null) problems.push('tracefs is not mounted');
  if (!privileges.canTrace) problems.push('not root and no CAP_SYS_ADMIN');

  const kprobeEvents = tracefs !== null && (await exists(join(tracefs, 'kprobe_events')));
  if (tracefs !== null && !kprobeEvents) problems.push('kprobe_events missing (kernel without CONFIG_KPROBE_EVENTS)');
  const btfPath = join(root, 'sys/kernel/btf/vmlinux');
  const btfStat = await stat(btfPath).catch(() => null);
  if (!btfStat) problems.push(`${btfPath} missing (kernel without CONFIG_DEBUG_INFO_BTF)`);
  const events = tracefs !== null ? await readOrNull(join(tracefs, 'available_events')) : null;
  // Only kernels with kprobe events have kprobes to report; elsewhere debugfs is left alone.
  const kprobes: KprobesDebugfs = kprobeEvents
    ? await findKprobesDebugfs(root, (opts.mount ?? true) && privileges.canTrace, opts)
    : { dir: null, mounted: false, problem: null, enabled: null, optimization: null };
  const blacklist = await readOrNull(join(root, DEBUGFS, 'kprobes/blacklist'));

  return {
    tracefs,
    mountedTracefs,
    kprobeEvents,
    dynamicEvents: tracefs !== null && (await exists(join(tracefs, 'dynamic_events'))),
    instances: tracefs !== null && (await exists(join(tracefs, 'instances'))),
    btf: { path: btfPath, present: btfStat !== null, bytes: btfStat?.size ?? null },
    tracepoints: events ? events.split('\n').filter((l) => l.length > 0) : [],
    kprobeBlacklist: blacklist !== null ? parseBlacklist(blacklist) : null,
    kprobes,
    privileges,
    problems,
  };
}
