// Rebuilds a host's kernel state from a saved projection (one row per registered probe), so a
// consumer that stores the model's state as rows can continue from them instead of replaying.
import type { ProbeKind } from '@probefleet/events';
import { armProbe, registerProbe } from './kernel';
import { emptyHost, type HostState } from './state';

export interface SavedProbe {
  name: string;
  kind: ProbeKind;
  symbol: string;
  offset: number;
  address: string | null;
  insn: string | null;
  armed: boolean;
  hits: number;
  missed: number;
}

export function hydrateHost(host: string, bootId: string, probes: readonly SavedProbe[]): HostState {
  const state = emptyHost(host, bootId);
  for (const saved of probes) {
    const probe = registerProbe(state, {
      probe: saved.name,
      kind: saved.kind,
      symbol: saved.symbol,
      offset: saved.offset,
      ...(saved.address !== null ? { address: saved.address } : {}),
      ...(saved.insn !== null ? { insn: saved.insn } : {}),
    });
    if (saved.armed) armProbe(state, probe);
    probe.hits = saved.hits;
    probe.missed = saved.missed;
  }
  return state;
}

/** The rows to save for a host: what `hydrateHost` takes back. */
export function savedProbes(host: HostState): SavedProbe[] {
  return [...host.probes.values()].map((p) => ({
    name: p.name,
    kind: p.kind,
    symbol: p.symbol,
    offset: p.offset,
    address: p.site?.address ?? null,
    insn: p.site?.savedInsn ?? null,
    armed: p.armed,
    hits: p.hits,
    missed: p.missed,
  }));
}
