import type { TcpArgs, TcpStateName } from '@probefleet/events';
import { applyTransition, Connection, durationMs } from './tcp-lifecycle';

const sock = (oldstate: TcpStateName, newstate: TcpStateName, over: Partial<TcpArgs> = {}): TcpArgs => ({
  skaddr: '0xffff8881054a8000', family: 'AF_INET', saddr: '127.0.0.1', daddr: '127.0.0.1',
  sport: 40000, dport: 5555, oldstate, newstate, ...over,
});
const t = (ms: number) => `2026-11-25T10:00:00.${String(ms * 1e6).padStart(9, '0')}Z`;

describe('applyTransition', () => {
  it('follows an active open and close like tcplife, with time in each state', () => {
    const steps: [TcpStateName, TcpStateName, number][] = [
      ['TCP_CLOSE', 'TCP_SYN_SENT', 0],
      ['TCP_SYN_SENT', 'TCP_ESTABLISHED', 2],
      ['TCP_ESTABLISHED', 'TCP_FIN_WAIT1', 502],
      ['TCP_FIN_WAIT1', 'TCP_FIN_WAIT2', 503],
      ['TCP_FIN_WAIT2', 'TCP_CLOSE', 510],
    ];
    let conn: Connection | undefined;
    const inOld: (number | null)[] = [];
    for (const [from, to, ms] of steps) {
      const out = applyTransition(conn, sock(from, to), t(ms));
      inOld.push(out.msInOldState);
      conn = out.connection;
    }
    expect(inOld).toEqual([null, 2, 500, 1, 7]);
    expect(conn!.openedAt).toBe(t(0));
    expect(conn!.closedAt).toBe(t(510));
    expect(durationMs(conn!)).toBe(510);
    expect(conn!.states.map((s) => [s.state, s.ms])).toEqual([
      ['TCP_CLOSE', null], ['TCP_SYN_SENT', 2], ['TCP_ESTABLISHED', 500], ['TCP_FIN_WAIT1', 1], ['TCP_FIN_WAIT2', 7], ['TCP_CLOSE', null],
    ]);
  });

  it('starts a new lifetime when a closed socket address is reused', () => {
    const first = applyTransition(undefined, sock('TCP_SYN_SENT', 'TCP_CLOSE'), t(1)).connection;
    const next = applyTransition(first, sock('TCP_CLOSE', 'TCP_SYN_SENT', { dport: 6000 }), t(5));
    expect(next.opened).toBe(true);
    expect(next.connection.openedAt).toBe(t(5));
    expect(next.connection.dport).toBe(6000);
  });

  it('keeps known endpoints when a later transition reports them unset', () => {
    const a = applyTransition(undefined, sock('TCP_CLOSE', 'TCP_SYN_SENT'), t(0)).connection;
    const b = applyTransition(a, sock('TCP_SYN_SENT', 'TCP_CLOSE', { saddr: '0.0.0.0', sport: 0 }), t(1)).connection;
    expect([b.saddr, b.sport]).toEqual(['127.0.0.1', 40000]);
  });

  it('does not invent a duration when the previous state does not match (an event was missed)', () => {
    const a = applyTransition(undefined, sock('TCP_CLOSE', 'TCP_SYN_SENT'), t(0)).connection;
    expect(applyTransition(a, sock('TCP_ESTABLISHED', 'TCP_FIN_WAIT1'), t(9)).msInOldState).toBeNull();
  });
});
