// A guest the test talks to while it runs: the guest script starts its programs in the background,
// then serves commands the host drops into the share (/share/cmd/N.sh -> N.out, N.rc) until the host
// asks it to stop. shutdown() ends it cleanly (the guest's own teardown, power-off) or kills qemu:
// call it in a finally/afterAll, so a failing expect on the host never leaves qemu running.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KernelLabError, startBoot, type BootOptions, type BootResult, type RunningBoot } from './lab';

const POLL_MS = 200;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** After the guest script: run each command file in name order until /share/cmd/stop appears. */
const COMMAND_LOOP = `
mkdir -p /share/cmd
while [ ! -e /share/cmd/stop ]; do
  for f in /share/cmd/*.sh; do
    [ -e "$f" ] || continue
    n=\${f%.sh}
    sh "$f" > "$n.out" 2>&1 </dev/null; echo $? > "$n.rc.tmp"; mv "$n.rc.tmp" "$n.rc"; rm -f "$f"
  done
  usleep ${POLL_MS * 1000}
done
`;

export interface LiveGuestOptions extends BootOptions {
  /** sh run once the host asks the guest to stop, before power-off (stop the programs, save their output). */
  teardownScript?: string;
}

export interface LiveGuest {
  shareDir: string;
  /** Runs `script` (busybox sh, cwd /share) in the guest; its combined output and exit code. */
  exec(script: string, ms?: number): Promise<{ code: number; out: string }>;
  /** The share file NAME's text once `ready(text)` holds; throws naming it after `ms`. */
  waitFor(name: string, ready: (text: string) => boolean, ms: number): Promise<string>;
  /** Asks the guest to stop (teardown, power-off) and waits `ms` for it; then kills qemu. Idempotent. */
  shutdown(ms?: number): Promise<BootResult>;
}

export async function bootLive(opts: LiveGuestOptions): Promise<LiveGuest> {
  const boot: RunningBoot = await startBoot({ ...opts, guestScript: `${opts.guestScript}\n${COMMAND_LOOP}\n${opts.teardownScript ?? ''}\n` });
  const cmdDir = path.join(boot.shareDir, 'cmd');
  let seq = 0;
  let exited = false;
  void boot.result.then(() => (exited = true), () => (exited = true));
  const gone = () => new KernelLabError(`the guest has exited (${opts.series})`);
  const waitFor = async (name: string, ready: (text: string) => boolean, ms: number): Promise<string> => {
    const file = path.join(boot.shareDir, name);
    const deadline = Date.now() + ms;
    for (;;) {
      const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
      if (text !== undefined && ready(text)) return text;
      if (exited) throw gone();
      if (Date.now() > deadline) throw new KernelLabError(`guest ${opts.series}: /share/${name} not ready within ${ms} ms${text === undefined ? ' (no such file)' : `; it holds:\n${text.slice(-2000)}`}`);
      await sleep(POLL_MS);
    }
  };
  let stopping: Promise<BootResult> | undefined;
  return {
    shareDir: boot.shareDir,
    async exec(script, ms = 60_000) {
      fs.mkdirSync(cmdDir, { recursive: true });
      const n = String(++seq).padStart(4, '0');
      // Renamed into place: the guest never runs a half-written file.
      fs.writeFileSync(path.join(cmdDir, `${n}.tmp`), script);
      fs.renameSync(path.join(cmdDir, `${n}.tmp`), path.join(cmdDir, `${n}.sh`));
      const rc = await waitFor(`cmd/${n}.rc`, (t) => t.endsWith('\n'), ms);
      return { code: Number(rc.trim()), out: fs.readFileSync(path.join(cmdDir, `${n}.out`), 'utf8') };
    },
    waitFor,
    shutdown(ms = 60_000) {
      stopping ??= (async () => {
        if (!exited) {
          fs.mkdirSync(cmdDir, { recursive: true });
          fs.writeFileSync(path.join(cmdDir, 'stop'), '');
          const timer = setTimeout(() => boot.kill(), ms);
          try {
            return await boot.result;
          } finally {
            clearTimeout(timer);
          }
        }
        return boot.result;
      })();
      return stopping;
    },
  };
}
