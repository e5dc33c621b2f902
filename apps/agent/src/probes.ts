// The probes `run` registers: our tcp_set_state kprobe (offsets from BTF) plus the user's kprobes,
// all in one group so cleanup can find them. Pure: rendering writes nothing.
import { buildKprobeLine, sockCommonLayout, tcpSetStateProbe, type Btf, type KprobeDefinition } from '@probefleet/tracefs';
import type { ProbeConfig } from './config';

import { PROBE_GROUP, TCP_PROBE_EVENT } from '@probefleet/events';

export { PROBE_GROUP, TCP_PROBE_EVENT, TCP_TRACEPOINT } from '@probefleet/events';

export function userProbeDefinition(p: ProbeConfig): KprobeDefinition {
  return {
    kind: 'p',
    group: PROBE_GROUP,
    event: p.name,
    target: p.offset ? `${p.symbol}+${p.offset}` : p.symbol,
    args: p.args.map((a) => ({ name: a.name, fetch: a.fetch, type: a.type })),
  };
}

export interface PlannedProbe {
  name: string;
  symbol: string;
  offset: number;
  def: KprobeDefinition;
  /** The exact line written to kprobe_events (validated by the grammar). */
  line: string;
}

/** Every kprobe of a kprobe-mode run, in registration order; throws on an invalid definition. */
export function planKprobes(btf: Btf, user: readonly ProbeConfig[]): PlannedProbe[] {
  const tcp = tcpSetStateProbe(PROBE_GROUP, TCP_PROBE_EVENT, sockCommonLayout(btf));
  const out: PlannedProbe[] = [{ name: TCP_PROBE_EVENT, symbol: 'tcp_set_state', offset: 0, def: tcp, line: buildKprobeLine(tcp) }];
  for (const p of user) {
    const def = userProbeDefinition(p);
    out.push({ name: p.name, symbol: p.symbol, offset: p.offset ?? 0, def, line: buildKprobeLine(def) });
  }
  return out;
}
