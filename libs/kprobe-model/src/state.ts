import type { Event, Mechanism, ProbeKind } from '@probefleet/events';
import { KPROBE_TABLE_SIZE } from './hash';

/** The x86 int3 opcode, written over the first byte of a probed instruction to arm it. */
export const INT3 = 'cc';

/** One registered probe (a trace_kprobe / trace event) of a host. */
export interface ProbeState {
  readonly name: string;
  readonly kind: ProbeKind;
  readonly symbol: string;
  readonly offset: number;
  /**
   * The struct kprobe at this probe's address. Undefined for tracepoints (no kernel text involved) and
   * for kprobes registered without an address (an agent that cannot read kallsyms): those are tracked
   * as registered/armed/hits/missed only, outside kprobe_table and kernel text.
   */
  site: KprobeSite | undefined;
  armed: boolean;
  /** The kprobe has a post_handler (never a trace kprobe's): it cannot be optimized. */
  readonly postHandler: boolean;
  /** kprobes/list's `[DISABLED]` / `[GONE]` for this probe (probe.state). */
  disabled: boolean;
  gone: boolean;
  /** The mechanism the kernel reported, for a kprobe without a site (its address unknown). */
  mechanism: Mechanism | undefined;
  hits: number;
  missed: number;
}

/**
 * The struct kprobe linked into kprobe_table at one address. With more than one member it is the
 * kernel's aggregated probe (aggr_kprobe), whose handlers call every member's.
 */
export interface KprobeSite {
  readonly address: string;
  readonly bucket: number;
  /** Original instruction bytes saved at registration (lowercase hex); undefined when no member knew them. */
  savedInsn: string | undefined;
  /**
   * How the kernel armed this address (mechanism.ts); undefined until an agent reports it (older
   * logs), which the model then treats as the int3 it always assumed.
   */
  mechanism: Mechanism | undefined;
  readonly members: ProbeState[];
}

export interface HostState {
  readonly host: string;
  readonly bootId: string;
  /** Boots this host had before the current one: their events can no longer be applied. */
  readonly earlierBoots: ReadonlySet<string>;
  /** Registered probes by name. */
  readonly probes: Map<string, ProbeState>;
  /** kprobe_table: KPROBE_TABLE_SIZE hash lists of sites. */
  readonly table: KprobeSite[][];
  /** Kernel text: current first byte at each probed address whose byte is known (armed: cc, e8 or e9 by mechanism). */
  readonly text: Map<string, string>;
}

/** How many recent events per stream are kept to tell an exact duplicate from a conflicting one. */
export const DUPLICATE_WINDOW = 1024;

/** An applied event as the duplicate window keeps it: decoded, or the line of a probe.hit read by scanHit. */
export type Recent = Event | string;

export interface StreamState {
  readonly bootId: string;
  lastSeq: number;
  /** Ring of the last DUPLICATE_WINDOW applied events, indexed by seq % DUPLICATE_WINDOW. */
  readonly recent: (Recent | undefined)[];
}

/**
 * The whole model: hosts and the streams (host, instance) that fed them. `evolve` updates it in place
 * (and returns it) so replay stays fast; take a `snapshot` to keep a copy.
 */
export interface ModelState {
  readonly hosts: Map<string, HostState>;
  /** Streams by host, then instance. */
  readonly streams: Map<string, Map<string, StreamState>>;
}

export function initialState(): ModelState {
  return { hosts: new Map(), streams: new Map() };
}

export function emptyHost(host: string, bootId: string, earlierBoots: ReadonlySet<string> = new Set()): HostState {
  return {
    host,
    bootId,
    earlierBoots,
    probes: new Map(),
    table: Array.from({ length: KPROBE_TABLE_SIZE }, () => []),
    text: new Map(),
  };
}
