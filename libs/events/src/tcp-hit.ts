// Which probe.hit events are TCP state changes with exactly the shape a typed store row gives back:
// decided once per hit, by hand (beside isValidHit), so a store can keep such a hit as typed columns
// and rebuild the very envelope from them. Anything else (extra args, an address in a spelling the
// agent does not write) is still a valid hit, only not a typed one.
import { canonicalAddress } from './inet';
import type { EventOf, HitContext } from './schemas';
import { TCP_STATES, type TcpArgs, type TcpStateName } from './tcp';

export type TcpHitEvent = EventOf<'probe.hit'> & { data: { args: TcpArgs } };

const TCP_ARG_KEYS = ['skaddr', 'family', 'saddr', 'daddr', 'sport', 'dport', 'oldstate', 'newstate'] as const;
const DATA_KEYS = new Set(['probe', 'cpu', 'pid', 'comm', 'ctx', 'args', 'life', 'owner', 'attribution']);
const SKADDR = /^0x(?:0|[1-9a-f][0-9a-f]{0,15})$/;

const isState = (s: unknown): s is TcpStateName => typeof s === 'string' && Object.prototype.hasOwnProperty.call(TCP_STATES, s);
const isPort = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65535;

// A fleet's hits name the same few addresses over and over: the ones found canonical are remembered
// (per family, bounded: the set starts again when full), so most hits skip parsing them.
const CANONICAL_MEMORY = 1 << 16;
const canonical = { AF_INET: new Set<string>(), AF_INET6: new Set<string>() };

function isCanonical(family: 'AF_INET' | 'AF_INET6', text: string): boolean {
  const known = canonical[family];
  if (known.has(text)) return true;
  if (canonicalAddress(family, text) !== text) return false;
  if (known.size >= CANONICAL_MEMORY) known.clear();
  known.add(text);
  return true;
}

/** True when a (valid) probe.hit carries exactly the TCP args, with addresses in the agent's spelling. */
export function isTcpHit(event: EventOf<'probe.hit'>): event is TcpHitEvent {
  const data = event.data as Record<string, unknown>;
  for (const k in data) if (!DATA_KEYS.has(k)) return false;
  const a = data.args as Record<string, unknown>;
  let n = 0;
  for (const _ in a) n++;
  if (n !== TCP_ARG_KEYS.length) return false;
  const { skaddr, family, saddr, daddr, sport, dport, oldstate, newstate } = a;
  if (typeof skaddr !== 'string' || !SKADDR.test(skaddr)) return false;
  if (family !== 'AF_INET' && family !== 'AF_INET6') return false;
  if (typeof saddr !== 'string' || !isCanonical(family, saddr)) return false;
  if (typeof daddr !== 'string' || !isCanonical(family, daddr)) return false;
  return isPort(sport) && isPort(dport) && isState(oldstate) && isState(newstate);
}

/** ftrace's context flags as the store's small integer: 5 flag bits, then the preempt depth. */
export function packContext(ctx: HitContext | undefined): number | null {
  if (ctx === undefined) return null;
  return (ctx.irqsOff ? 1 : 0) | (ctx.needResched ? 2 : 0) | (ctx.hardirq ? 4 : 0) | (ctx.softirq ? 8 : 0) | (ctx.nmi ? 16 : 0) | (ctx.preemptDepth << 5);
}

export function unpackContext(bits: number | null): HitContext | undefined {
  if (bits === null) return undefined;
  return {
    irqsOff: (bits & 1) !== 0, needResched: (bits & 2) !== 0, hardirq: (bits & 4) !== 0, softirq: (bits & 8) !== 0, nmi: (bits & 16) !== 0,
    preemptDepth: bits >> 5,
  };
}

/** A kernel pointer's hex text as the signed 64-bit integer a bigint column holds, and back. */
export function skaddrToInt64(hex: string): bigint {
  return BigInt.asIntN(64, BigInt(hex));
}

export function skaddrFromInt64(v: bigint): string {
  return `0x${BigInt.asUintN(64, v).toString(16)}`;
}
