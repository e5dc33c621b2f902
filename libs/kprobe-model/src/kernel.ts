// The kernel's kprobe mechanism on x86 (without ftrace): each step a function named after what the
// kernel does. `*Defect` functions say why an operation cannot happen (undefined when it can) and
// never mutate; the operations themselves assume their defect check passed.
import type { EventData } from '@probefleet/events';
import { kprobeBucket } from './hash';
import { INT3, type HostState, type KprobeSite, type ProbeState } from './state';

/** get_kprobe(): walk the hash list of the address's bucket. */
export function getKprobe(host: HostState, address: string, bucket: number): KprobeSite | undefined {
  for (const site of host.table[bucket] ?? []) if (site.address === address) return site;
  return undefined;
}

function isSiteArmed(site: KprobeSite): boolean {
  return site.members.some((member) => member.armed);
}

/** The first byte kernel text must hold at a site: int3 while any member is armed, else the saved one. */
function expectedByte(site: KprobeSite): string | undefined {
  return isSiteArmed(site) ? INT3 : site.savedInsn?.slice(0, 2);
}

/** The invariants of one site: it sits in its address's bucket and the text agrees with its members. */
export function siteViolation(host: HostState, site: KprobeSite): string | undefined {
  const bucket = kprobeBucket(site.address);
  if (site.bucket !== bucket || !host.table[bucket]?.includes(site)) {
    return `kprobe at ${site.address} is not linked in kprobe_table bucket ${bucket}`;
  }
  if (site.members.length === 0 || site.members.some((member) => member.site !== site)) {
    return `kprobe at ${site.address} has inconsistent members`;
  }
  const byte = host.text.get(site.address);
  const expected = expectedByte(site);
  if (byte !== expected) {
    const state = isSiteArmed(site) ? 'armed' : 'disarmed';
    return `${state} address ${site.address} holds ${byte ?? 'an unknown byte'}, expected ${expected ?? 'an unknown byte'}`;
  }
  return undefined;
}

// register_kprobe()

export function registerDefect(host: HostState, data: EventData<'probe.registered'>): string | undefined {
  if (host.probes.has(data.probe)) return `probe "${data.probe}" is already registered`;
  if (data.address === undefined || data.insn === undefined) return undefined;
  const site = getKprobe(host, data.address, kprobeBucket(data.address));
  if (site?.savedInsn !== undefined && site.savedInsn !== data.insn) {
    return `probe "${data.probe}" saved instruction ${data.insn} at ${data.address}, but the kprobe there saved ${site.savedInsn}`;
  }
  if (site === undefined && data.insn.startsWith(INT3)) {
    return `probe "${data.probe}": the original instruction at ${data.address} cannot be an int3`;
  }
  return undefined;
}

export function registerProbe(host: HostState, data: EventData<'probe.registered'>): ProbeState {
  const probe: ProbeState = {
    name: data.probe,
    kind: data.kind,
    symbol: data.symbol,
    offset: data.offset,
    site: undefined,
    armed: false,
    hits: 0,
    missed: 0,
  };
  host.probes.set(probe.name, probe);
  if (data.address !== undefined) probe.site = linkIntoTable(host, data.address, data.insn, probe);
  return probe;
}

/** Saves the original instruction and links the kprobe into its hash list; a second probe joins the aggregate. */
function linkIntoTable(host: HostState, address: string, insn: string | undefined, probe: ProbeState): KprobeSite {
  const bucket = kprobeBucket(address);
  let site = getKprobe(host, address, bucket);
  if (site === undefined) {
    site = { address, bucket, savedInsn: undefined, members: [] };
    host.table[bucket]?.push(site);
  }
  if (site.savedInsn === undefined && insn !== undefined) {
    site.savedInsn = insn;
    if (!isSiteArmed(site)) host.text.set(address, insn.slice(0, 2));
  }
  site.members.push(probe);
  return site;
}

// arm_kprobe() / disarm_kprobe()

export function armDefect(host: HostState, name: string): string | undefined {
  const probe = host.probes.get(name);
  if (probe === undefined) return `cannot arm unregistered probe "${name}"`;
  return probe.armed ? `probe "${name}" is already armed` : undefined;
}

/** Writes int3 over the first byte of the instruction (text_poke); an aggregate is armed once. */
export function armProbe(host: HostState, probe: ProbeState): void {
  probe.armed = true;
  if (probe.site !== undefined) host.text.set(probe.site.address, INT3);
}

export function disarmDefect(host: HostState, name: string): string | undefined {
  const probe = host.probes.get(name);
  if (probe === undefined) return `cannot disarm unregistered probe "${name}"`;
  return probe.armed ? undefined : `probe "${name}" is not armed`;
}

/** Restores the saved byte once no member of the aggregate is armed. */
export function disarmProbe(host: HostState, probe: ProbeState): void {
  probe.armed = false;
  const site = probe.site;
  if (site === undefined || isSiteArmed(site)) return;
  if (site.savedInsn === undefined) host.text.delete(site.address);
  else host.text.set(site.address, site.savedInsn.slice(0, 2));
}

// unregister_kprobe()

export function unregisterDefect(host: HostState, name: string): string | undefined {
  return host.probes.has(name) ? undefined : `cannot unregister unknown probe "${name}"`;
}

/** Disarms if needed, unlinks from the aggregate, and from kprobe_table when it was the last member. */
export function unregisterProbe(host: HostState, probe: ProbeState): void {
  if (probe.armed) disarmProbe(host, probe);
  host.probes.delete(probe.name);
  const site = probe.site;
  if (site === undefined) return;
  site.members.splice(site.members.indexOf(probe), 1);
  if (site.members.length > 0) return;
  const bucket = host.table[site.bucket];
  bucket?.splice(bucket.indexOf(site), 1);
  host.text.delete(site.address);
  return undefined;
}

// A hit: int3 traps → do_int3() → get_kprobe() → pre_handler → single-step → post_handler → resume.

/**
 * do_int3(): the cpu trapped on an int3 at `address`; kprobe_int3_handler looks the kprobe up in
 * kprobe_table. Returns the site, or why there could be no such trap.
 */
export function doInt3(host: HostState, address: string, bucket: number): KprobeSite | string {
  if (host.text.get(address) !== INT3) return `no int3 at ${address}: nothing armed there`;
  return getKprobe(host, address, bucket) ?? `int3 at ${address} but no kprobe in kprobe_table`;
}

export function hitDefect(host: HostState, name: string): string | undefined {
  const probe = host.probes.get(name);
  if (probe === undefined) return `hit on unregistered probe "${name}"`;
  if (!probe.armed) return `hit on disarmed probe "${name}"`;
  if (probe.site === undefined) return undefined;
  const site = doInt3(host, probe.site.address, probe.site.bucket);
  return typeof site === 'string' ? `hit on probe "${name}": ${site}` : undefined;
}

/**
 * The probes whose handlers run when `probe` fires: for a kprobe every armed member of its kprobe
 * (aggr_pre_handler calls each); a tracepoint or address-unknown kprobe alone.
 */
export function handlersFor(probe: ProbeState): ProbeState[] {
  return probe.site === undefined ? [probe] : probe.site.members.filter((member) => member.armed);
}

/** Records one hit of `probe`: its pre_handler ran, the saved instruction was single-stepped, its post_handler ran. */
export function recordHit(probe: ProbeState): void {
  probe.hits++;
}

// kprobes_inc_nmissed_count()

export function missedDefect(host: HostState, name: string): string | undefined {
  return host.probes.has(name) ? undefined : `miss reported for unknown probe "${name}"`;
}

export function addMissed(probe: ProbeState, count: number): void {
  probe.missed += count;
}
