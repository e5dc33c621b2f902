import { parseTraceLine, type TraceLine } from '@probefleet/tracefs';
import { TracepointPairer } from './tracepoint-pair';

// Real lines of this host's 6.18 kernel: the same hit in the plain and the `fields` instance.
const plain = (ts: string, sport: number, old: string, nw: string): TraceLine =>
  parseTraceLine(`            node-18145   [000] ..s2.   ${ts}: inet_sock_set_state: family=AF_INET6 protocol=IPPROTO_TCP sport=${sport} dport=51850 saddr=127.0.0.6 daddr=127.0.0.6 saddrv6=::1 daddrv6=::1 oldstate=${old} newstate=${nw}`) as TraceLine;
const fields = (ts: string, skaddr: string, sport: number, old: number, nw: number): TraceLine =>
  parseTraceLine(`            node-18145   [000] ..s2.   ${ts}: inet_sock_set_state: skaddr=${skaddr} (-131387261152640) oldstate=0x${old.toString(16)} (${old}) newstate=0x${nw.toString(16)} (${nw}) sport=0x${sport.toString(16)} (${sport}) dport=0xca8a (51850) family=0xa (10) protocol=0x6 (6) saddr=0x600007f (100663423) daddr=0x600007f (100663423) saddr_v6=<INVALID-SIZE> daddr_v6=<INVALID-SIZE>`) as TraceLine;

describe('TracepointPairer', () => {
  it('gives each plain record the skaddr of its twin, whichever instance is read first', () => {
    const p = new TracepointPairer();
    expect(p.push('plain', plain('755.398088', 45123, 'TCP_LISTEN', 'TCP_SYN_RECV'))).toEqual([]);
    const [pair] = p.push('fields', fields('755.398090', '0xffff888104f89280', 45123, 10, 3));
    expect(pair?.skaddr).toBe('0xffff888104f89280');
    expect(pair?.line.fields['saddrv6']).toBe('::1');
    expect(p.push('fields', fields('755.398092', '0xffff888104f89281', 45123, 3, 1))).toEqual([]);
    expect(p.push('plain', plain('755.398091', 45123, 'TCP_SYN_RECV', 'TCP_ESTABLISHED')).map((x) => x.skaddr)).toEqual(['0xffff888104f89281']);
    expect(p.pending()).toBe(0);
    expect(p.unmatched).toBe(0);
  });

  it('drops a record whose twin was lost instead of pairing it with the wrong socket', () => {
    const p = new TracepointPairer();
    p.push('plain', plain('1.000001', 1000, 'TCP_CLOSE', 'TCP_SYN_SENT')); // twin lost to an overrun
    p.push('plain', plain('1.000005', 2000, 'TCP_CLOSE', 'TCP_SYN_SENT'));
    const pairs = p.push('fields', fields('1.000006', '0xb', 2000, 7, 2));
    expect(pairs.map((x) => [x.skaddr, x.line.fields['sport']])).toEqual([['0xb', '2000']]);
    expect(p.unmatched).toBe(1);
  });
});
