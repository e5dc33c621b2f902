// What the query API returns for a loopback workload, and how to read it per socket: shared by the
// pipeline e2e test and the fault tests.
import { ourInstances } from './agent-kafka';
import { ACCEPTED } from './loopback';

export interface Transition {
  id: string;
  instance: string;
  seq: string;
  time: string;
  skaddr: string;
  family: string;
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  oldState: string;
  newState: string;
  msInOldState: number | null;
}
export interface Connection { skaddr: string; family: string; sport: number; dport: number; closedAt: string | null; durationMs: number | null; lastState: string; states: { state: string; ms: number | null }[] }
export interface AgentItem { host: string; instance: string; mode: string | null; startedAt: string | null; stoppedAt: string | null }
export interface GapItem { instance: string; fromSeq: string; toSeq: string; missing: string; closedAt: string | null }

export const short = (s: string): string => s.replace('TCP_', '');
export const edge = (t: Pick<Transition, 'oldState' | 'newState'>): string => `${short(t.oldState)}->${short(t.newState)}`;

/**
 * Who a socket of `port`'s workload is, from its ends: the client's ephemeral port, the accepted
 * child's peer port, or the listener (no peer).
 */
export const socketOf = (port: number, x: { sport: number; dport: number }): string =>
  x.dport === port ? `client:${x.sport}` : x.dport === 0 ? 'listener' : `child:${x.dport}`;

/** A socket's first transition: out of CLOSE (a new client or listener) or a child born from a listener. */
const isBirth = (t: Transition) => t.oldState === 'TCP_CLOSE' || (t.oldState === 'TCP_LISTEN' && t.newState === 'TCP_SYN_RECV');

export interface SocketTransitions {
  /** socket (socketOf) → its transitions, oldest first. */
  bySocket: Record<string, Transition[]>;
  /** socket → "OLD->NEW" of each transition. */
  seqs: Record<string, string[]>;
  skaddr: Record<string, string>;
  /** Lifetimes whose only transitions show no ends (a client's CLOSE->SYN_SENT whose later ones are missing): partial mode only. */
  unattributed: Transition[][];
}

/**
 * The transitions of `port` (oldest first) per socket. The kernel reuses a freed socket's memory,
 * so a socket is an skaddr from its first transition to its CLOSE; each must show one pair of ends
 * (a connecting client's sport is still 0 at SYN_SENT). The kernel may also give a later connect
 * the ephemeral port of one that is closed, so two sockets may show the same ends: the later one
 * is `client:<port>#2` (#3...), and must be a whole lifetime of its own — born after the earlier
 * one's CLOSE, on any skaddr. Anything else with the ends of another socket is an error.
 *
 * `partial`: transitions may be missing (a stream cut by kill -9), so a lifetime also ends where a
 * new socket is born on the same skaddr or the ends change, and ends may repeat freely.
 */
export function transitionsBySocket(items: Transition[], port: number, opts: { partial?: boolean } = {}): SocketTransitions {
  interface Lifetime { skaddr: string; ends: Set<string>; first: Transition; items: Transition[] }
  const lifetimes: Lifetime[] = [];
  const open = new Map<string, Lifetime>();
  for (const t of items) {
    const ends = t.sport !== 0 ? socketOf(port, t) : undefined;
    let l = open.get(t.skaddr);
    if (l !== undefined && opts.partial && (isBirth(t) || (ends !== undefined && l.ends.size > 0 && !l.ends.has(ends)))) l = undefined;
    if (l === undefined) {
      l = { skaddr: t.skaddr, ends: new Set(), first: t, items: [] };
      open.set(t.skaddr, l);
      lifetimes.push(l);
    }
    l.items.push(t);
    if (ends !== undefined) l.ends.add(ends);
    if (t.newState === 'TCP_CLOSE') open.delete(t.skaddr);
  }
  const out: SocketTransitions = { bySocket: {}, seqs: {}, skaddr: {}, unattributed: [] };
  const show = (ts: Transition[]) => ts.map((t) => `${t.instance.slice(0, 8)}/${t.seq} ${t.time} ${edge(t)}`).join(', ');
  for (const l of lifetimes) {
    if (l.ends.size === 0 && opts.partial) {
      out.unattributed.push(l.items);
      continue;
    }
    if (l.ends.size !== 1) throw new Error(`port ${port}: skaddr ${l.skaddr} from ${l.first.id} shows ends ${[...l.ends].join(' ') || 'none'}`);
    const ends = [...l.ends][0] as string;
    let s = ends;
    for (let n = 2; out.seqs[s] !== undefined; n++) {
      const prev = out.bySocket[s] as Transition[];
      const closed = prev[prev.length - 1]?.newState === 'TCP_CLOSE';
      const after = l.first.time > (prev[prev.length - 1] as Transition).time; // RFC 3339 UTC, fixed width
      if (!opts.partial && !(closed && after && isBirth(l.first))) throw new Error(`port ${port}: ${ends} has two skaddrs: ${out.skaddr[s]} [${show(prev)}] and ${l.skaddr} [${show(l.items)}]`);
      s = `${ends}#${n}`;
    }
    out.bySocket[s] = l.items;
    out.seqs[s] = l.items.map(edge);
    out.skaddr[s] = l.skaddr;
  }
  return out;
}

/** A socket's ends without the #n of a reused port. */
export const endsOf = (socket: string): string => socket.split('#')[0] as string;

/** Per socket, the transitions an accepted-connection port must show: one listener, and each client and child seen. */
export function expectedAccepted(seqs: Record<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = { listener: ACCEPTED.listener };
  for (const s of Object.keys(seqs)) {
    if (s.startsWith('client:')) out[s] = ACCEPTED.client;
    if (s.startsWith('child:')) out[s] = ACCEPTED.child;
  }
  return out;
}

/** The tracing instances (instances/probefleet-*) still there for these agent streams (other agents may run beside). */
export const tracingInstancesOf = (instances: string[]): string[] => ourInstances().filter((n) => instances.some((i) => n.endsWith(i)));
