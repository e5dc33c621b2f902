// A small fleet for the API tests, ingested through the real ingest() path, and what it should
// contain written down independently of the store: every transition and every socket lifetime.
import { randomUUID } from 'node:crypto';
import type { Event, TcpArgs } from '@probefleet/events';
import { ingest } from './test-ingest';
import type { Db } from '../src/store/prisma';
import { record, testStream, type TestStream } from './streams';

export interface SeededTransition {
  /** Insertion order, which is id order: the tie-break among equal times. */
  ord: number;
  host: string; instance: string; seq: number; time: string;
  skaddr: string; family: string; saddr: string; daddr: string; sport: number; dport: number;
  oldState: string; newState: string;
}

export interface SeededConnection {
  host: string; skaddr: string; family: string; saddr: string; daddr: string; sport: number; dport: number;
  openedAt: string; closedAt: string | null; lastState: string; transitions: SeededTransition[];
}

export interface Seed {
  transitions: SeededTransition[];
  connections: SeededConnection[];
  streams: Record<'a1' | 'a2' | 'b1' | 'c1' | 'c2', TestStream>;
  /** Raw values of the dead letters, in the order they were received. */
  deadLetters: Buffer[];
}

const CLIENT_CLOSED = ['TCP_CLOSE', 'TCP_SYN_SENT', 'TCP_ESTABLISHED', 'TCP_FIN_WAIT1', 'TCP_FIN_WAIT2', 'TCP_CLOSE'];
const CLIENT_OPEN = ['TCP_CLOSE', 'TCP_SYN_SENT', 'TCP_ESTABLISHED'];
const SERVER_CLOSED = ['TCP_SYN_RECV', 'TCP_ESTABLISHED', 'TCP_CLOSE_WAIT', 'TCP_LAST_ACK', 'TCP_CLOSE'];

/** The stored form of an event time: microseconds, UTC. */
export const micros = (time: string): string => `${time.slice(0, 26)}Z`;

export async function seedFleet(db: Db): Promise<Seed> {
  const transitions: SeededTransition[] = [];
  const connections: SeededConnection[] = [];
  const agentStarted = (s: TestStream) => s.event('agent.started', { kernelRelease: '6.1.0', arch: 'x86_64', agentVersion: '0.1.0', mode: 'kprobe', capabilities: [] });
  const socket = (s: TestStream, ends: Omit<TcpArgs, 'oldstate' | 'newstate'>, states: string[]): Event[] => {
    const events = states.slice(1).map((newstate, i) => s.tcp({ ...ends, oldstate: states[i] as TcpArgs['oldstate'], newstate: newstate as TcpArgs['newstate'] }));
    const mine = events.map((e, i) => ({
      ord: transitions.length + i, host: s.host, instance: s.instance, seq: e.seq, time: micros(e.time), ...ends,
      oldState: states[i]!, newState: states[i + 1]!,
    }));
    transitions.push(...mine);
    const last = mine[mine.length - 1]!;
    connections.push({
      host: s.host, skaddr: ends.skaddr, family: ends.family, saddr: ends.saddr, daddr: ends.daddr, sport: ends.sport, dport: ends.dport,
      openedAt: mine[0]!.time, closedAt: last.newState === 'TCP_CLOSE' ? last.time : null, lastState: last.newState, transitions: mine,
    });
    return events;
  };

  // a1 and b1 run at the very same times (ties on time, told apart by id); a2 restarts api-a 90 s later.
  const bootA = randomUUID();
  const a1 = testStream('api-a', bootA);
  const b1 = testStream('api-b');
  const a2 = testStream('api-a', bootA, 90_000);
  const c1 = testStream('api-c');
  const c2 = testStream('api-c');
  let offset = 0;
  const batch = (events: Event[] | string) => record(events, 0, offset++);

  const a1Events = [
    agentStarted(a1),
    a1.event('probe.registered', { probe: 'tcp_set_state', kind: 'kprobe', symbol: 'tcp_set_state', offset: 0, address: '0xffffffff8206b250', insn: '0f1f44' }),
  ];
  for (let i = 0; i < 6; i++) {
    const ends = { skaddr: `0xffff8881000a000${i}`, family: 'AF_INET' as const, saddr: '10.0.0.1', daddr: `10.0.0.${2 + (i % 2)}`, sport: 40000 + i, dport: i % 2 ? 443 : 80 };
    a1Events.push(...socket(a1, ends, i < 4 ? CLIENT_CLOSED : CLIENT_OPEN));
  }
  a1Events.push(...socket(a1, { skaddr: '0xffff8881000a0100', family: 'AF_INET', saddr: '10.0.0.1', daddr: '10.0.0.9', sport: 8080, dport: 50000 }, SERVER_CLOSED));
  await ingest(db, [batch(a1Events)]);

  const b1Events = [
    agentStarted(b1),
    b1.event('probe.registered', { probe: 'inet_sock_set_state', kind: 'tracepoint', symbol: 'sock:inet_sock_set_state', offset: 0 }),
  ];
  for (let i = 0; i < 4; i++) {
    const ends = { skaddr: `0xffff8881000b000${i}`, family: 'AF_INET6' as const, saddr: '2001:db8::1', daddr: '2001:db8::2', sport: 50000 + i, dport: i % 2 ? 5432 : 80 };
    b1Events.push(...socket(b1, ends, i < 3 ? CLIENT_CLOSED : CLIENT_OPEN));
  }
  // IPv4-compatible and IPv4-mapped IPv6, which PostgreSQL spells apart from the agent (the first).
  b1Events.push(...socket(b1, { skaddr: '0xffff8881000b0100', family: 'AF_INET6', saddr: '::102:304', daddr: '::ffff:10.9.9.9', sport: 50100, dport: 443 }, CLIENT_CLOSED));
  await ingest(db, [batch(b1Events)]);

  const a2Events = [agentStarted(a2)];
  for (let i = 0; i < 3; i++) {
    a2Events.push(...socket(a2, { skaddr: `0xffff8881000c000${i}`, family: 'AF_INET', saddr: '10.0.0.1', daddr: '10.0.0.2', sport: 41000 + i, dport: 80 }, CLIENT_CLOSED));
  }
  await ingest(db, [batch(a2Events)]);

  // c1 keeps a gap at seqs 3..4; c2's gap at 2 is filled later, so it is closed.
  const beat = (s: TestStream) => s.event('agent.heartbeat', { counters: {} });
  const c1Events = Array.from({ length: 6 }, () => beat(c1));
  await ingest(db, [batch(c1Events.slice(0, 2)), batch(c1Events.slice(4))]);
  const c2Events = Array.from({ length: 3 }, () => beat(c2));
  await ingest(db, [batch([c2Events[0]!]), batch([c2Events[2]!])]);
  await ingest(db, [batch([c2Events[1]!])]);

  const deadLetters = [Buffer.from('{not json'), Buffer.from([0xff, 0xfe, 0x00, 0x41]), Buffer.from('[]'.repeat(200))];
  for (const raw of deadLetters) await ingest(db, [{ ...batch('x'), value: raw }]);

  return { transitions, connections, streams: { a1, a2, b1, c1, c2 }, deadLetters };
}
