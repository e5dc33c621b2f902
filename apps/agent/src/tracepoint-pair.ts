// sock:inet_sock_set_state prints addresses but not skaddr; with the `fields` trace option the
// kernel prints every raw field (skaddr too) but cannot print the 16-byte IPv6 arrays. So tracepoint
// mode enables the event in two instances — one plain (addresses), one with `fields` (skaddr) —
// and pairs their records. Both buffers record the same hits in the same per-cpu order, so pairing
// is FIFO per cpu, checked on (pid, ports, states). An unmatched head (one buffer overran) is
// dropped and counted, never paired with the wrong socket.
import { timestampNs, type TraceLine } from '@probefleet/tracefs';
import { TCP_STATES, type TcpStateName } from '@probefleet/events';

export interface PairedHit {
  line: TraceLine;
  skaddr: string;
}

/** `0xb043 (45123)` → 45123 (first token, hex or decimal). */
function rawNumber(line: TraceLine, key: string): number {
  const v = line.fields[key];
  return v === undefined ? NaN : Number(v.split(' ')[0]);
}

function plainKey(l: TraceLine): string {
  const st = (k: string) => TCP_STATES[l.fields[k] as TcpStateName] ?? NaN;
  return `${l.pid}|${l.fields['sport']}|${l.fields['dport']}|${st('oldstate')}|${st('newstate')}`;
}

function fieldsKey(l: TraceLine): string {
  return `${l.pid}|${rawNumber(l, 'sport')}|${rawNumber(l, 'dport')}|${rawNumber(l, 'oldstate')}|${rawNumber(l, 'newstate')}`;
}

export class TracepointPairer {
  private readonly plain = new Map<number, TraceLine[]>();
  private readonly fields = new Map<number, TraceLine[]>();
  /** Records dropped because the other buffer had no match. */
  unmatched = 0;

  private queue(m: Map<number, TraceLine[]>, cpu: number): TraceLine[] {
    let q = m.get(cpu);
    if (!q) m.set(cpu, (q = []));
    return q;
  }

  /** Adds a record of one instance; returns the pairs completed by it, in plain-buffer order. */
  push(kind: 'plain' | 'fields', line: TraceLine): PairedHit[] {
    this.queue(kind === 'plain' ? this.plain : this.fields, line.cpu).push(line);
    return this.pairCpu(line.cpu);
  }

  private pairCpu(cpu: number): PairedHit[] {
    const p = this.queue(this.plain, cpu);
    const f = this.queue(this.fields, cpu);
    const out: PairedHit[] = [];
    while (p.length > 0 && f.length > 0) {
      const a = p[0] as TraceLine;
      const b = f[0] as TraceLine;
      if (plainKey(a) === fieldsKey(b)) {
        p.shift();
        f.shift();
        out.push({ line: a, skaddr: (b.fields['skaddr'] ?? '').split(' ')[0] as string });
      } else {
        // The older head has no partner (its twin was lost to an overrun): drop it.
        (timestampNs(a.timestamp) <= timestampNs(b.timestamp) ? p : f).shift();
        this.unmatched++;
      }
    }
    return out;
  }

  /** Records still waiting for a partner (at stop: unmatched). */
  pending(): number {
    let n = 0;
    for (const q of [...this.plain.values(), ...this.fields.values()]) n += q.length;
    return n;
  }
}
