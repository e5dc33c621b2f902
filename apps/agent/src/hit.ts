// A raw ring-buffer record → probe.hit data. TCP hits from either source get the same args
// (TcpArgs); user probe args are typed as the kernel's text output printed them.
import type { EventData, HitArgValue, HitContext } from '@probefleet/events';
import type { RawRecord, RawValue, TraceFlags } from '@probefleet/tracefs';

// RawRecord.flags are shared frozen objects (one per flags/preempt_count pair): so are contexts.
const contexts = new WeakMap<Readonly<TraceFlags>, HitContext>();

export function hitContext(f: Readonly<TraceFlags>): HitContext {
  let ctx = contexts.get(f);
  if (ctx === undefined) {
    ctx = Object.freeze({
      irqsOff: f.irqsOff,
      needResched: f.needResched,
      // `H` is a hardirq inside a softirq, `Z` an NMI inside a hardirq: both contexts are set.
      hardirq: f.context === 'hardirq' || (f.context === 'nmi' && f.nested),
      softirq: f.context === 'softirq' || (f.context === 'hardirq' && f.nested),
      nmi: f.context === 'nmi',
      preemptDepth: f.preemptDepth,
    });
    contexts.set(f, ctx);
  }
  return ctx;
}

export function hitData(probe: string, r: RawRecord, comm: string, args: Record<string, HitArgValue>): EventData<'probe.hit'> {
  return { probe, cpu: r.cpu, pid: r.pid, comm, ctx: hitContext(r.flags), args };
}

type Scalar = number | bigint;
export type ArgConverter = (v: RawValue) => HitArgValue;

/** Integers as numbers; 64-bit values beyond 2^53 as decimal strings (as printed). */
function integer(v: Scalar): number | string {
  if (typeof v === 'number') return v;
  return v >= -BigInt(Number.MAX_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

const hex = (v: Scalar): string => `0x${v.toString(16)}`;

/** One element as the kernel prints it for a scalar fetch type. */
function scalarText(type: string): (v: Scalar) => string {
  if (/^x(8|16|32|64)$/.test(type) || type === 'symbol') return hex;
  if (type === 'char') return (v) => `'${String.fromCharCode(Number(v))}'`;
  return (v) => String(v);
}

/**
 * How a user kprobe argument of fetch `type` is reported: u/s → number (64-bit beyond 2^53: decimal
 * string); x → `0x…`; strings as text; `TYPE[N]` → `{e,e,…}` and bitfields → decimal string, as the
 * text output printed them. `symbol` is the hex address: raw records do not carry the `sym+off/size`
 * text the kernel printed (the only deviation from the text output).
 */
export function argConverter(type: string): ArgConverter {
  const arr = /^([a-z0-9]+)\[[0-9]+\]$/.exec(type);
  if (arr?.[1] !== undefined) {
    const one = scalarText(arr[1]);
    // char[N] decodes as a string already.
    return (v) => (typeof v === 'string' ? v : `{${Array.from(v as ArrayLike<Scalar>, one).join(',')}}`);
  }
  if (/^[us](8|16|32|64)$/.test(type)) return (v) => integer(v as Scalar);
  if (/^b[0-9]+@/.test(type)) return (v) => String(v);
  if (/^x(8|16|32|64)$/.test(type) || type === 'symbol' || type === 'char') {
    const text = scalarText(type);
    return (v) => text(v as Scalar);
  }
  // string, ustring, symstr
  return (v) => String(v);
}
