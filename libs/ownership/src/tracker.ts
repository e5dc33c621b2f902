// The owner of each socket, learned from the hits themselves. Pure: the caller says which hits ran
// in process context and resolves a task to its owner.
//
// Why a tracker at all: a TCP state change reports whichever task was on the CPU. Most of them run
// in softirq (NET_RX: a SYN-ACK moves the client to ESTABLISHED, the handshake's last ACK creates and
// establishes the server's child socket, RSTs, FINs) or in timers (retransmit, keepalive,
// TIME_WAIT), where `current` is whatever task the interrupt preempted. On loopback it is worse: the
// sender's xmit raises NET_RX and runs it on its own local_bh_enable(), so the server's SYN_RECV and
// ESTABLISHED carry the *client's* pid, and the client's ESTABLISHED the server's on the way back.
// The trace flags say softirq for these (`s`), but a pid in process context is trustworthy only for
// transitions that the socket's own task makes in a syscall: connect() (CLOSE→SYN_SENT), listen()
// (CLOSE→LISTEN), close()/shutdown() (ESTABLISHED→FIN_WAIT1, CLOSE_WAIT→LAST_ACK, LISTEN→CLOSE).
// Other process-context hits (a backlog replayed in release_sock by the lock holder) are taken from
// what is known, never from the reporting task: a guessed pid is never reported.
import type { Attribution, TcpArgs, TcpStateName } from '@probefleet/events';

/** A socket that starts a new lifetime forgets what its memory held before (the kernel reuses it). */
function opens(state: TcpStateName): boolean {
  return state === 'TCP_SYN_SENT' || state === 'TCP_LISTEN' || state === 'TCP_SYN_RECV' || state === 'TCP_NEW_SYN_RECV';
}

/**
 * The transitions only a syscall of the socket's own task makes (see above). A switch on the state
 * names rather than a set of `old>new` strings: that string was built and hashed on every hit.
 */
export function isSyscallOnly(args: Pick<TcpArgs, 'oldstate' | 'newstate'>): boolean {
  switch (args.newstate) {
    case 'TCP_SYN_SENT':
    case 'TCP_LISTEN':
      return args.oldstate === 'TCP_CLOSE';
    case 'TCP_CLOSE':
      return args.oldstate === 'TCP_LISTEN';
    case 'TCP_FIN_WAIT1':
      return args.oldstate === 'TCP_ESTABLISHED';
    case 'TCP_LAST_ACK':
      return args.oldstate === 'TCP_CLOSE_WAIT';
    default:
      return false;
  }
}

export interface TrackerLimits {
  /** Sockets remembered (least recently seen evicted first, approximately: see Lru). */
  sockets: number;
  /** Listeners remembered; kept apart so connection churn never evicts them. */
  listeners: number;
  /** Connections found by the start-up scan and not yet seen by a hit. */
  preexisting: number;
}

export const DEFAULT_LIMITS: TrackerLimits = { sockets: 65536, listeners: 4096, preexisting: 65536 };

export interface Attributed<O> {
  owner: O | undefined;
  attribution: Attribution;
}

export interface TrackerStats {
  sockets: number;
  listeners: number;
  preexisting: number;
  evictions: number;
}

interface Listener<O> {
  family: string;
  addr: string;
  owner: O;
}

const WILDCARD: Record<string, string> = { AF_INET: '0.0.0.0', AF_INET6: '::' };

/**
 * A bounded map that evicts the least recently used entry, approximately ("second chance", as
 * CLOCK): a hit on an entry only marks it used; an eviction takes the oldest entry in insertion
 * order, but one marked used since it was (re)inserted moves to the end, unmarked, instead. Exact
 * LRU (delete and re-insert on every hit) cost two more Map operations a hit; this costs one field
 * write, and each entry passed over by an eviction was used once for it.
 */
class Lru<V> {
  private readonly map = new Map<string, { value: V; used: boolean }>();
  constructor(private readonly max: number, private readonly evicted: () => void) {}
  get size(): number {
    return this.map.size;
  }
  get(k: string): V | undefined {
    const e = this.map.get(k);
    if (e === undefined) return undefined;
    e.used = true;
    return e.value;
  }
  set(k: string, value: V): void {
    const e = this.map.get(k);
    if (e !== undefined) {
      e.value = value;
      e.used = true;
      return;
    }
    if (this.map.size >= this.max) this.evictOne();
    this.map.set(k, { value, used: false });
  }
  delete(k: string): V | undefined {
    const e = this.map.get(k);
    if (e === undefined) return undefined;
    this.map.delete(k);
    return e.value;
  }
  private evictOne(): void {
    // Entries re-inserted here come round again in this loop, unmarked: it ends within two passes.
    for (const [k, e] of this.map) {
      this.map.delete(k);
      if (!e.used) {
        this.evicted();
        return;
      }
      e.used = false;
      this.map.set(k, e);
    }
  }
}

const scanKey = (family: string, addr: string, port: number) => `scan|${family}|${addr}|${port}`;
const tuple = (family: string, saddr: string, sport: number, daddr: string, dport: number) => `${family}|${saddr}|${sport}|${daddr}|${dport}`;

/**
 * Sockets by (boot, skaddr) → owner; listeners by local (address, port), which their accepted
 * sockets inherit; connections from the start-up scan by their 4-tuple (/proc/net/tcp hashes the
 * socket pointer, so it cannot be matched to skaddr), adopted by skaddr at their first hit.
 */
export class OwnerTracker<O> {
  private evictions = 0;
  private readonly evicted: () => void;
  /** Per boot (an agent sees one; the last is kept at hand, so a hit's key is its skaddr alone). */
  private readonly boots = new Map<string, Lru<O>>();
  private lastBoot: string | undefined;
  private sockets: Lru<O>;
  private readonly preexisting: Lru<O>;
  /** By port: the listeners on it (several with SO_REUSEPORT, or on different addresses). */
  private readonly listeners = new Map<number, Map<string, Listener<O>>>();
  private listenerCount = 0;

  constructor(private readonly limits: TrackerLimits = DEFAULT_LIMITS) {
    const evicted = () => this.evictions++;
    this.sockets = new Lru<O>(limits.sockets, evicted);
    this.evicted = evicted;
    this.preexisting = new Lru<O>(limits.preexisting, evicted);
  }

  /**
   * The owner of the hit's socket. `processContext`: the hit ran in a task, not in an interrupt.
   * `current()` resolves the reporting task to an owner (undefined when it is gone); it is called
   * only for a syscall-only transition in process context.
   */
  observe(boot: string, args: TcpArgs, processContext: boolean, current: () => O | undefined): Attributed<O> {
    if (boot !== this.lastBoot) this.switchBoot(boot);
    const key = args.skaddr;
    let owner: O | undefined;
    let attribution: Attribution = 'unknown';
    if (processContext && isSyscallOnly(args)) {
      owner = current();
      if (owner !== undefined) attribution = 'direct';
    }
    if (owner === undefined) {
      if (args.oldstate !== args.newstate && opens(args.newstate)) this.sockets.delete(key);
      owner = this.sockets.get(key) ?? this.adopt(args);
      if (owner !== undefined) attribution = 'socket';
    }
    if (args.newstate === 'TCP_CLOSE') {
      this.sockets.delete(key);
      if (args.oldstate === 'TCP_LISTEN') this.removeListener(key, args.family, args.saddr, args.sport);
    } else if (owner !== undefined) {
      this.sockets.set(key, owner);
      if (args.newstate === 'TCP_LISTEN') this.addListener(args.family, args.saddr, args.sport, owner, key);
    }
    return { owner, attribution };
  }

  private switchBoot(boot: string): void {
    let lru = this.boots.get(boot);
    if (lru === undefined) {
      // The first boot takes the socket map made at construction (stats count it from the start).
      lru = this.boots.size === 0 ? this.sockets : new Lru<O>(this.limits.sockets, this.evicted);
      this.boots.set(boot, lru);
    }
    this.sockets = lru;
    this.lastBoot = boot;
  }

  /**
   * A socket the task `owner` has just accepted (the inet_csk_accept kretprobe, in kprobe mode): it
   * owns it from now on, whoever owns the listener (a listener shared across processes, handed over
   * after the scan, or seen by no hit).
   */
  accepted(boot: string, skaddr: string, owner: O): void {
    if (boot !== this.lastBoot) this.switchBoot(boot);
    this.sockets.set(skaddr, owner);
  }

  /**
   * An unknown socket: a connection the scan found, one accepted from a known listener, or the
   * close of a listener the scan found (no hit ever named its skaddr: when its close cannot be
   * resolved to the closing task — the process exited before the agent read /proc — the scan's
   * owner is still the listener's).
   */
  private adopt(a: TcpArgs): O | undefined {
    // Most agents' scanned connections are soon all adopted or gone: no tuple to build then.
    const scanned = this.preexisting.size === 0 ? undefined : this.preexisting.delete(tuple(a.family, a.saddr, a.sport, a.daddr, a.dport));
    if (scanned !== undefined) return scanned;
    if (a.oldstate === 'TCP_LISTEN' && a.dport === 0) return this.listeners.get(a.sport)?.get(scanKey(a.family, a.saddr, a.sport))?.owner;
    if (a.dport === 0 || a.newstate === 'TCP_LISTEN') return undefined;
    return this.listenerOwner(a.family, a.saddr, a.sport);
  }

  /**
   * The owner of the listener an accepted socket on (addr, port) came from: the one bound to that
   * address, else to the wildcard (an IPv6 `::` listener also takes IPv4 as ::ffff:a.b.c.d, which is
   * how such a child reports itself). When several listeners of different owners match equally
   * (SO_REUSEPORT across processes), the kernel's choice is unknown to us, so is the owner.
   */
  private listenerOwner(family: string, addr: string, port: number): O | undefined {
    const on = this.listeners.get(port);
    if (on === undefined) return undefined;
    for (const want of [addr, WILDCARD[family]]) {
      let found: O | undefined;
      let ambiguous = false;
      for (const l of on.values()) {
        if (l.family !== family || l.addr !== want) continue;
        if (found !== undefined && found !== l.owner) ambiguous = true;
        found = l.owner;
      }
      if (ambiguous) return undefined;
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** A listener (from a hit, or the start-up scan with a key of its own). */
  addListener(family: string, addr: string, port: number, owner: O, key = scanKey(family, addr, port)): void {
    let on = this.listeners.get(port);
    if (on === undefined) this.listeners.set(port, (on = new Map()));
    // A scanned listener seen again by a hit is the same socket: the hit's entry replaces it; a
    // rescan finding a listener a hit already named adds nothing (a second entry would outlive the
    // hit's, which its close removes, and name a closed listener's owner).
    const scanned = scanKey(family, addr, port);
    if (key !== scanned && on.delete(scanned)) this.listenerCount--;
    if (key === scanned) for (const [k, l] of on) if (k !== scanned && l.family === family && l.addr === addr) return;
    if (!on.has(key)) {
      if (this.listenerCount >= this.limits.listeners) {
        this.evictions++;
        if (on.size === 0) this.listeners.delete(port);
        return;
      }
      this.listenerCount++;
    }
    on.set(key, { family, addr, owner });
  }

  /** A listener on exactly (family, addr, port) is known, from a hit or a scan. */
  knowsListener(family: string, addr: string, port: number): boolean {
    const on = this.listeners.get(port);
    if (on !== undefined) for (const l of on.values()) if (l.family === family && l.addr === addr) return true;
    return false;
  }

  /** A connection that existed before the agent started (start-up scan). */
  addConnection(family: string, saddr: string, sport: number, daddr: string, dport: number, owner: O): void {
    this.preexisting.set(tuple(family, saddr, sport, daddr, dport), owner);
  }

  private removeListener(key: string, family: string, addr: string, port: number): void {
    const on = this.listeners.get(port);
    if (on === undefined) return;
    // A listener the scan found and no hit has named since closes under its scan key.
    if (on.delete(key) || on.delete(scanKey(family, addr, port))) this.listenerCount--;
    if (on.size === 0) this.listeners.delete(port);
  }

  get stats(): TrackerStats {
    return { sockets: this.sockets.size, listeners: this.listenerCount, preexisting: this.preexisting.size, evictions: this.evictions };
  }
}
