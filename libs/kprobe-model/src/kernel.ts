// The kernel's kprobe mechanism on x86: each step a function named after what the kernel does; how
// an address is armed (int3, ftrace, optimized) is in mechanism.ts. `*Defect` functions say why an
// operation cannot happen (undefined when it can) and never mutate; the operations themselves
// assume their defect check passed.
import type { EventData } from '@probefleet/events';
import { kprobeBucket } from './hash';
import {
  afterDisarm,
  ARMED_BYTE,
  ENDBR64,
  expectedByte,
  forceUnoptimize,
  isLive,
  isSiteArmed,
  mechanismDefect,
  optimizedViolation,
  siteMechanism,
  writeText,
} from './mechanism';
import { INT3, type HostState, type KprobeSite, type ProbeState } from './state';

/** get_kprobe(): walk the hash list of the address's bucket. */
export function getKprobe(host: HostState, address: string, bucket: number): KprobeSite | undefined {
  for (const site of host.table[bucket] ?? []) if (site.address === address) return site;
  return undefined;
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
  return optimizedViolation(host, site);
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
    postHandler: data.postHandler ?? false,
    disabled: false,
    gone: false,
    mechanism: undefined,
    hits: 0,
    missed: 0,
  };
  host.probes.set(probe.name, probe);
  if (data.address !== undefined) probe.site = linkIntoTable(host, data.address, data.insn, probe);
  // add_new_kprobe: joining an optimized kprobe with a post_handler un-optimizes it at once
  // (unoptimize_kprobe(ap, force)): the post_handler needs the single-step of an int3.
  const site = probe.site;
  if (site !== undefined && probe.postHandler && site.mechanism === 'optimized') {
    site.mechanism = 'int3';
    writeText(host, site);
  }
  return probe;
}

/** Saves the original instruction and links the kprobe into its hash list; a second probe joins the aggregate. */
function linkIntoTable(host: HostState, address: string, insn: string | undefined, probe: ProbeState): KprobeSite {
  const bucket = kprobeBucket(address);
  let site = getKprobe(host, address, bucket);
  if (site === undefined) {
    site = { address, bucket, savedInsn: undefined, mechanism: undefined, members: [] };
    host.table[bucket]?.push(site);
  }
  if (site.savedInsn === undefined && insn !== undefined) {
    site.savedInsn = insn;
    if (!isSiteArmed(site)) host.text.set(address, insn.slice(0, 2));
  }
  site.members.push(probe);
  return site;
}

/** Removes a probe from its site, and the site from kprobe_table (and text) when it was the last member. */
function unlink(host: HostState, probe: ProbeState): void {
  const site = probe.site;
  if (site === undefined) return;
  site.members.splice(site.members.indexOf(probe), 1);
  probe.site = undefined;
  if (site.members.length > 0) {
    writeText(host, site);
    return;
  }
  const bucket = host.table[site.bucket];
  bucket?.splice(bucket.indexOf(site), 1);
  host.text.delete(site.address);
}

// arm_kprobe() / disarm_kprobe()

export type ArmReport = EventData<'probe.armed'>;

/**
 * Why `report` cannot be how the kernel armed the probe: it is armed already, a tracepoint has no
 * kprobe, the address moved other than past an endbr64, or its mechanism is impossible there.
 */
export function armDefect(host: HostState, report: ArmReport): string | undefined {
  const { probe: name, mechanism, address } = report;
  const probe = host.probes.get(name);
  if (probe === undefined) return `cannot arm unregistered probe "${name}"`;
  if (probe.armed) return `probe "${name}" is already armed`;
  if (probe.gone) return `probe "${name}" is gone: enable_kprobe refuses a gone kprobe`;
  if (probe.kind === 'tracepoint') {
    return mechanism === undefined && address === undefined ? undefined : `tracepoint "${name}" has no kprobe mechanism or address`;
  }
  if (address !== undefined && probe.site !== undefined && address !== probe.site.address) {
    const moved = movedDefect(probe, probe.site, address);
    if (moved !== undefined) return moved;
  }
  if (mechanism === undefined) return undefined;
  const at = address ?? probe.site?.address;
  const site = at === undefined ? undefined : getKprobe(host, at, kprobeBucket(at));
  return site && mechanismDefect(host, probe, site, mechanism);
}

/** arch_adjust_kprobe_addr: with IBT the kernel moves a probe on a function's +0 past its endbr64, nothing else. */
function movedDefect(probe: ProbeState, site: KprobeSite, address: string): string | undefined {
  const step = BigInt(address) - BigInt(site.address);
  const overEndbr = probe.offset === 0 && step === BigInt(ENDBR64.length / 2) && (site.savedInsn === undefined || site.savedInsn === ENDBR64);
  return overEndbr ? undefined : `probe "${probe.name}" registered at ${site.address} cannot be armed at ${address}: the kernel only steps a function's +0 over its endbr64 (+4)`;
}

/**
 * Arms the probe as the kernel reported: at its real address (the probe joins the kprobe there),
 * with its mechanism; the site's first byte becomes cc, e8 or e9 (text_poke / ftrace).
 */
export function armProbe(host: HostState, probe: ProbeState, report: Partial<ArmReport> = {}): void {
  const { mechanism, address } = report;
  if (address !== undefined && probe.site?.address !== address) {
    unlink(host, probe);
    probe.site = linkIntoTable(host, address, undefined, probe);
  }
  const site = probe.site;
  if (site === undefined) {
    probe.mechanism = mechanism ?? probe.mechanism;
    probe.armed = true;
    return;
  }
  forceUnoptimize(host, site.address);
  if (mechanism !== undefined) site.mechanism = mechanism;
  probe.armed = true;
  writeText(host, site);
}

export function disarmDefect(host: HostState, name: string): string | undefined {
  const probe = host.probes.get(name);
  if (probe === undefined) return `cannot disarm unregistered probe "${name}"`;
  return probe.armed ? undefined : `probe "${name}" is not armed`;
}

/** Restores the saved byte once no member of the aggregate is armed (an optimized one is un-optimized first). */
export function disarmProbe(host: HostState, probe: ProbeState): void {
  probe.armed = false;
  const site = probe.site;
  if (site === undefined || isSiteArmed(site)) return;
  afterDisarm(site);
  writeText(host, site);
}

// The kernel's later view of a kprobe (kprobes/list, probe.state).

export type StateReport = EventData<'probe.state'>;

export function stateDefect(host: HostState, report: StateReport): string | undefined {
  const probe = host.probes.get(report.probe);
  if (probe === undefined) return `state reported for unknown probe "${report.probe}"`;
  if (probe.kind === 'tracepoint') return `tracepoint "${report.probe}" has no kprobe state`;
  if (probe.gone && !report.gone) return `probe "${report.probe}" came back from gone: a gone kprobe stays gone`;
  if (report.mechanism === 'optimized' && !report.disabled && !probe.armed) {
    return `probe "${report.probe}" reported optimized while not armed: the optimizer only optimizes armed kprobes`;
  }
  return probe.site && mechanismDefect(host, probe, probe.site, report.mechanism);
}

export function applyState(host: HostState, probe: ProbeState, report: StateReport): void {
  probe.disabled = report.disabled;
  probe.gone = report.gone;
  const site = probe.site;
  if (site === undefined) {
    probe.mechanism = report.mechanism;
    return;
  }
  site.mechanism = report.mechanism;
  afterDisarm(site);
  writeText(host, site);
}

// unregister_kprobe()

export function unregisterDefect(host: HostState, name: string): string | undefined {
  return host.probes.has(name) ? undefined : `cannot unregister unknown probe "${name}"`;
}

/** Disarms if needed, unlinks from the aggregate, and from kprobe_table when it was the last member. */
export function unregisterProbe(host: HostState, probe: ProbeState): void {
  if (probe.armed) disarmProbe(host, probe);
  host.probes.delete(probe.name);
  unlink(host, probe);
}

// A hit. int3: the cpu traps → do_int3() → get_kprobe() → pre_handler → single-step → post_handler.
// ftrace: the call in the ftrace site → kprobe_ftrace_handler → get_kprobe() → pre_handler → post_handler.
// optimized: the jmp → detour buffer → optimized_callback → pre_handlers → copied instructions.

/**
 * The cpu reached the armed text at `address` (an int3 trap, the ftrace call or the optimized jmp);
 * the handler looks the kprobe up in kprobe_table. Returns the site, or why there could be no such entry.
 */
export function trap(host: HostState, address: string, bucket: number): KprobeSite | string {
  const site = getKprobe(host, address, bucket);
  const byte = host.text.get(address);
  if (site === undefined) return byte === INT3 ? `int3 at ${address} but no kprobe in kprobe_table` : `nothing armed at ${address}`;
  const mechanism = siteMechanism(site);
  if (byte !== ARMED_BYTE[mechanism]) return `no ${mechanism} at ${address}: nothing armed there`;
  return site;
}

export function hitDefect(host: HostState, name: string): string | undefined {
  const probe = host.probes.get(name);
  if (probe === undefined) return `hit on unregistered probe "${name}"`;
  if (!probe.armed) return `hit on disarmed probe "${name}"`;
  if (probe.gone) return `hit on gone probe "${name}": its text is freed`;
  if (probe.disabled) return `hit on probe "${name}" the kernel disabled`;
  if (probe.site === undefined) return undefined;
  const site = trap(host, probe.site.address, probe.site.bucket);
  return typeof site === 'string' ? `hit on probe "${name}": ${site}` : undefined;
}

/**
 * Why the saved instruction of `name`'s kprobe cannot be single-stepped now: only an int3 hit
 * single-steps; ftrace emulates the 5-byte nop and an optimized kprobe runs its copied instructions.
 */
export function singleStepDefect(host: HostState, name: string): string | undefined {
  const defect = hitDefect(host, name);
  if (defect !== undefined) return defect;
  const site = host.probes.get(name)?.site;
  const mechanism = site === undefined ? undefined : siteMechanism(site);
  if (mechanism === 'ftrace') return `single-step on ftrace-based probe "${name}": kprobe_ftrace_handler runs from the ftrace call and skips the 5-byte site without stepping`;
  if (mechanism === 'optimized') return `single-step on optimized probe "${name}": the detour buffer runs the copied instructions, nothing is stepped`;
  return undefined;
}

/**
 * The probes whose handlers run when `probe` fires: for a kprobe every live member of its kprobe
 * (aggr_pre_handler calls each); a tracepoint or address-unknown kprobe alone.
 */
export function handlersFor(probe: ProbeState): ProbeState[] {
  return probe.site === undefined ? [probe] : probe.site.members.filter(isLive);
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
