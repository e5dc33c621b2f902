// Helpers for the `npm start` e2e test: `npm start` run as a terminal runs a foreground job (a
// process group of its own, so Ctrl-C is SIGINT to the group), its output, and the processes under it.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { REPO, sleep } from './agent-kafka';

export interface NpmStart {
  child: ChildProcess;
  /** stdout and stderr, interleaved as they came. */
  output: () => string;
  /** Resolves with the first match of `re` in the output; rejects after `ms` or when npm exits first. */
  waitFor: (re: RegExp, ms: number) => Promise<RegExpMatchArray>;
  /** Ctrl-C: SIGINT to the whole process group, as a terminal sends it. */
  interrupt: () => void;
  exit: Promise<number | null>;
}

/** `npm start` in the repository, with `env` over the test's environment (the update check off). */
export function npmStart(env: NodeJS.ProcessEnv, wrap: string[] = []): NpmStart {
  const [cmd, ...args] = [...wrap, 'npm', 'start'];
  const child = spawn(cmd as string, args, {
    cwd: REPO,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', ...env },
  });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let exited = false;
  void exit.then(() => (exited = true));
  const waitFor = async (re: RegExp, ms: number) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = out.match(re);
      if (m) return m;
      if (exited || Date.now() > deadline) throw new Error(`npm start: no ${re} ${exited ? 'before it exited' : `within ${ms} ms`}; output:\n${out}`);
      await sleep(200);
    }
  };
  return { child, output: () => out, waitFor, interrupt: () => process.kill(-(child.pid as number), 'SIGINT'), exit };
}

/** pid → parent pid of every process now. */
function parents(): Map<number, { ppid: number; cmd: string }> {
  const out = new Map<number, { ppid: number; cmd: string }>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim();
      out.set(Number(name), { ppid, cmd });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Every process under `pid` (children, theirs, ...) with its command line. */
export function descendants(pid: number): { pid: number; cmd: string }[] {
  const all = parents();
  const found: { pid: number; cmd: string }[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift() as number;
    for (const [p, { ppid, cmd }] of all) {
      if (ppid === parent) {
        found.push({ pid: p, cmd });
        queue.push(p);
      }
    }
  }
  return found;
}

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Whether something listens on 127.0.0.1:`port` (a connect succeeds). */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
