import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Btf, tcpSockLayout, type BtfMember, type SockCommonLayout, type TcpSockLayout } from './btf';
import { isValidKprobeLine, parseKprobeLine } from '@probefleet/policy';
import { parseTraceLine, parseTraceText, type TraceLine } from './parser';
import type { RawRecord } from './raw';
import { decodeTcpSetStateRaw } from './tcp-raw';
import {
  buildTcpSetStateLine,
  decodeInetSockSetState,
  decodeTcpSetStateHit,
  ipv4FromLeU32,
  ipv6FromBytes,
  kernelTcpState,
} from './tcp';

const FIXTURES = join(__dirname, '../../../test/fixtures/traces');

const m = (offset: number, size: number): BtfMember => ({ name: '', offset, bitOffset: offset * 8, bitSize: null, size, typeId: 1 });
// The layout the kernel-lab captures were taken with (pahole on 6.1, 6.12 and the 6.18 host).
const LAYOUT: SockCommonLayout = {
  skc_daddr: m(0, 4), skc_rcv_saddr: m(4, 4), skc_dport: m(12, 2), skc_num: m(14, 2), skc_family: m(16, 2),
  skc_state: m(18, 1), skc_v6_daddr: m(56, 16), skc_v6_rcv_saddr: m(72, 16),
};

describe('address and state helpers', () => {
  it('names TCP states like include/net/tcp_states.h', () => {
    expect([1, 2, 3, 7, 10, 12].map(kernelTcpState)).toEqual([
      'TCP_ESTABLISHED', 'TCP_SYN_SENT', 'TCP_SYN_RECV', 'TCP_CLOSE', 'TCP_LISTEN', 'TCP_NEW_SYN_RECV',
    ]);
    expect(() => kernelTcpState(0)).toThrow(RangeError);
    expect(() => kernelTcpState(13)).toThrow(RangeError);
  });

  it('formats addresses like the kernel and inet_ntop', () => {
    expect(ipv4FromLeU32(0x100007f)).toBe('127.0.0.1');
    expect(ipv4FromLeU32(0x600007f)).toBe('127.0.0.6');
    const b = (...x: number[]) => Uint8Array.from(x);
    expect(ipv6FromBytes(new Uint8Array(16))).toBe('::');
    expect(ipv6FromBytes(b(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1))).toBe('::1');
    expect(ipv6FromBytes(b(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1))).toBe('::ffff:127.0.0.1');
    expect(ipv6FromBytes(b(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1))).toBe('2001:db8::1:0:0:1');
    expect(ipv6FromBytes(b(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1))).toBe('2001:db8:0:1:1:1:1:1');
    expect(ipv6FromBytes(b(0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))).toBe('fe80::');
    expect(() => ipv6FromBytes(b(1, 2))).toThrow();
  });
});

describe('tcp_set_state kprobe', () => {
  it('builds the definition from BTF offsets; the line passes the strict grammar', () => {
    const line = buildTcpSetStateLine('probefleet', 'tcp_state', LAYOUT);
    expect(line).toBe(
      'p:probefleet/tcp_state tcp_set_state sk=%di:x64 newstate=%si:s32 oldstate=+18(%di):u8 family=+16(%di):u16 sport=+14(%di):u16 dport_be=+12(%di):u16 saddr=+4(%di):x32 daddr=+0(%di):x32 saddr6=+72(%di):x8[16] daddr6=+56(%di):x8[16]',
    );
    expect(isValidKprobeLine(line)).toBe(true);
    const moved = buildTcpSetStateLine('probefleet', 'tcp_state', { ...LAYOUT, skc_state: { ...m(20, 1), bitOffset: 164, bitSize: 4 } });
    expect(parseKprobeLine(moved).args.find((a) => a.name === 'oldstate')).toEqual({ name: 'oldstate', fetch: '+20(%di)', type: 'b4@4/8' });
  });

  it('decodes the README example: dport_be 45845 is port 5555', () => {
    const hit = parseTraceLine(
      '              nc-136     [000] .....     4.548193: tss_offs: (tcp_set_state+0x0/0x1f0) family=2 oldstate=2 newstate=1 sport=39254 dport_be=45845 saddr=0x100007f daddr=0x100007f saddr6={0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0xff,0xff,0x7f,0x0,0x0,0x1} daddr6={0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0xff,0xff,0x7f,0x0,0x0,0x1}',
    ) as TraceLine;
    expect(decodeTcpSetStateHit(hit)).toEqual({
      skaddr: null, family: 'AF_INET', saddr: '127.0.0.1', daddr: '127.0.0.1', sport: 39254, dport: 5555,
      oldstate: 'TCP_SYN_SENT', newstate: 'TCP_ESTABLISHED',
    });
  });

  it('decodes a hit of our own definition including sk', () => {
    const hit = parseTraceLine(
      '              nc-1       [000] ..s2.     1.000000: tcp_state: (tcp_set_state+0x4/0x1f0) sk=0xff47e03982870000 newstate=1 oldstate=3 family=10 sport=5555 dport_be=22169 saddr=0x0 daddr=0x0 saddr6={0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x1} daddr6={0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x1}',
    ) as TraceLine;
    expect(decodeTcpSetStateHit(hit)).toEqual({
      skaddr: '0xff47e03982870000', family: 'AF_INET6', saddr: '::1', daddr: '::1', sport: 5555, dport: 39254,
      oldstate: 'TCP_SYN_RECV', newstate: 'TCP_ESTABLISHED',
    });
  });

  it.each(['kprobe-6.1.0-56-amd64.txt', 'kprobe-6.12.107-amd64.txt'])(
    'agrees with the inet_sock_set_state tracepoint for every transition in %s',
    (file) => {
      const lines = parseTraceText(readFileSync(join(FIXTURES, file), 'utf8'));
      let compared = 0;
      lines.forEach((l, i) => {
        if (l.event !== 'tss_offs') return;
        // The tracepoint fires inside tcp_set_state, after the entry probes of the same call.
        const tp = lines.slice(i + 1).find((x) => x.event === 'inet_sock_set_state');
        expect(tp).toBeDefined();
        const fromTp = decodeInetSockSetState(tp as TraceLine);
        expect({ ...decodeTcpSetStateHit(l), skaddr: null }).toEqual(fromTp);
        compared++;
      });
      expect(compared).toBeGreaterThanOrEqual(20);
    },
  );
});

describe('tcplife counters of the tcp_set_state kprobe', () => {
  // Example offsets (every kernel has its own; the kernel lab reads the real ones from BTF).
  const LIFE: TcpSockLayout = { bytes_acked: m(1536, 8), bytes_received: m(1440, 8), total_retrans: m(1852, 4), srtt_us: m(1576, 4) };

  it('fetches them from tcp_sock offsets after the sock_common fields; the line passes the strict grammar', () => {
    const line = buildTcpSetStateLine('probefleet', 'tcp_state', LAYOUT, LIFE);
    expect(line.endsWith(' daddr6=+56(%di):x8[16] bytes_acked=+1536(%di):u64 bytes_received=+1440(%di):u64 total_retrans=+1852(%di):u32 srtt_us=+1576(%di):u32')).toBe(true);
    expect(isValidKprobeLine(line)).toBe(true);
  });

  it('finds the four members in this machine\'s BTF', () => {
    const layout = tcpSockLayout(Btf.fromFile('/sys/kernel/btf/vmlinux'));
    expect(Object.values(layout).map((x) => x.size)).toEqual([8, 8, 4, 4]);
    for (const x of Object.values(layout)) expect(x.offset).toBeGreaterThan(136); // beyond sock_common
  });

  const record = (newstate: number, fields: Record<string, number | bigint> = {}): RawRecord =>
    ({
      event: 'tcp_set_state',
      fields: { sk: 0xff11n, newstate, oldstate: 1, family: 2, sport: 5000, dport_be: 0x5000, saddr: 0x100007f, daddr: 0x100007f,
        saddr6: new Uint8Array(16), daddr6: new Uint8Array(16), bytes_acked: 1001n, bytes_received: 20001n, total_retrans: 2, srtt_us: 8 * 57 + 7, ...fields },
    }) as unknown as RawRecord;

  it('keeps them on TCP_CLOSE only, srtt_us >> 3 in µs', () => {
    expect(decodeTcpSetStateRaw(record(7)).life).toEqual({ txBytes: 1001, rxBytes: 20001, retrans: 2, srttUs: 57 });
    expect(decodeTcpSetStateRaw(record(4))).not.toHaveProperty('life');
    expect(decodeTcpSetStateRaw(record(7)).sport).toBe(5000);
  });

  it('leaves them out rather than round a count beyond 2^53 - 1, and when the probe has no tcp_sock fields', () => {
    expect(decodeTcpSetStateRaw(record(7, { bytes_acked: 2n ** 53n }))).not.toHaveProperty('life');
    const bare = record(7);
    for (const k of ['bytes_acked', 'bytes_received', 'total_retrans', 'srtt_us']) delete (bare.fields as Record<string, unknown>)[k];
    expect(decodeTcpSetStateRaw(bare)).not.toHaveProperty('life');
  });
});

describe('inet_sock_set_state tracepoint', () => {
  it('uses the v6 fields on AF_INET6 sockets (the v4 ones are junk there)', () => {
    const hit = parseTraceLine(
      '     ksoftirqd/0-14      [000] ..s1.     5.296557: inet_sock_set_state: family=AF_INET6 protocol=IPPROTO_TCP sport=5556 dport=58830 saddr=127.0.0.6 daddr=127.0.0.6 saddrv6=::1 daddrv6=::1 oldstate=TCP_SYN_RECV newstate=TCP_ESTABLISHED',
    ) as TraceLine;
    expect(decodeInetSockSetState(hit)).toEqual({
      skaddr: null, family: 'AF_INET6', saddr: '::1', daddr: '::1', sport: 5556, dport: 58830,
      oldstate: 'TCP_SYN_RECV', newstate: 'TCP_ESTABLISHED',
    });
  });

  it('ignores other protocols and refuses unknown states', () => {
    const base =
      '              nc-1       [000] .....     1.000000: inet_sock_set_state: family=AF_INET protocol=IPPROTO_SCTP sport=1 dport=2 saddr=1.2.3.4 daddr=1.2.3.4 saddrv6=:: daddrv6=:: oldstate=TCP_CLOSE newstate=TCP_LISTEN';
    expect(decodeInetSockSetState(parseTraceLine(base) as TraceLine)).toBeNull();
    const bad = base.replace('IPPROTO_SCTP', 'IPPROTO_TCP').replace('TCP_LISTEN', 'TCP_BOGUS');
    expect(() => decodeInetSockSetState(parseTraceLine(bad) as TraceLine)).toThrow(/TCP_BOGUS/);
  });
});
