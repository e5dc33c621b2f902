import { isTcpHit, type EventOf } from './index';
import { BOOT, INSTANCE, TCP_HIT_ARGS } from '../test/samples';

const hit = (args: Record<string, unknown>): EventOf<'probe.hit'> => ({
  v: 1, type: 'probe.hit', host: 'web-1', bootId: BOOT, instance: INSTANCE,
  seq: 1, time: '2026-11-25T19:52:23.123456789Z',
  data: { probe: 'tcp_set_state', cpu: 0, pid: 1, comm: 'curl', args: args as never },
});

describe('isTcpHit', () => {
  it('takes addresses only in the spelling the agent writes, however often each one is seen', () => {
    const v6 = { ...TCP_HIT_ARGS, family: 'AF_INET6' };
    for (let round = 0; round < 3; round++) {
      expect(isTcpHit(hit({ ...TCP_HIT_ARGS, saddr: '10.0.0.1' }))).toBe(true);
      expect(isTcpHit(hit({ ...TCP_HIT_ARGS, saddr: '010.0.0.1' }))).toBe(false);
      expect(isTcpHit(hit({ ...v6, saddr: '2001:db8::1', daddr: '::1' }))).toBe(true);
      expect(isTcpHit(hit({ ...v6, saddr: '2001:DB8::1', daddr: '::1' }))).toBe(false);
      expect(isTcpHit(hit({ ...v6, saddr: '2001:db8:0:0:0:0:0:1', daddr: '::1' }))).toBe(false);
      // Seen as IPv4 does not make it an IPv6 spelling, nor the other way round.
      expect(isTcpHit(hit({ ...v6, saddr: '10.0.0.1', daddr: '::1' }))).toBe(false);
      expect(isTcpHit(hit({ ...TCP_HIT_ARGS, daddr: '::1' }))).toBe(false);
    }
  });

  it('refuses extra or missing args and out-of-range fields', () => {
    expect(isTcpHit(hit({ ...TCP_HIT_ARGS }))).toBe(true);
    expect(isTcpHit(hit({ ...TCP_HIT_ARGS, extra: 1 }))).toBe(false);
    const { dport: _, ...noPort } = TCP_HIT_ARGS;
    expect(isTcpHit(hit(noPort))).toBe(false);
    expect(isTcpHit(hit({ ...TCP_HIT_ARGS, dport: 70000 }))).toBe(false);
    expect(isTcpHit(hit({ ...TCP_HIT_ARGS, skaddr: '0x0abc' }))).toBe(false);
  });
});
