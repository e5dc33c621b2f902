// The agent's one entry point: the tracker fed with owners read from /proc, the start-up scan, and
// the counters the agent reports. What counts as process context, from the hit's trace flags.
import type { HitContext, Owner, TcpArgs } from '@probefleet/events';
import { PodNames } from './pods';
import { ProcessResolver } from './process';
import { scanNewListeners, scanSockets } from './scan';
import { DEFAULT_LIMITS, OwnerTracker, type Attributed, type TrackerLimits } from './tracker';

/**
 * A hit ran in its task's process context when ftrace saw no interrupt context: not in a hardirq,
 * an NMI, or serving a softirq (NET_RX and the TCP timers run there, with whatever task they
 * interrupted as `current`). Bottom halves merely disabled (release_sock replaying the backlog) are
 * still the task's own. A hit without flags is not trusted.
 */
export function isProcessContext(ctx: HitContext | undefined): boolean {
  return ctx !== undefined && !ctx.hardirq && !ctx.softirq && !ctx.nmi;
}

/**
 * The first hit of a listener's child: SYN_RECV→… in kprobe mode (the child is born in SYN_RECV by
 * inet_csk_clone_lock, without tcp_set_state), LISTEN/NEW_SYN_RECV→… as the tracepoint reports it.
 */
function isChildsFirstHit(args: TcpArgs): boolean {
  return args.sport !== 0 && args.dport !== 0 && (args.oldstate === 'TCP_SYN_RECV' || args.oldstate === 'TCP_NEW_SYN_RECV' || args.oldstate === 'TCP_LISTEN');
}

export interface SocketOwnersOptions {
  procRoot?: string;
  /** The kubelet's pod log directories (pod names by uid). */
  podsDir?: string;
  limits?: TrackerLimits;
  /** An unknown socket with a peer re-reads the listeners at most this often (see attribute). */
  rescanMs?: number;
  now?: () => number;
}

export interface OwnershipCounters {
  attributionUnknown: number;
  ownerEvictions: number;
  podNameMisses: number;
}

export class SocketOwners {
  private readonly tracker: OwnerTracker<Owner>;
  private readonly pods: PodNames;
  private readonly resolver: ProcessResolver;
  private unknown = 0;
  private rescannedAt = -Infinity;
  /** Listener inodes a rescan found no owner for (held by no process we can read): not walked for again. */
  private readonly unowned = new Set<number>();
  /** The task of the hit being attributed, for `current` (one closure, not one a hit). */
  private tid = 0;
  private readonly current = (): Owner | undefined => (this.tid > 0 ? this.resolver.owner(this.tid) : undefined);
  rescans = 0;
  /** Sockets whose owner an accept hit named. */
  accepts = 0;

  constructor(private readonly boot: string, private readonly o: SocketOwnersOptions = {}) {
    this.tracker = new OwnerTracker<Owner>(o.limits ?? DEFAULT_LIMITS);
    this.pods = new PodNames(o.podsDir);
    this.resolver = new ProcessResolver({ procRoot: o.procRoot, pods: this.pods });
  }

  /** Listeners and connections that already exist; returns how many were found and owned. */
  scan(): { listeners: number; connections: number; unheld: number } {
    const { sockets, unheld } = scanSockets((pid) => this.resolver.read(pid), this.o.procRoot);
    let listeners = 0;
    for (const s of sockets) {
      if (s.listening) {
        listeners++;
        this.tracker.addListener(s.family, s.saddr, s.sport, s.owner);
      } else this.tracker.addConnection(s.family, s.saddr, s.sport, s.daddr, s.dport, s.owner);
    }
    return { listeners, connections: sockets.length - listeners, unheld };
  }

  /**
   * Listeners the tracker does not know yet. Reads only the listeners of /proc/net/tcp{,6}, and walks
   * the /proc fds only when one of them is new: an unknown socket is mostly not a new listener's
   * child (a client's socket whose hits came late from another CPU's buffer), and the full walk
   * cost tens of ms on a busy host, once a second under such a load.
   */
  private rescan(): void {
    const known = (family: string, addr: string, port: number) => this.tracker.knowsListener(family, addr, port);
    const { sockets, unowned } = scanNewListeners(known, (pid) => this.resolver.read(pid), this.o.procRoot, this.unowned);
    for (const s of sockets) this.tracker.addListener(s.family, s.saddr, s.sport, s.owner);
    // Bounded; a listener whose holder we could not read then counts as new again.
    if (this.unowned.size + unowned.length > 4096) this.unowned.clear();
    for (const inode of unowned) this.unowned.add(inode);
  }

  /**
   * The owner of a TCP hit's socket; `tid` is the task the kernel reported. An unknown child's first
   * hit may come from a listener we never saw start: in kprobe mode listen() sets TCP_LISTEN without
   * tcp_set_state (inet_sk_state_store), so a listener made after the agent shows only at its close.
   * New listeners are then looked for in /proc (rate-limited) and the hit tried again. Only a child's
   * first hit asks: other unknown sockets (a client's hits come late from another CPU's buffer) are no
   * listener's business, and under load they used up the rate limit, so a new listener's children
   * stayed unknown for up to a second. A listener that closed before the agent read its first child's
   * hit is gone from /proc: those children are unknown until accept() (the kretprobe) names them.
   */
  attribute(args: TcpArgs, ctx: HitContext | undefined, tid: number): Attributed<Owner> {
    const pc = isProcessContext(ctx);
    this.tid = tid;
    let r = this.tracker.observe(this.boot, args, pc, this.current);
    if (r.attribution === 'unknown' && isChildsFirstHit(args) && this.rescanDue()) {
      this.rescan();
      r = this.tracker.observe(this.boot, args, pc, this.current);
    }
    if (r.attribution === 'unknown') this.unknown++;
    return r;
  }

  /**
   * A socket accepted by task `tid` (the inet_csk_accept kretprobe's hit, which runs as accept()
   * returns in the accepting task): that task's process owns it, directly. Unknown outside process
   * context, for a failed accept (skaddr 0x0) or a task already gone.
   */
  accepted(skaddr: string, ctx: HitContext | undefined, tid: number): Attributed<Owner> {
    const owner = isProcessContext(ctx) && tid > 0 && skaddr !== '0x0' ? this.resolver.owner(tid) : undefined;
    if (owner === undefined) {
      this.unknown++;
      return { owner: undefined, attribution: 'unknown' };
    }
    this.accepts++;
    this.tracker.accepted(this.boot, skaddr, owner);
    return { owner, attribution: 'direct' };
  }

  private rescanDue(): boolean {
    const now = (this.o.now ?? (() => performance.now()))();
    if (now - this.rescannedAt < (this.o.rescanMs ?? 1000)) return false;
    this.rescannedAt = now;
    this.rescans++;
    return true;
  }

  counters(): OwnershipCounters {
    return { attributionUnknown: this.unknown, ownerEvictions: this.tracker.stats.evictions, podNameMisses: this.pods.misses };
  }
}

