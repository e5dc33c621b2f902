// TCP state changes as the kernel makes them, per socket, and a checker for per-socket paths.
//
// The tcp_set_state kprobe sees tcp_set_state() calls only; the sock:inet_sock_set_state tracepoint
// also fires from inet_sk_set_state()/inet_sk_state_store() outside it: listen() (CLOSE→LISTEN,
// inet_csk_listen_start) and the clone of an accepted child (LISTEN→SYN_RECV, inet_csk_clone_lock,
// which still carries the listener's endpoints: bound address, dport 0). So in kprobe mode an
// accepted socket is first seen at SYN_RECV→ESTABLISHED and a listener only when it closes.
import type { Event, TcpArgs, TcpStateName } from '@probefleet/events';
import type { AgentMode } from './hosts';

export type Transition = `${TcpStateName}>${TcpStateName}`;

const t = (from: TcpStateName, to: TcpStateName): Transition => `${from}>${to}`;

/** Every transition the simulator makes and the checker accepts (a subset of what Linux does). */
const COMMON: readonly Transition[] = [
  t('TCP_CLOSE', 'TCP_SYN_SENT'),
  t('TCP_SYN_SENT', 'TCP_ESTABLISHED'),
  t('TCP_SYN_SENT', 'TCP_CLOSE'),
  t('TCP_SYN_RECV', 'TCP_ESTABLISHED'),
  t('TCP_ESTABLISHED', 'TCP_FIN_WAIT1'),
  t('TCP_ESTABLISHED', 'TCP_CLOSE_WAIT'),
  t('TCP_ESTABLISHED', 'TCP_CLOSE'),
  t('TCP_FIN_WAIT1', 'TCP_FIN_WAIT2'),
  t('TCP_FIN_WAIT1', 'TCP_CLOSING'),
  t('TCP_FIN_WAIT2', 'TCP_CLOSE'),
  t('TCP_CLOSING', 'TCP_CLOSE'),
  t('TCP_CLOSE_WAIT', 'TCP_LAST_ACK'),
  t('TCP_LAST_ACK', 'TCP_CLOSE'),
  t('TCP_LISTEN', 'TCP_CLOSE'),
];
const TRACEPOINT_ONLY: readonly Transition[] = [t('TCP_CLOSE', 'TCP_LISTEN'), t('TCP_LISTEN', 'TCP_SYN_RECV')];

export const TRANSITIONS: Readonly<Record<AgentMode, ReadonlySet<Transition>>> = {
  kprobe: new Set(COMMON),
  tracepoint: new Set([...COMMON, ...TRACEPOINT_ONLY]),
};

/**
 * How a new socket is first seen in each mode. A listener opened while the agent runs is invisible
 * to the kprobe until it closes, so there LISTEN→CLOSE can also start a reused address's life.
 */
export const BIRTHS: Readonly<Record<AgentMode, ReadonlySet<Transition>>> = {
  kprobe: new Set([t('TCP_CLOSE', 'TCP_SYN_SENT'), t('TCP_SYN_RECV', 'TCP_ESTABLISHED'), t('TCP_LISTEN', 'TCP_CLOSE')]),
  tracepoint: new Set([t('TCP_CLOSE', 'TCP_SYN_SENT'), t('TCP_CLOSE', 'TCP_LISTEN'), t('TCP_LISTEN', 'TCP_SYN_RECV')]),
};

export type Context = 'process' | 'softirq';

/** How the socket's endpoints read at a step. */
export type View =
  /** local address and port, remote address and port. */
  | 'connected'
  /** tcp_v4_connect sets SYN_SENT before inet_hash_connect picks the source port: sport 0. */
  | 'connecting'
  /** A listener, or a child cloned from it: bound address, no remote. */
  | 'listener';

export interface Step {
  from: TcpStateName;
  to: TcpStateName;
  ctx: Context;
  view: View;
}

const step = (from: TcpStateName, to: TcpStateName, ctx: Context, view: View = 'connected'): Step => ({ from, to, ctx, view });

/** Handshakes and teardowns; who runs each step: the socket's process, or the softirq receiving the segment. */
const CONNECT = [step('TCP_CLOSE', 'TCP_SYN_SENT', 'process', 'connecting'), step('TCP_SYN_SENT', 'TCP_ESTABLISHED', 'softirq')];
const ACCEPT = [step('TCP_LISTEN', 'TCP_SYN_RECV', 'softirq', 'listener'), step('TCP_SYN_RECV', 'TCP_ESTABLISHED', 'softirq')];
/** We close first: FIN, its ACK, the peer's FIN (tcp_time_wait → tcp_done: the socket itself goes to CLOSE). */
const ACTIVE_CLOSE = [step('TCP_ESTABLISHED', 'TCP_FIN_WAIT1', 'process'), step('TCP_FIN_WAIT1', 'TCP_FIN_WAIT2', 'softirq'), step('TCP_FIN_WAIT2', 'TCP_CLOSE', 'softirq')];
/** Both sides close at once. */
const SIMULTANEOUS_CLOSE = [step('TCP_ESTABLISHED', 'TCP_FIN_WAIT1', 'process'), step('TCP_FIN_WAIT1', 'TCP_CLOSING', 'softirq'), step('TCP_CLOSING', 'TCP_CLOSE', 'softirq')];
/** The peer closes first: its FIN, our close(), the ACK of our FIN. */
const PASSIVE_CLOSE = [step('TCP_ESTABLISHED', 'TCP_CLOSE_WAIT', 'softirq'), step('TCP_CLOSE_WAIT', 'TCP_LAST_ACK', 'process'), step('TCP_LAST_ACK', 'TCP_CLOSE', 'softirq')];
/** An RST from the peer. */
const RESET = [step('TCP_ESTABLISHED', 'TCP_CLOSE', 'softirq')];

export type ConnectionKind =
  | 'client-active-close'
  | 'client-passive-close'
  | 'client-simultaneous-close'
  | 'client-reset'
  | 'client-refused'
  | 'server-active-close'
  | 'server-passive-close'
  | 'server-reset'
  | 'listener-close'
  | 'listener-open';

const SCRIPTS: Readonly<Record<ConnectionKind, readonly Step[]>> = {
  'client-active-close': [...CONNECT, ...ACTIVE_CLOSE],
  'client-passive-close': [...CONNECT, ...PASSIVE_CLOSE],
  'client-simultaneous-close': [...CONNECT, ...SIMULTANEOUS_CLOSE],
  'client-reset': [...CONNECT, ...RESET],
  // The RST answering our SYN.
  'client-refused': [step('TCP_CLOSE', 'TCP_SYN_SENT', 'process', 'connecting'), step('TCP_SYN_SENT', 'TCP_CLOSE', 'softirq')],
  'server-active-close': [...ACCEPT, ...ACTIVE_CLOSE],
  'server-passive-close': [...ACCEPT, ...PASSIVE_CLOSE],
  'server-reset': [...ACCEPT, ...RESET],
  'listener-close': [step('TCP_LISTEN', 'TCP_CLOSE', 'process', 'listener')],
  'listener-open': [step('TCP_CLOSE', 'TCP_LISTEN', 'process', 'listener')],
};

/** The steps of a connection of `kind` that the agent sees in `mode` (only tcp_set_state calls in kprobe mode). */
export function visibleSteps(kind: ConnectionKind, mode: AgentMode): readonly Step[] {
  return VISIBLE[mode][kind];
}

const VISIBLE: Readonly<Record<AgentMode, Readonly<Record<ConnectionKind, readonly Step[]>>>> = {
  tracepoint: SCRIPTS,
  kprobe: Object.fromEntries(
    Object.entries(SCRIPTS).map(([kind, steps]) => [kind, steps.filter((s) => TRANSITIONS.kprobe.has(t(s.from, s.to)))]),
  ) as Partial<Record<ConnectionKind, readonly Step[]>> as Record<ConnectionKind, readonly Step[]>,
};

interface SocketTrack {
  state: TcpStateName;
  /** The 4-tuple once connected: it does not change until CLOSE. */
  tuple: string | undefined;
}

/**
 * Checks every socket's path in `events` (in stream order; several hosts, streams and boots may be
 * interleaved as long as each host's events keep their order): each transition is one the kernel
 * makes in the stream's mode, follows from the socket's previous state, an address reused after
 * CLOSE starts a new socket the way new sockets start, and a connected socket keeps its endpoints.
 * Returns the problems found (empty when every path is valid).
 */
export function checkTcpPaths(events: Iterable<Event>): string[] {
  const problems: string[] = [];
  const modes = new Map<string, AgentMode>();
  const sockets = new Map<string, SocketTrack>();
  for (const e of events) {
    if (e.type === 'agent.started') modes.set(`${e.host}/${e.instance}`, e.data.mode);
    if (e.type !== 'probe.hit') continue;
    const where = `${e.host} seq ${e.seq}`;
    const mode = modes.get(`${e.host}/${e.instance}`);
    if (mode === undefined) {
      problems.push(`${where}: hit before agent.started`);
      continue;
    }
    const a = e.data.args as TcpArgs;
    const tr = t(a.oldstate, a.newstate);
    const key = `${e.host}/${e.bootId}/${a.skaddr}`;
    const prev = sockets.get(key);
    if (!TRANSITIONS[mode].has(tr)) problems.push(`${where}: ${a.skaddr} ${tr} is not a ${mode} transition`);
    else if (prev !== undefined && prev.state !== 'TCP_CLOSE' && prev.state !== a.oldstate) {
      problems.push(`${where}: ${a.skaddr} ${tr} but the socket is in ${prev.state}`);
    } else if (prev?.state === 'TCP_CLOSE' && !BIRTHS[mode].has(tr)) {
      problems.push(`${where}: ${a.skaddr} reused after CLOSE starts with ${tr}`);
    }
    const reborn = prev === undefined || prev.state === 'TCP_CLOSE';
    const connected = a.sport !== 0 && a.dport !== 0;
    const tuple = connected ? `${a.family} ${a.saddr}:${a.sport} ${a.daddr}:${a.dport}` : undefined;
    const known = reborn ? undefined : prev.tuple;
    if (known !== undefined && tuple !== undefined && known !== tuple) problems.push(`${where}: ${a.skaddr} endpoints changed from ${known} to ${tuple}`);
    sockets.set(key, { state: a.newstate, tuple: known ?? tuple });
  }
  return problems;
}
