import type { Mechanism } from '@probefleet/events';
import { siteViolation } from './kernel';
import { siteBytes, siteMechanism } from './mechanism';
import type { HostState, ModelState, ProbeState } from './state';

export interface ProbeSnapshot {
  /** null for tracepoints and for kprobes registered without an address. */
  address: string | null;
  bucket: number | null;
  armed: boolean;
  hits: number;
  missed: number;
  /**
   * Only once an agent reported how the kernel armed it (absent in older logs, which replay as
   * before): the mechanism, and the text it leaves at the address (hex, `??` for a byte the model
   * cannot know, null when unknown).
   */
  mechanism?: Mechanism;
  bytes?: string | null;
  /** kprobes/list flags, only when set. */
  disabled?: true;
  gone?: true;
}

export interface HostSnapshot {
  /** Currently registered probes by name. */
  probes: Record<string, ProbeSnapshot>;
  /** First byte at each probed address whose byte is known: "cc" when armed, else the saved one. */
  text: Record<string, string>;
}

/** The replay result (binding JSON shape); keys sorted so equal states print equal. */
export interface ModelSnapshot {
  hosts: Record<string, HostSnapshot>;
}

export function snapshot(state: ModelState): ModelSnapshot {
  const hosts: Record<string, HostSnapshot> = {};
  for (const name of [...state.hosts.keys()].sort()) hosts[name] = hostSnapshot(state.hosts.get(name) as HostState);
  return { hosts };
}

export function hostSnapshot(host: HostState): HostSnapshot {
  const probes: Record<string, ProbeSnapshot> = {};
  for (const [name, probe] of [...host.probes].sort(([a], [b]) => compare(a, b))) {
    const { site, armed, hits, missed } = probe;
    probes[name] = { address: site?.address ?? null, bucket: site?.bucket ?? null, armed, hits, missed, ...mechanismOf(probe) };
  }
  const text: Record<string, string> = {};
  for (const [address, byte] of [...host.text].sort(([a], [b]) => compare(a, b))) text[address] = byte;
  return { probes, text };
}

function mechanismOf(probe: ProbeState): Partial<ProbeSnapshot> {
  const { site } = probe;
  const out: Partial<ProbeSnapshot> = {};
  if (site?.mechanism !== undefined) Object.assign(out, { mechanism: siteMechanism(site), bytes: siteBytes(site) });
  else if (probe.mechanism !== undefined) out.mechanism = probe.mechanism;
  if (probe.disabled) out.disabled = true;
  if (probe.gone) out.gone = true;
  return out;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Every invariant over the whole state (evolve checks the part each event touches): each probe's
 * kprobe sits in its address's bucket, text agrees with armed, no byte is known for an unprobed address.
 */
export function checkInvariants(state: ModelState): string | undefined {
  for (const host of state.hosts.values()) {
    for (const bucket of host.table) {
      for (const site of bucket) {
        const violation = siteViolation(host, site);
        if (violation !== undefined) return `host ${host.host}: ${violation}`;
      }
    }
    for (const probe of host.probes.values()) {
      if (probe.site !== undefined && !probe.site.members.includes(probe)) {
        return `host ${host.host}: probe "${probe.name}" is not a member of the kprobe at ${probe.site.address}`;
      }
    }
    const probed = new Set(host.table.flatMap((bucket) => bucket.map((site) => site.address)));
    for (const address of host.text.keys()) {
      if (!probed.has(address)) return `host ${host.host}: text at ${address} is tracked but no kprobe is there`;
    }
  }
  return undefined;
}
