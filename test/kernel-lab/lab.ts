// Kernel lab: boots a stock Debian kernel (6.1 or 6.12, generic) under qemu/TCG and runs a shell
// script in it. The guest sees the test's share dir at /share (rw) and the host's / at /mnt/host (ro);
// `inhost CMD...` in the guest runs CMD from the host's root (chroot) in the repo directory, so any
// program of this repo (node scripts, the built agent) runs against the guest's kernel. See README.md.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeEvent, type Event } from '@probefleet/events';

export type KernelSeries = '6.1' | '6.12';
export const KERNEL_SERIES: readonly KernelSeries[] = ['6.1', '6.12'];

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const LAB_DIR = process.env['LAB'] ?? path.join(REPO_ROOT, '.kernel-lab');
const SCRIPTS = __dirname;
/** The share dir as seen from `inhost` commands (the guest's /share is bind-mounted there). */
export const CHROOT_SHARE = '/tmp/share';

export interface BootOptions {
  series: KernelSeries;
  /**
   * POSIX sh (busybox) run as /share/guest.sh, cwd /share, stdout+stderr to the console. Environment:
   * REPO (repo path; same path inside `inhost`), NODE (host node binary), SHARE=/share,
   * CHROOT_SHARE=/tmp/share, HOSTROOT=/mnt/host, plus `env`. Its exit code is the guest's exit code.
   */
  guestScript: string;
  /** Files written into the share before boot: guest /share/NAME, for `inhost` /tmp/share/NAME. */
  files?: Record<string, string | Buffer>;
  /** Extra variables for the guest script. */
  env?: Record<string, string>;
  /** Bound on the whole boot (qemu is killed after it). Default 300000. */
  timeoutMs?: number;
  /** Return instead of throwing when the guest script exits non-zero. */
  allowGuestFailure?: boolean;
  /**
   * Opt-in network: qemu user-mode networking on virtio-net (eth0, 10.0.2.15; the host's loopback is
   * 10.0.2.2). Each `forward` port of the host's loopback is served at the guest's 127.0.0.1 (by
   * guest/forward.js, listening before the guest script starts), so a guest config can name
   * 127.0.0.1:PORT as on the host. Without it the guest has no network.
   */
  network?: { forward: number[] };
}

export interface BootResult {
  series: KernelSeries;
  /** `uname -r` of the guest, as the guest's init printed it. */
  kernelRelease: string;
  /** Serial console (kernel messages + guest script output), escape sequences removed. */
  console: string;
  /** Host path of the share dir: what the guest wrote to /share is here. */
  shareDir: string;
  guestExitCode: number;
  /** Wall time of the boot alone (kernel fetch and initramfs not included). */
  bootMs: number;
  /** Reads a file the guest wrote to /share (throws naming the file when it is missing). */
  read(name: string): string;
  exists(name: string): boolean;
  /** Deletes the share dir (kept when KERNEL_LAB_KEEP=1). */
  cleanup(): void;
}

export class KernelLabError extends Error {
  override name = 'KernelLabError';
}

const SETUP_HINT = 'run `bash test/kernel-lab/setup.sh` (as root) to install the kernel lab host packages';

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, env: { ...process.env, LAB: LAB_DIR }, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new KernelLabError(`${path.basename(cmd)} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

function onPath(bin: string): boolean {
  const dirs = [...(process.env['PATH'] ?? '').split(':'), '/usr/sbin', '/sbin'];
  return dirs.some((d) => d && fs.existsSync(path.join(d, bin)));
}

/** Throws a KernelLabError naming setup.sh when the host lacks what the lab needs. */
export function checkHost(): void {
  const missing = ['qemu-system-x86_64', 'cpio', 'apt-get', 'dpkg', 'modprobe', 'flock', 'timeout'].filter((b) => !onPath(b));
  if (!fs.existsSync('/bin/busybox')) missing.push('/bin/busybox (busybox-static)');
  if (missing.length) throw new KernelLabError(`kernel lab: missing ${missing.join(', ')}: ${SETUP_HINT}`);
}

export interface PreparedKernel {
  kver: string;
  /** Time spent fetching (download + unpack when not cached) and building the initramfs. */
  prepareMs: number;
}

const prepared = new Map<KernelSeries, Promise<PreparedKernel>>();

/** Fetches (cached under LAB_DIR) the newest kernel of the series and builds its initramfs; once per process. */
export function prepareKernel(series: KernelSeries): Promise<PreparedKernel> {
  let p = prepared.get(series);
  if (!p) {
    p = (async () => {
      checkHost();
      const t0 = Date.now();
      const kver = (await run(path.join(SCRIPTS, 'fetch-kernel.sh'), [series], 600_000)).split('\n').pop() ?? '';
      if (!kver) throw new KernelLabError(`fetch-kernel.sh ${series} printed no kernel version`);
      await run(path.join(SCRIPTS, 'build-initramfs.sh'), [kver], 120_000);
      const prepareMs = Date.now() - t0;
      process.stderr.write(`kernel-lab: ${kver} fetched/cached + initramfs in ${(prepareMs / 1000).toFixed(1)} s\n`);
      return { kver, prepareMs };
    })();
    prepared.set(series, p);
  }
  return p;
}

function cleanConsole(raw: string): string {
  // SeaBIOS and the serial line emit terminal control sequences and CRs.
  return raw.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[a-zA-Z]|\r/g, '');
}

function writeShare(dir: string, files: Record<string, string | Buffer>): void {
  for (const [name, content] of Object.entries(files)) {
    const dest = path.resolve(dir, name);
    if (!dest.startsWith(dir + path.sep)) throw new KernelLabError(`share file name escapes the share dir: ${name}`);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, content);
  }
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** A guest booting or running: its share dir, its outcome, and a way to stop it early. */
export interface RunningBoot {
  shareDir: string;
  /** Settles when qemu has exited (as bootAndRun's promise does). */
  result: Promise<BootResult>;
  /** Ends qemu now (SIGTERM through boot.sh's `timeout`); `result` then rejects. */
  kill(): void;
}

/** Boots the newest kernel of `series`, runs `guestScript` in it and returns what it printed and wrote. */
export async function bootAndRun(opts: BootOptions): Promise<BootResult> {
  return (await startBoot(opts)).result;
}

/** bootAndRun without waiting for the guest: for a test that talks to the running guest. */
export async function startBoot(opts: BootOptions): Promise<RunningBoot> {
  const { kver } = await prepareKernel(opts.series);
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const forward = opts.network?.forward ?? [];
  if (opts.network && (forward.length === 0 || forward.some((p) => !Number.isInteger(p) || p < 1 || p > 65535))) {
    throw new KernelLabError(`network.forward: TCP ports (1-65535) expected, got ${JSON.stringify(forward)}`);
  }
  const shareDir = fs.mkdtempSync(path.join(os.tmpdir(), `probefleet-lab-${opts.series}-`));
  const env: Record<string, string> = { REPO: REPO_ROOT, NODE: process.execPath, ...opts.env, ...(opts.network ? { LAB_FORWARD: forward.join(' ') } : {}) };
  for (const k of Object.keys(env)) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new KernelLabError(`bad env name ${k}`);
  writeShare(shareDir, {
    ...opts.files,
    'guest.sh': opts.guestScript,
    'lab.env': Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}\n`).join(''),
  });

  const t0 = Date.now();
  const child = spawn(path.join(SCRIPTS, 'boot.sh'), [kver, shareDir], {
    env: { ...process.env, LAB: LAB_DIR, BOOT_TIMEOUT: String(Math.ceil(timeoutMs / 1000)), ...(opts.network ? { LAB_NET: '1' } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let killed = false;
  const exited = new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => chunks.push(d));
    // boot.sh bounds qemu with `timeout`; this is the backstop should that fail.
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 15_000);
    child.on('error', (e) => { clearTimeout(timer); reject(new KernelLabError(`cannot run boot.sh: ${e.message}: ${SETUP_HINT}`)); });
    child.on('close', (c) => { clearTimeout(timer); resolve({ code: c, output: Buffer.concat(chunks).toString('utf8') }); });
  });
  const result = exited.then(({ code, output }) => outcome(opts, kver, timeoutMs, shareDir, Date.now() - t0, code, output, killed));
  result.catch(() => undefined); // the caller's to report
  return {
    shareDir,
    result,
    // `timeout` passes SIGTERM on to qemu (a SIGKILL of it would leave qemu running).
    kill: () => { killed = true; if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM'); },
  };
}

function outcome(opts: BootOptions, kver: string, timeoutMs: number, shareDir: string, bootMs: number, code: number | null, output: string, killed: boolean): BootResult {
  process.stderr.write(`kernel-lab: ${kver} boot + guest script in ${(bootMs / 1000).toFixed(1)} s (qemu exit ${code})\n`);
  const consoleText = cleanConsole(output);
  const tail = consoleText.split('\n').slice(-40).join('\n');
  const fromShare = (f: string): string | undefined => {
    try { return fs.readFileSync(path.join(shareDir, f), 'utf8').trim(); } catch { return undefined; }
  };
  const release = fromShare('kernel-release') ?? /=== LAB KERNEL (\S+)/.exec(consoleText)?.[1];
  const exit = fromShare('guest.rc');
  const keep = process.env['KERNEL_LAB_KEEP'] === '1';
  const fail: (what: string) => never = (what) => {
    if (!keep) fs.rmSync(shareDir, { recursive: true, force: true });
    const where = keep ? `share kept: ${shareDir}` : 'KERNEL_LAB_KEEP=1 keeps the share dir';
    throw new KernelLabError(`kernel ${kver}: ${what} (${where}). Console tail:\n${tail}`);
  };
  if (killed) fail('stopped by the test (qemu killed)');
  if (code === 124 || code === 137 || code === null) fail(`no power-off within ${timeoutMs} ms (qemu killed)`);
  if (!release || exit === undefined || !/^\d+$/.test(exit)) fail(`guest did not complete (boot.sh exit ${code})`);
  const guestExitCode = Number(exit);
  if (guestExitCode !== 0 && !opts.allowGuestFailure) {
    fail(`guest script exited ${guestExitCode}`);
  }
  return {
    series: opts.series,
    kernelRelease: release,
    console: consoleText,
    shareDir,
    guestExitCode,
    bootMs,
    read(name: string): string {
      const f = path.join(shareDir, name);
      if (!fs.existsSync(f)) throw new KernelLabError(`kernel ${kver}: guest wrote no /share/${name}. Console tail:\n${tail}`);
      return fs.readFileSync(f, 'utf8');
    },
    exists: (name: string) => fs.existsSync(path.join(shareDir, name)),
    cleanup(): void {
      if (!keep) fs.rmSync(shareDir, { recursive: true, force: true });
    },
  };
}

/**
 * One boot per kernel for a whole spec file: the first call for a series boots it, later calls
 * share the result, so several tests can read one guest run.
 */
export function bootPerSeries(opts: Omit<BootOptions, 'series'>): ((series: KernelSeries) => Promise<BootResult>) & { cleanup(): Promise<void> } {
  const runs = new Map<KernelSeries, Promise<BootResult>>();
  const runFor = (series: KernelSeries): Promise<BootResult> => {
    let p = runs.get(series);
    if (!p) {
      p = bootAndRun({ ...opts, series });
      p.catch(() => undefined); // reported by the test that awaits it
      runs.set(series, p);
    }
    return p;
  };
  // For the spec's afterAll: each booted series' share dir (a failed boot removed its own).
  const cleanup = async (): Promise<void> => {
    for (const p of runs.values()) await p.then((r) => r.cleanup(), () => undefined);
  };
  return Object.assign(runFor, { cleanup });
}

/** The agent's NDJSON output (a guest run's stdout) as events; a line that is not a valid event fails the test. */
export function parseEvents(text: string): Event[] {
  return text.split('\n').filter((l) => l !== '').map((l) => {
    const r = decodeEvent(l);
    if (!r.ok) throw new Error(`invalid event from the agent: ${l}`);
    return r.value;
  });
}
