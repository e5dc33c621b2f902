// The life of a socket from its TCP state changes, like BCC's tcplife: a lifetime starts with the
// first transition seen for a socket address and ends when it enters TCP_CLOSE; every state it
// visited is kept with the time spent in it. The kernel reuses socket memory, so after a close
// the same skaddr starts a new lifetime. Pure: the store loads the open lifetime and saves the result.
import type { TcpArgs, TcpStateName } from '@probefleet/events';
import { msBetween } from './time';

export interface StateVisit {
  state: TcpStateName;
  /** Envelope time the socket entered the state; null for the state it was in when first seen. */
  enteredAt: string | null;
  /** Time spent in the state; null while the socket is still in it, or when its entry is unknown. */
  ms: number | null;
}

export interface Connection {
  skaddr: string;
  family: TcpArgs['family'];
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  openedAt: string;
  closedAt: string | null;
  states: StateVisit[];
}

export interface TransitionOutcome {
  /** Time spent in the old state, when this socket's previous transition is known. */
  msInOldState: number | null;
  connection: Connection;
  /** The transition started a new lifetime (a new row) rather than continuing `open`. */
  opened: boolean;
}

/** Folds one transition (at envelope time `time`) into the socket's open lifetime, if any. */
export function applyTransition(open: Connection | undefined, args: TcpArgs, time: string): TransitionOutcome {
  const opened = open === undefined || open.closedAt !== null;
  const states: StateVisit[] = opened ? [{ state: args.oldstate, enteredAt: null, ms: null }] : open.states.map((s) => ({ ...s }));
  const current = states[states.length - 1]!;
  const msInOldState = current.enteredAt !== null && current.state === args.oldstate ? msBetween(current.enteredAt, time) : null;
  current.ms = msInOldState;
  states.push({ state: args.newstate, enteredAt: time, ms: null });
  const base = opened ? undefined : open;
  return {
    msInOldState,
    opened,
    connection: {
      skaddr: args.skaddr,
      family: args.family,
      // Endpoints can be unset early in a socket's life (an unbound 0.0.0.0): keep the latest known.
      saddr: known(args.saddr) ? args.saddr : base?.saddr ?? args.saddr,
      daddr: known(args.daddr) ? args.daddr : base?.daddr ?? args.daddr,
      sport: args.sport !== 0 ? args.sport : base?.sport ?? 0,
      dport: args.dport !== 0 ? args.dport : base?.dport ?? 0,
      openedAt: base?.openedAt ?? time,
      closedAt: args.newstate === 'TCP_CLOSE' ? time : null,
      states,
    },
  };
}

/** Lifetime in ms of a closed connection. */
export function durationMs(c: Connection): number | null {
  return c.closedAt === null ? null : msBetween(c.openedAt, c.closedAt);
}

function known(addr: string): boolean {
  return addr !== '0.0.0.0' && addr !== '::';
}
