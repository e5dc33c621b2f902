import { EVENT_VERSION, type Event, type EventData, type EventType, type ProbeKind } from '@probefleet/events';
import { hostAfterBoot } from './evolve';
import { armDefect, disarmDefect, handlersFor, hitDefect, missedDefect, registerDefect, singleStepDefect, unregisterDefect } from './kernel';
import { armReport, optimizeBodies, unoptimizedByArming, unoptimizedByRegistering } from './decide-arm';
import type { HostState, ModelState, ProbeState } from './state';

/**
 * A function of the kernel image: its address and its instructions from the start, as lowercase hex.
 * `fentry`: the offset of its ftrace site (`call __fentry__`, after endbr64 on IBT kernels), if any.
 */
export interface KernelSymbol {
  address: string;
  insns: readonly string[];
  fentry?: number;
}

/**
 * What the model knows of a kernel's text (kallsyms + the bytes at each probed function). `ibt`:
 * CONFIG_X86_KERNEL_IBT (a probe on +0 moves past the endbr64); `optimization`: sysctl
 * debug.kprobes-optimization (default on).
 */
export interface KernelImage {
  symbols: Readonly<Record<string, KernelSymbol>>;
  ibt?: boolean;
  optimization?: boolean;
}

/** Who issues a command: the agent process (stream) on a host in a given boot, and when. */
export interface CommandSource {
  host: string;
  bootId: string;
  instance: string;
  time: string;
}

export type Command = CommandSource &
  (
    | { type: 'start'; data: EventData<'agent.started'> }
    | { type: 'stop'; reason: string }
    | { type: 'register'; probe: string; kind: ProbeKind; symbol: string; offset: number; postHandler?: boolean }
    | { type: 'arm'; probe: string }
    | { type: 'disarm'; probe: string }
    | { type: 'unregister'; probe: string }
    /**
     * The cpu runs into `probe`'s breakpoint (or tracepoint). `reentered`: probes whose int3 the
     * handler itself runs into on the same cpu while it runs — each becomes a miss.
     */
    | { type: 'hit'; probe: string; cpu: number; pid: number; comm: string; args: EventData<'probe.hit'>['args']; reentered?: string[] }
    /** The agent read new misses of `probe` from kprobe_profile. */
    | { type: 'report-missed'; probe: string; count: number }
    /** The kprobe optimizer ran (OPTIMIZE_DELAY after arming); the agent sees the result in kprobes/list. */
    | { type: 'optimize' }
    /** The cpu single-steps `probe`'s saved instruction (an int3 hit's step); refused where nothing is stepped. */
    | { type: 'single-step'; probe: string }
  );

export type Decision = { ok: true; events: Event[] } | { ok: false; reason: string };

export type Body = { [T in EventType]: { type: T; data: EventData<T> } }[EventType];

/** What happens when `command` runs against `state`: the events to append, or why the kernel refuses it. */
export function decide(command: Command, state: ModelState, kernel: KernelImage): Decision {
  const stream = state.streams.get(command.host)?.get(command.instance);
  if (stream !== undefined && stream.bootId !== command.bootId) {
    return { ok: false, reason: `instance ${command.instance} belongs to boot ${stream.bootId}` };
  }
  const current = state.hosts.get(command.host);
  const host = current?.bootId === command.bootId ? current : hostAfterBoot(current, command);
  if (typeof host === 'string') return { ok: false, reason: host };
  const bodies = decideBodies(command, host, kernel);
  if (typeof bodies === 'string') return { ok: false, reason: bodies };
  const { host: hostName, bootId, instance, time } = command;
  const firstSeq = (stream?.lastSeq ?? 0) + 1;
  const events = bodies.map((body, i) => ({ v: EVENT_VERSION, host: hostName, bootId, instance, seq: firstSeq + i, time, ...body }) as Event);
  return { ok: true, events };
}

function decideBodies(command: Command, host: HostState, kernel: KernelImage): Body[] | string {
  switch (command.type) {
    case 'start':
      return [{ type: 'agent.started', data: command.data }];
    case 'stop':
      return [{ type: 'agent.stopped', data: { reason: command.reason } }];
    case 'register':
      return decideRegister(command, host, kernel);
    case 'arm':
      return decideArm(command.probe, host, kernel);
    case 'disarm':
      return disarmDefect(host, command.probe) ?? [{ type: 'probe.disarmed', data: { probe: command.probe } }];
    case 'unregister':
      // unregister_kprobe() disarms by itself: no separate probe.disarmed.
      return unregisterDefect(host, command.probe) ?? [{ type: 'probe.unregistered', data: { probe: command.probe } }];
    case 'hit':
      return decideHit(command, host);
    case 'report-missed':
      return missedDefect(host, command.probe) ?? [{ type: 'probe.missed', data: { probe: command.probe, count: command.count } }];
    case 'optimize':
      return optimizeBodies(host, kernel);
    case 'single-step':
      return singleStepDefect(host, command.probe) ?? [];
  }
}

/** probe.armed as the agent reads it from kprobes/list, and probe.state of the kprobes arming un-optimized. */
function decideArm(name: string, host: HostState, kernel: KernelImage): Body[] | string {
  const probe = host.probes.get(name);
  const report = probe === undefined ? { probe: name } : armReport(host, probe, kernel);
  const defect = armDefect(host, report);
  if (defect !== undefined) return defect;
  return [{ type: 'probe.armed', data: report }, ...unoptimizedByArming(host, probe as ProbeState, report)];
}

function decideRegister(command: Extract<Command, { type: 'register' }>, host: HostState, kernel: KernelImage): Body[] | string {
  const { probe, kind, symbol, offset, postHandler } = command;
  let data: EventData<'probe.registered'> = { probe, kind, symbol, offset, ...(postHandler ? { postHandler } : {}) };
  if (kind !== 'tracepoint') {
    const resolved = resolveSymbol(kernel, symbol, offset);
    if (typeof resolved === 'string') return resolved;
    data = { ...data, ...resolved };
  }
  return registerDefect(host, data) ?? [{ type: 'probe.registered', data }, ...unoptimizedByRegistering(host, data.address, data.postHandler)];
}

/** kallsyms lookup of symbol+offset; the offset must fall on an instruction boundary (else -EILSEQ). */
export function resolveSymbol(kernel: KernelImage, symbol: string, offset: number): { address: string; insn: string } | string {
  const sym = kernel.symbols[symbol];
  if (sym === undefined) return `unknown symbol ${symbol}`;
  let at = 0;
  for (const insn of sym.insns) {
    if (at === offset) return { address: `0x${(BigInt(sym.address) + BigInt(offset)).toString(16)}`, insn };
    if (at > offset) break;
    at += insn.length / 2;
  }
  return `${symbol}+${offset} is not on a known instruction boundary`;
}

function decideHit(command: Extract<Command, { type: 'hit' }>, host: HostState): Body[] | string {
  const defect = hitDefect(host, command.probe);
  if (defect !== undefined) return defect;
  // int3 → do_int3 → get_kprobe found the kprobe (hitDefect checked it); pre_handler runs with
  // current_kprobe set on this cpu.
  const bodies: Body[] = [];
  for (const nested of command.reentered ?? []) {
    const reenterDefect = hitDefect(host, nested);
    if (reenterDefect !== undefined) return `re-entered ${reenterDefect}`;
    bodies.push(...kprobeReenter(host.probes.get(nested) as ProbeState));
  }
  // Single-step the saved instruction out of line, post_handler, resume: every handler saw one hit.
  const { cpu, pid, comm, args } = command;
  for (const probe of handlersFor(host.probes.get(command.probe) as ProbeState)) {
    bodies.push({ type: 'probe.hit', data: { probe: probe.name, cpu, pid, comm, args } });
  }
  return bodies;
}

/**
 * An int3 hit while a kprobe handler runs on the same cpu: the handler is skipped and
 * kprobes_inc_nmissed_count() counts a miss on every member of the kprobe.
 */
function kprobeReenter(probe: ProbeState): Body[] {
  const members = probe.site?.members ?? [probe];
  return members.map((member) => ({ type: 'probe.missed', data: { probe: member.name, count: 1 } }));
}
