// bpftrace as the reference consumer of sock:inet_sock_set_state: it prints the fields the agent
// reports (time, cpu, pid, comm, skaddr, family, addresses, ports, state names), one line per
// transition of one port (the same selection the agent's in-kernel filter makes).
import { spawn } from 'node:child_process';
import { createReadStream, openSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { onCleanup, sleep } from './stack.mjs';

const STATES = ['', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING', 'NEW_SYN_RECV'];

export function bpftraceScript(port) {
  const names = STATES.map((s, i) => (s ? `  @state[${i}] = "TCP_${s}";` : '')).filter(Boolean).join('\n');
  const fmt = '"%llu %d %d %s 0x%llx %d %s %s %d %d %s %s\\n"';
  const head = 'nsecs, cpu, pid, comm, args->skaddr, args->family';
  const tail = 'args->sport, args->dport, @state[args->oldstate], @state[args->newstate]';
  return `BEGIN {\n${names}\n}
tracepoint:sock:inet_sock_set_state /args->sport == ${port} || args->dport == ${port}/ {
  if (args->family == 2) { printf(${fmt}, ${head}, ntop(2, args->saddr), ntop(2, args->daddr), ${tail}); }
  else { printf(${fmt}, ${head}, ntop(10, args->saddr_v6), ntop(10, args->daddr_v6), ${tail}); }
}
END { clear(@state); }
`;
}

/**
 * Starts bpftrace (fully buffered stdout into `outFile`, like the agent's one write per turn) and
 * resolves once it has attached. `stop()` ends it with SIGINT (it flushes) and waits.
 */
export async function startBpftrace(port, outFile, perfRbPages) {
  const child = spawn('bpftrace', ['-B', 'full', '-e', bpftraceScript(port)], {
    stdio: ['ignore', openSync(outFile, 'w'), 'pipe'],
    env: { ...process.env, BPFTRACE_PERF_RB_PAGES: String(perfRbPages) },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const exited = new Promise((r) => child.once('close', r));
  for (let i = 0; !readFileSync(outFile, 'utf8').startsWith('Attaching'); i++) {
    if (child.exitCode !== null || i > 300) throw new Error(`bpftrace did not attach:\n${stderr}`);
    await sleep(100);
  }
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGINT');
    await exited;
  };
  onCleanup(stop);
  return { pid: child.pid, stop };
}

/** Transitions printed, and the events bpftrace itself reports lost. */
export async function countBpftrace(outFile) {
  let transitions = 0;
  let lost = 0;
  for await (const line of createInterface({ input: createReadStream(outFile) })) {
    const m = /^Lost (\d+) events/.exec(line);
    if (m) lost += Number(m[1]);
    else if (/^\d+ /.test(line)) transitions++;
  }
  return { transitions, lost };
}
