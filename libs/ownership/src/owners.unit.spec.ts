import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HitContext, TcpArgs } from '@probefleet/events';
import { SocketOwners } from './owners';

const TASK: HitContext = { irqsOff: false, needResched: false, hardirq: false, softirq: false, nmi: false, preemptDepth: 0 };
const SOFTIRQ: HitContext = { ...TASK, softirq: true, preemptDepth: 1 };
const args = (skaddr: string, oldstate: TcpArgs['oldstate'], newstate: TcpArgs['newstate']): TcpArgs =>
  ({ skaddr, family: 'AF_INET', saddr: '127.0.0.1', daddr: '127.0.0.1', sport: 9000, dport: 40000, oldstate, newstate });

describe('SocketOwners.accepted (the inet_csk_accept kretprobe)', () => {
  // A /proc of two processes: the listener's owner (the scan is not run here) and a worker.
  const proc = mkdtempSync(join(tmpdir(), 'owners-proc-'));
  for (const [pid, comm] of [[42, 'worker'], [7, 'server']] as const) {
    mkdirSync(join(proc, String(pid)));
    writeFileSync(join(proc, String(pid), 'status'), `Name:\t${comm}\nTgid:\t${pid}\n`);
    writeFileSync(join(proc, String(pid), 'comm'), `${comm}\n`);
    writeFileSync(join(proc, String(pid), 'cgroup'), `0::/system.slice/${comm}.service\n`);
  }
  afterAll(() => rmSync(proc, { recursive: true, force: true }));

  it('names the accepting task as the owner, directly, and the socket keeps it for its softirq transitions', () => {
    const owners = new SocketOwners('boot', { procRoot: proc });
    const a = owners.accepted('0xabc', TASK, 42);
    expect(a).toEqual({ owner: { pid: 42, comm: 'worker', cgroup: '/system.slice/worker.service', container: { id: 'worker.service', runtime: 'systemd' } }, attribution: 'direct' });
    expect(owners.attribute(args('0xabc', 'TCP_ESTABLISHED', 'TCP_CLOSE_WAIT'), SOFTIRQ, 7)).toEqual({ owner: a.owner, attribution: 'socket' });
    expect(owners.accepts).toBe(1);
    expect(owners.counters().attributionUnknown).toBe(0);
  });

  it('is unknown, and counted, for a failed accept, a hit outside process context or a task gone', () => {
    const owners = new SocketOwners('boot', { procRoot: proc });
    expect(owners.accepted('0x0', TASK, 42).attribution).toBe('unknown');
    expect(owners.accepted('0xabc', SOFTIRQ, 42).attribution).toBe('unknown');
    expect(owners.accepted('0xabc', TASK, 99).attribution).toBe('unknown');
    expect(owners.counters().attributionUnknown).toBe(3);
    expect(owners.accepts).toBe(0);
  });
});
