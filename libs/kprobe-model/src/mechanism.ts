// The three ways x86 arms a kprobe, as read in the kernel (arch/x86/kernel/kprobes/core.c, ftrace.c,
// opt.c and kernel/kprobes.c); the kernel says which one it used in debugfs kprobes/list.
//
// - int3 (core.c): register_kprobe saves the instruction, links the kprobe into kprobe_table and
//   text_poke writes 0xcc over its first byte. A hit traps to do_int3 → kprobe_int3_handler →
//   pre_handler, then the saved instruction is single-stepped out of line, then the post_handler.
// - ftrace (ftrace.c, CONFIG_KPROBES_ON_FTRACE): when the address is the function's ftrace site
//   (the 5-byte `call __fentry__` the compiler put at entry, a 5-byte nop `0f 1f 44 00 00` while
//   nothing traces it; after `endbr64` on IBT kernels), check_ftrace_location marks the kprobe FTRACE
//   and arming registers an ftrace_ops filtered on that ip: ftrace turns the nop into `e8 rel32`, a
//   call to its trampoline, and kprobe_ftrace_handler runs the pre_handler there. There is no int3
//   and no single-step: the handler sets regs->ip past the 5 bytes as if a nop had run, then runs
//   the post_handler itself. try_to_optimize_kprobe refuses ftrace kprobes: ftrace never optimizes.
// - optimized (opt.c, CONFIG_OPTPROBES): an armed int3 kprobe is prepared for optimization
//   (can_optimize: whole instructions of at least 5 bytes that can be relocated, no jump into them,
//   none in an ftrace/alternative/jump-label/static-call range) and queued; the kprobe optimizer,
//   a delayed work (OPTIMIZE_DELAY = 5 jiffies), replaces the int3 with `e9 rel32`, a jmp to a
//   detour buffer that calls optimized_callback (pre_handlers only), runs the copied instructions and
//   jumps back. optimize_kprobe refuses a kprobe with a post_handler (it needs the single-step) and
//   arch_check_optimized_kprobe one with another enabled kprobe inside the copied range; arming a
//   kprobe inside an optimized one's range force-unoptimizes it first (__arm_kprobe →
//   unoptimize_kprobe(force)), back to an int3. sysctl debug.kprobes-optimization=0 unoptimizes all.
//
// What the model covers: the mechanism of each address as the agent reports it (probe.armed,
// probe.state), the text byte each leaves (cc / e8 / e9), that ftrace is a property of the address
// (never changes while a kprobe is there), that an optimized kprobe has no post_handler and no other
// live kprobe in the 4 bytes after its first (the jmp's rel32: the model does not know instruction
// lengths in replay, so it checks the 5 bytes every optimization covers, not the whole copied
// range; decide, which has the instructions, uses the whole range), the forced un-optimization, and
// that an optimized kprobe falls back to int3 when disarmed. Not covered: the optimizer's queues and
// delays (the report is the fact), kretprobes' trampoline, jump-label/alternatives ranges, the
// detour buffer's address (the rel32 is unknown, so the model knows one byte of the five).
import type { Mechanism } from '@probefleet/events';
import type { HostState, KprobeSite, ProbeState } from './state';

/** The first byte each mechanism leaves at an armed address: int3, call rel32 (ftrace), jmp rel32 (optimized). */
export const ARMED_BYTE: Readonly<Record<Mechanism, string>> = { int3: 'cc', ftrace: 'e8', optimized: 'e9' };
/** JMP32_INSN_SIZE / MCOUNT_INSN_SIZE: the call or jmp with a 32-bit displacement. */
export const REL32_INSN_SIZE = 5;
/** The IBT landing pad the kernel steps over when probing a function's +0 (arch_adjust_kprobe_addr). */
export const ENDBR64 = 'f30f1efa';
/** x86_nops[5]: what an ftrace site holds while nothing traces it. */
export const NOP5 = '0f1f440000';

/** An armed probe the kernel has not disabled and whose text still exists. */
export function isLive(probe: ProbeState): boolean {
  return probe.armed && !probe.disabled && !probe.gone;
}

export function isSiteArmed(site: KprobeSite): boolean {
  return site.members.some(isLive);
}

/** Older logs report no mechanism: the model's int3, as before. */
export function siteMechanism(site: KprobeSite): Mechanism {
  return site.mechanism ?? 'int3';
}

/** The first byte kernel text must hold at a site; undefined when unknown or gone. */
export function expectedByte(site: KprobeSite): string | undefined {
  if (site.members.every((member) => member.gone)) return undefined;
  if (isSiteArmed(site)) return ARMED_BYTE[siteMechanism(site)];
  return site.savedInsn?.slice(0, 2);
}

/** Writes the site's byte into the host's text (or forgets it when unknown). */
export function writeText(host: HostState, site: KprobeSite): void {
  const byte = expectedByte(site);
  if (byte === undefined) host.text.delete(site.address);
  else host.text.set(site.address, byte);
}

/**
 * The bytes a site leaves at its address, as far as the model knows them, `??` for an unknown byte
 * (a rel32 to a trampoline or detour buffer whose address the model cannot know); null when unknown.
 */
export function siteBytes(site: KprobeSite): string | null {
  if (site.members.every((member) => member.gone)) return null;
  const mechanism = siteMechanism(site);
  if (!isSiteArmed(site)) return site.savedInsn ?? (mechanism === 'ftrace' ? NOP5 : null);
  if (mechanism === 'int3') return `cc${site.savedInsn?.slice(2) ?? ''}`;
  return `${ARMED_BYTE[mechanism]}${'??'.repeat(REL32_INSN_SIZE - 1)}`;
}

/** Whether `address` is in the rel32 of a jmp written at `jmpAt` (1 to 4 bytes after it). */
function inJmp(jmpAt: string, address: string, size = REL32_INSN_SIZE): boolean {
  const d = BigInt(address) - BigInt(jmpAt);
  return d > 0n && d < BigInt(size);
}

function sites(host: HostState): KprobeSite[] {
  return host.table.flat();
}

/**
 * Why `site` cannot be optimized (optimize_kprobe, arch_check_optimized_kprobe), given the probes
 * that would be its members; `size`: the bytes the optimization copies (5 when unknown).
 */
export function optimizeDefect(host: HostState, site: KprobeSite, members: readonly ProbeState[], size = REL32_INSN_SIZE): string | undefined {
  if (siteMechanism(site) === 'ftrace') return `kprobe at ${site.address} is ftrace-based: ftrace kprobes are never optimized`;
  const withPost = members.find((member) => member.postHandler);
  if (withPost !== undefined) return `probe "${withPost.name}" has a post_handler: a kprobe with a post_handler is never optimized`;
  const inside = sites(host).find((other) => other !== site && isSiteArmed(other) && inJmp(site.address, other.address, size));
  return inside && `kprobe at ${inside.address} lies inside the jmp an optimized kprobe at ${site.address} would write`;
}

/**
 * Why the kernel cannot report `mechanism` for `probe` at `site`: ftrace is a property of the
 * address (ftrace_location), and optimization has its conditions.
 */
export function mechanismDefect(host: HostState, probe: ProbeState, site: KprobeSite, mechanism: Mechanism): string | undefined {
  const known = site.mechanism;
  if (known !== undefined && (known === 'ftrace') !== (mechanism === 'ftrace')) {
    return `probe "${probe.name}" reported ${mechanism} at ${site.address}, but the kprobe there is ${known}: only a function's ftrace site is ftrace-based, and it stays so`;
  }
  if (mechanism !== 'optimized') return undefined;
  const members = site.members.includes(probe) ? site.members : [...site.members, probe];
  return optimizeDefect(host, site, members);
}

/** The optimized kprobes whose jmp covers `address`: arming a kprobe there un-optimizes them. */
export function optimizedAround(host: HostState, address: string): KprobeSite[] {
  return sites(host).filter((site) => site.mechanism === 'optimized' && inJmp(site.address, address));
}

/** __arm_kprobe: a kprobe armed inside an optimized kprobe's jmp turns that one back into an int3. */
export function forceUnoptimize(host: HostState, address: string): void {
  for (const site of optimizedAround(host, address)) {
    site.mechanism = 'int3';
    writeText(host, site);
  }
}

/** The invariants of an optimized site, over the whole host (checkInvariants). */
export function optimizedViolation(host: HostState, site: KprobeSite): string | undefined {
  return site.mechanism === 'optimized' && isSiteArmed(site) ? optimizeDefect(host, site, site.members) : undefined;
}

/** Disarming an optimized kprobe un-optimizes it first (__disarm_kprobe): it re-arms as an int3. */
export function afterDisarm(site: KprobeSite): void {
  if (site.mechanism === 'optimized' && !isSiteArmed(site)) site.mechanism = 'int3';
}
