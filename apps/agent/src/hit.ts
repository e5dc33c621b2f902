// A parsed trace line → probe.hit data. TCP hits from either source get the same args (TcpArgs).
import type { EventData, HitArgValue, HitContext, TcpArgs } from '@probefleet/events';
import { decodeFlags, type TcpStateChange, type TraceLine } from '@probefleet/tracefs';

export function hitContext(flags: string): HitContext {
  const f = decodeFlags(flags);
  return {
    irqsOff: f.irqsOff,
    needResched: f.needResched,
    // `H` is a hardirq inside a softirq, `Z` an NMI inside a hardirq: both contexts are set.
    hardirq: f.context === 'hardirq' || (f.context === 'nmi' && f.nested),
    softirq: f.context === 'softirq' || (f.context === 'hardirq' && f.nested),
    nmi: f.context === 'nmi',
    preemptDepth: f.preemptDepth,
  };
}

export function tcpArgs(c: TcpStateChange, skaddr: string): TcpArgs {
  return {
    skaddr,
    family: c.family,
    saddr: c.saddr,
    daddr: c.daddr,
    sport: c.sport,
    dport: c.dport,
    oldstate: c.oldstate,
    newstate: c.newstate,
  };
}

export function hitData(probe: string, line: TraceLine, args: Record<string, HitArgValue>): EventData<'probe.hit'> {
  return { probe, cpu: line.cpu, pid: line.pid, comm: line.task.trim(), ctx: hitContext(line.flags), args };
}

/** Typed value of a user probe argument as the kernel printed it for `type`. */
export function typedArg(type: string, printed: string): HitArgValue {
  if (/^[us](8|16|32|64)$/.test(type)) {
    const n = Number(printed);
    return Number.isSafeInteger(n) ? n : printed;
  }
  return printed;
}
