// What the kernel reports when a kprobe is armed and when the optimizer runs (see mechanism.ts), for
// decide: the model plays the kernel, given the instructions of the probed functions.
import type { Mechanism } from '@probefleet/events';
import type { Body, KernelImage, KernelSymbol } from './decide';
import { kprobeBucket } from './hash';
import { getKprobe, type ArmReport } from './kernel';
import { ENDBR64, isLive, isSiteArmed, optimizeDefect, optimizedAround, REL32_INSN_SIZE, siteMechanism } from './mechanism';
import type { HostState, KprobeSite, ProbeState } from './state';

const hex = (n: bigint) => `0x${n.toString(16)}`;

/** Where the kernel probes and how it arms `probe` (kprobes/list right after enabling it). */
export function armReport(host: HostState, probe: ProbeState, kernel: KernelImage): ArmReport {
  const site = probe.site;
  if (probe.kind === 'tracepoint' || site === undefined) return { probe: probe.name };
  const sym = kernel.symbols[probe.symbol];
  let address = site.address;
  // arch_adjust_kprobe_addr: on IBT kernels a probe on a function's +0 lands past the endbr64.
  if (kernel.ibt && sym !== undefined && probe.offset === 0 && sym.insns[0] === ENDBR64) address = hex(BigInt(sym.address) + 4n);
  const target = getKprobe(host, address, kprobeBucket(address));
  return { probe: probe.name, mechanism: mechanismAt(target, probe, sym, address), address };
}

function mechanismAt(target: KprobeSite | undefined, probe: ProbeState, sym: KernelSymbol | undefined, address: string): Mechanism {
  // Joining an armed kprobe: its mechanism, except that a post_handler un-optimizes it.
  if (target !== undefined && isSiteArmed(target)) {
    const mechanism = siteMechanism(target);
    return mechanism === 'optimized' && probe.postHandler ? 'int3' : mechanism;
  }
  const fentry = sym?.fentry;
  return fentry !== undefined && BigInt(address) === BigInt(sym?.address ?? 0) + BigInt(fentry) ? 'ftrace' : 'int3';
}

/** The other probes whose kprobe arming `report` turns back into an int3, as the agent then sees them. */
export function unoptimizedByArming(host: HostState, probe: ProbeState, report: ArmReport): Body[] {
  if (report.address === undefined) return [];
  const target = getKprobe(host, report.address, kprobeBucket(report.address));
  const sites = optimizedAround(host, report.address);
  if (target?.mechanism === 'optimized' && report.mechanism === 'int3') sites.push(target);
  return sites.flatMap((site) =>
    site.members.filter((member) => member !== probe && isLive(member)).map((member): Body => stateBody(member, 'int3')),
  );
}

/** The armed probes a post_handler kprobe registered at `address` un-optimizes (add_new_kprobe). */
export function unoptimizedByRegistering(host: HostState, address: string | undefined, postHandler: boolean | undefined): Body[] {
  if (address === undefined || !postHandler) return [];
  const target = getKprobe(host, address, kprobeBucket(address));
  if (target?.mechanism !== 'optimized') return [];
  return target.members.filter(isLive).map((member): Body => stateBody(member, 'int3'));
}

function stateBody(member: ProbeState, mechanism: Mechanism): Body {
  return { type: 'probe.state', data: { probe: member.name, mechanism, disabled: member.disabled, gone: member.gone } };
}

/**
 * The kprobe optimizer's pass: every armed int3 kprobe it can optimize becomes a jmp (probe.state
 * optimized for each live member). Nothing with debug.kprobes-optimization=0.
 */
export function optimizeBodies(host: HostState, kernel: KernelImage): Body[] {
  if (kernel.optimization === false) return [];
  const bodies: Body[] = [];
  for (const site of host.table.flat()) {
    if (!isSiteArmed(site) || siteMechanism(site) !== 'int3') continue;
    const size = copiedSize(site, kernel);
    if (size === undefined || optimizeDefect(host, site, site.members, size) !== undefined) continue;
    for (const member of site.members) if (isLive(member)) bodies.push(stateBody(member, 'optimized'));
  }
  return bodies;
}

/**
 * copy_optimized_instructions: the whole instructions from the site that cover the jmp's 5 bytes;
 * undefined when the model does not know them (or the function ends first: can_optimize refuses).
 */
function copiedSize(site: KprobeSite, kernel: KernelImage): number | undefined {
  const member = site.members[0];
  const sym = member === undefined ? undefined : kernel.symbols[member.symbol];
  if (sym === undefined) return undefined;
  const offset = Number(BigInt(site.address) - BigInt(sym.address));
  let at = 0;
  let size = 0;
  for (const insn of sym.insns) {
    if (at >= offset) size += insn.length / 2;
    at += insn.length / 2;
    if (size >= REL32_INSN_SIZE) return size;
  }
  return undefined;
}
