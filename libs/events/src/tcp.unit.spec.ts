import { TCP_STATES, TcpArgsSchema, tcpStateName, tcpStateNumber, type TcpStateName } from './index';
import { TCP_HIT_ARGS } from '../test/samples';

describe('TCP states', () => {
  it('uses the kernel numbers of include/net/tcp_states.h', () => {
    expect(tcpStateNumber('TCP_ESTABLISHED')).toBe(1);
    expect(tcpStateNumber('TCP_LISTEN')).toBe(10);
    expect(tcpStateNumber('TCP_NEW_SYN_RECV')).toBe(12);
    expect(Object.values(TCP_STATES).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('maps numbers and names both ways', () => {
    for (const name of Object.keys(TCP_STATES) as TcpStateName[]) expect(tcpStateName(tcpStateNumber(name))).toBe(name);
    expect(tcpStateName(0)).toBeUndefined();
    expect(tcpStateName(13)).toBeUndefined();
  });

  it('validates decoded TCP args', () => {
    expect(TcpArgsSchema.safeParse(TCP_HIT_ARGS).success).toBe(true);
    expect(TcpArgsSchema.safeParse({ ...TCP_HIT_ARGS, newstate: 'ESTABLISHED' }).success).toBe(false);
    expect(TcpArgsSchema.safeParse({ ...TCP_HIT_ARGS, family: 'AF_UNIX' }).success).toBe(false);
    expect(TcpArgsSchema.safeParse({ ...TCP_HIT_ARGS, dport: 65536 }).success).toBe(false);
  });
});
