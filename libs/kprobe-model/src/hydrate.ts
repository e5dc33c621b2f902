// Rebuilds a host's kernel state from a saved projection (one row per registered probe), so a
// consumer that stores the model's state as rows can continue from them instead of replaying.
import type { Mechanism, ProbeKind } from '@probefleet/events';
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
  /** The kernel's view (kprobes/list); null/false in rows saved before agents reported it. */
  mechanism?: Mechanism | null;
  postHandler?: boolean;
  disabled?: boolean;
  gone?: boolean;
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
      ...(saved.postHandler ? { postHandler: true } : {}),
    });
    probe.disabled = saved.disabled ?? false;
    probe.gone = saved.gone ?? false;
    const mechanism = saved.mechanism ?? undefined;
    if (saved.armed) armProbe(state, probe, { mechanism });
    else if (mechanism !== undefined) {
      if (probe.site === undefined) probe.mechanism = mechanism;
      else probe.site.mechanism = mechanism;
    }
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
    mechanism: p.site?.mechanism ?? p.mechanism ?? null,
    postHandler: p.postHandler,
    disabled: p.disabled,
    gone: p.gone,
  }));
}
