// `tcpstates`-like table of TCP transitions. MS is the time the socket spent in its old state:
// since the previous transition of the same skaddr (blank for the first one we see). PID and COMM
// are the socket's owner, as tcplife prints them (`-` when attribution is unknown: the kernel's pid
// there is whoever was on the CPU); hits without attribution show the kernel's. The TCP_CLOSE row
// of a kprobe-mode run ends with tcplife's columns: TX_KB and RX_KB (bytes acked and received, in
// whole KiB as tcplife prints them), RETRANS (segments retransmitted) and SRTT_US (smoothed RTT).
import type { Event, TcpArgs } from '@probefleet/events';

const COLUMNS: [string, number][] = [
  ['TIME', 12], ['SKADDR', 18], ['PID', 7], ['COMM', 16], ['LADDR', 26], ['LPORT', 5], ['RADDR', 26], ['RPORT', 5], ['OLDSTATE -> NEWSTATE', 27], ['MS', 10],
  ['TX_KB', 8], ['RX_KB', 8], ['RETRANS', 7], ['SRTT_US', 8],
];

function row(cells: string[]): string {
  return cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(COLUMNS[i]?.[1] ?? 0))).join(' ').trimEnd();
}

const short = (state: string) => state.replace(/^TCP_/, '');

export class TcpStatesFormatter {
  /** skaddr → monoNs of its last transition. */
  private readonly last = new Map<string, bigint>();

  header(): string {
    return row(COLUMNS.map(([name]) => name));
  }

  /** The table row for a TCP probe.hit; null for any other event. */
  format(event: Event): string | null {
    if (event.type !== 'probe.hit' || event.monoNs === undefined) return null;
    const a = event.data.args as Partial<TcpArgs>;
    if (typeof a.skaddr !== 'string' || a.oldstate === undefined || a.newstate === undefined) return null;
    const now = BigInt(event.monoNs);
    const prev = this.last.get(a.skaddr);
    if (a.newstate === 'TCP_CLOSE') this.last.delete(a.skaddr);
    else this.last.set(a.skaddr, now);
    const ms = prev === undefined ? '' : (Number(now - prev) / 1e6).toFixed(3);
    const { owner, attribution, life } = event.data;
    const tcplife = life === undefined ? ['', '', '', ''] : [String(Math.floor(life.txBytes / 1024)), String(Math.floor(life.rxBytes / 1024)), String(life.retrans), String(life.srttUs)];
    const [pid, comm] = owner !== undefined ? [String(owner.pid), owner.comm] : attribution === 'unknown' ? ['-', '-'] : [String(event.data.pid), event.data.comm];
    return row([
      event.time.slice(11, 23),
      a.skaddr,
      pid,
      comm,
      String(a.saddr),
      String(a.sport),
      String(a.daddr),
      String(a.dport),
      `${short(a.oldstate)} -> ${short(a.newstate)}`,
      ms,
      ...tcplife,
    ]);
  }
}
