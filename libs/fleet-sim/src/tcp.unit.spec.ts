import type { Event, TcpArgs, TcpStateName } from '@probefleet/events';
import { Fleet, generateFleet, type FleetOptions } from './fleet';
import { checkTcpPaths, visibleSteps } from './tcp';

const START = '2026-11-25T10:00:00.000000000Z';
const options: FleetOptions = { seed: 7, agents: 30, eventsPerSecond: 5000, start: START, restartMeanS: 5, rebootMeanS: 20 };
const events = generateFleet(options, 40000);
const hits = events.filter((e): e is Extract<Event, { type: 'probe.hit' }> => e.type === 'probe.hit');
const args = (e: Extract<Event, { type: 'probe.hit' }>) => e.data.args as TcpArgs;
const modeOf = new Map(events.flatMap((e) => (e.type === 'agent.started' ? [[e.instance, e.data.mode] as const] : [])));

/** Per socket life (host, boot, skaddr until CLOSE): its transitions as "OLD>NEW". */
function lives(): Map<string, string[][]> {
  const out = new Map<string, string[][]>();
  for (const e of hits) {
    const a = args(e);
    const key = `${modeOf.get(e.instance)} ${e.host}/${e.bootId}/${a.skaddr}`;
    const list = out.get(key) ?? [[]];
    out.set(key, list);
    const current = list[list.length - 1] as string[];
    current.push(`${a.oldstate.slice(4)}>${a.newstate.slice(4)}`);
    if (a.newstate === 'TCP_CLOSE') list.push([]);
  }
  return out;
}

describe('TCP paths of a generated fleet', () => {
  it('pass the path check', () => {
    expect(hits.length).toBeGreaterThan(35000);
    expect(checkTcpPaths(events)).toEqual([]);
  });

  it('contain the kernel paths of clients, accepted sockets, refused connects and listeners, in both modes', () => {
    const paths = new Set<string>();
    for (const [key, list] of lives()) for (const life of list) if (life.length > 0) paths.add(`${key.split(' ')[0]} ${life.join(' ')}`);
    for (const expected of [
      'kprobe CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>CLOSE',
      'kprobe CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE',
      'kprobe CLOSE>SYN_SENT SYN_SENT>CLOSE',
      'kprobe SYN_RECV>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE',
      'kprobe SYN_RECV>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>CLOSE',
      'tracepoint LISTEN>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE',
      'tracepoint CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>CLOSE',
      // Connections the first agent of a boot finds already established.
      'kprobe ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>CLOSE',
    ]) {
      expect(paths).toContain(expected);
    }
    // The kprobe never sees listen() nor the clone of an accepted child.
    expect([...paths].filter((p) => p.startsWith('kprobe') && /CLOSE>LISTEN|LISTEN>SYN_RECV/.test(p))).toEqual([]);
  });

  it('reuse socket addresses after CLOSE, and only then', () => {
    const reused = [...lives().values()].filter((list) => list.filter((l) => l.length > 0).length > 1);
    expect(reused.length).toBeGreaterThan(100);
  });

  it('carry IPv4 and IPv6 (and v4-mapped on dual-stack listeners) endpoints', () => {
    const families = new Set(hits.map((e) => args(e).family));
    expect(families).toEqual(new Set(['AF_INET', 'AF_INET6']));
    expect(hits.some((e) => args(e).saddr.startsWith('::ffff:10.'))).toBe(true);
    for (const e of hits) {
      const a = args(e);
      if (a.family === 'AF_INET') expect(a.saddr).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      else expect(a.saddr).toMatch(/^[0-9a-f:.]+$/);
    }
  });

  it('has connect() report sport 0 before the port is picked, then a port from the host\'s ephemeral range', () => {
    const hosts = new Map(new Fleet(options).hosts.map((h) => [h.name, h]));
    let connects = 0;
    for (const e of hits) {
      const a = args(e);
      if (a.oldstate === 'TCP_CLOSE' && a.newstate === 'TCP_SYN_SENT') {
        connects++;
        expect(a.sport).toBe(0);
      }
      if (a.oldstate === 'TCP_SYN_SENT') {
        const [lo, hi] = hosts.get(e.host)?.ephemeral ?? [0, 0];
        expect(a.sport).toBeGreaterThanOrEqual(lo);
        expect(a.sport).toBeLessThanOrEqual(hi);
        expect([443, 80, 5432, 6379, 8080, 9092]).toContain(a.dport);
      }
    }
    expect(connects).toBeGreaterThan(1000);
  });

  it('runs segment arrivals in softirq and the socket owner\'s calls in process context', () => {
    const softirq: [TcpStateName, TcpStateName][] = [['TCP_SYN_SENT', 'TCP_ESTABLISHED'], ['TCP_FIN_WAIT1', 'TCP_FIN_WAIT2'], ['TCP_LAST_ACK', 'TCP_CLOSE'], ['TCP_ESTABLISHED', 'TCP_CLOSE_WAIT']];
    const processCtx: [TcpStateName, TcpStateName][] = [['TCP_CLOSE', 'TCP_SYN_SENT'], ['TCP_ESTABLISHED', 'TCP_FIN_WAIT1'], ['TCP_CLOSE_WAIT', 'TCP_LAST_ACK']];
    for (const e of hits) {
      const a = args(e);
      const is = (list: [TcpStateName, TcpStateName][]) => list.some(([o, n]) => o === a.oldstate && n === a.newstate);
      if (is(softirq)) expect(e.data.ctx?.softirq).toBe(true);
      if (is(processCtx)) {
        expect(e.data.ctx?.softirq).toBe(false);
        expect(e.data.pid).toBeGreaterThan(0);
      }
      if (e.data.pid === 0) expect(e.data.comm).toBe(`swapper/${e.data.cpu}`);
    }
  });
});

describe('checkTcpPaths', () => {
  const hit = (seq: number, skaddr: string, from: TcpStateName, to: TcpStateName, sport = 40000, instance = 'i1'): Event =>
    ({
      v: 1,
      type: 'probe.hit',
      host: 'h',
      bootId: 'b',
      instance,
      seq,
      time: START,
      data: { probe: 'p', cpu: 0, pid: 1, comm: 'c', args: { skaddr, family: 'AF_INET', saddr: '10.0.0.1', daddr: '10.0.0.2', sport, dport: 443, oldstate: from, newstate: to } },
    }) as Event;
  const started = (mode: 'kprobe' | 'tracepoint', instance = 'i1'): Event =>
    ({ v: 1, type: 'agent.started', host: 'h', bootId: 'b', instance, seq: 1, time: START, data: { kernelRelease: 'k', arch: 'x86_64', agentVersion: '0', mode, capabilities: [] } }) as Event;

  it('accepts a client path and its address reused by a new connect', () => {
    const path = visibleSteps('client-active-close', 'kprobe').map((s, i) => hit(i + 2, '0x1', s.from, s.to, s.view === 'connecting' ? 0 : 40000));
    expect(checkTcpPaths([started('kprobe'), ...path, hit(9, '0x1', 'TCP_CLOSE', 'TCP_SYN_SENT', 0)])).toEqual([]);
  });

  it('continues a socket across an agent restart (a new stream of the same boot)', () => {
    expect(checkTcpPaths([started('kprobe'), hit(2, '0x1', 'TCP_CLOSE', 'TCP_SYN_SENT', 0), started('kprobe', 'i2'), hit(2, '0x1', 'TCP_SYN_SENT', 'TCP_ESTABLISHED', 40000, 'i2')])).toEqual([]);
  });

  it('finds a broken chain, a transition the mode cannot see, a reuse that does not start a socket, changed endpoints', () => {
    expect(checkTcpPaths([started('kprobe'), hit(2, '0x1', 'TCP_CLOSE', 'TCP_SYN_SENT', 0), hit(3, '0x1', 'TCP_ESTABLISHED', 'TCP_FIN_WAIT1')])).toEqual([
      'h seq 3: 0x1 TCP_ESTABLISHED>TCP_FIN_WAIT1 but the socket is in TCP_SYN_SENT',
    ]);
    expect(checkTcpPaths([started('kprobe'), hit(2, '0x1', 'TCP_CLOSE', 'TCP_LISTEN')])).toEqual(['h seq 2: 0x1 TCP_CLOSE>TCP_LISTEN is not a kprobe transition']);
    expect(checkTcpPaths([started('tracepoint'), hit(2, '0x1', 'TCP_SYN_SENT', 'TCP_CLOSE'), hit(3, '0x1', 'TCP_SYN_RECV', 'TCP_ESTABLISHED')])).toEqual([
      'h seq 3: 0x1 reused after CLOSE starts with TCP_SYN_RECV>TCP_ESTABLISHED',
    ]);
    expect(checkTcpPaths([started('kprobe'), hit(2, '0x1', 'TCP_SYN_SENT', 'TCP_ESTABLISHED', 40000), hit(3, '0x1', 'TCP_ESTABLISHED', 'TCP_FIN_WAIT1', 40001)])).toEqual([
      'h seq 3: 0x1 endpoints changed from AF_INET 10.0.0.1:40000 10.0.0.2:443 to AF_INET 10.0.0.1:40001 10.0.0.2:443',
    ]);
    expect(checkTcpPaths([hit(1, '0x1', 'TCP_CLOSE', 'TCP_SYN_SENT')])).toEqual(['h seq 1: hit before agent.started']);
  });
});
