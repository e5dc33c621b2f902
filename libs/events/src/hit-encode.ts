// probe.hit data encoded straight from decoded fields to the JSON text JSON.stringify would give
// for { probe, cpu, pid, comm, ctx, args, life, owner, attribution } (schema order), without building the object. What
// repeats (probe names, comms, contexts, enum strings) is encoded once and cached.
import { ownerJson } from './owner';
import type { Attribution, HitArgValue, HitContext, Life, Owner } from './schemas';
import type { TcpArgs } from './tcp';

// JSON.stringify escapes only these: `"`, `\`, control characters and lone surrogates.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A string as JSON text, the same as JSON.stringify(s). */
export function jsonString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

const UNKNOWN_PART = ',"attribution":"unknown"';

/** Bounded so pid churn with ever new names cannot grow it without end. */
const MAX_CACHED = 4096;

export class HitEncoder {
  private readonly strings = new Map<string, string>();
  private readonly contexts = new WeakMap<HitContext, string>();
  private readonly owners = new WeakMap<Owner, { direct: string; socket: string }>();

  /** Cached JSON text of a repeating string (probe names, comms, families, states). */
  private cached(s: string): string {
    let j = this.strings.get(s);
    if (j === undefined) {
      if (this.strings.size >= MAX_CACHED) this.strings.clear();
      this.strings.set(s, (j = jsonString(s)));
    }
    return j;
  }

  /** `ctx` objects are shared per flags value by their producer, so their text is cached by identity. */
  private context(ctx: HitContext): string {
    let j = this.contexts.get(ctx);
    if (j === undefined) {
      j = `{"irqsOff":${ctx.irqsOff},"needResched":${ctx.needResched},"hardirq":${ctx.hardirq},"softirq":${ctx.softirq},"nmi":${ctx.nmi},"preemptDepth":${ctx.preemptDepth}}`;
      this.contexts.set(ctx, j);
    }
    return j;
  }

  /**
   * The data's JSON; `argsJson` from tcpArgs() or userArgs(); `tail` is what follows the args, in
   * schema order: life() (a TCP_CLOSE hit in kprobe mode), then owned() (TCP hits); '' for neither.
   */
  data(probe: string, cpu: number, pid: number, comm: string, ctx: HitContext | undefined, argsJson: string, tail = ''): string {
    const c = ctx === undefined ? '' : `,"ctx":${this.context(ctx)}`;
    return `{"probe":${this.cached(probe)},"cpu":${cpu},"pid":${pid},"comm":${this.cached(comm)}${c},"args":${argsJson}${tail}}`;
  }

  /** `,"life":{…}` for data() (LifeSchema's key order); '' without one. */
  life(l: Life | undefined): string {
    return l === undefined ? '' : `,"life":{"txBytes":${l.txBytes},"rxBytes":${l.rxBytes},"retrans":${l.retrans},"srttUs":${l.srttUs}}`;
  }

  /** `,"owner":…,"attribution":…` for data(): owners are shared objects, so their text is cached by identity. */
  owned(owner: Owner | undefined, attribution: Attribution): string {
    if (owner === undefined || attribution === 'unknown') return UNKNOWN_PART;
    let j = this.owners.get(owner);
    if (j === undefined) {
      const o = `,"owner":${ownerJson(owner)},"attribution":`;
      this.owners.set(owner, (j = { direct: `${o}"direct"`, socket: `${o}"socket"` }));
    }
    return j[attribution];
  }

  tcpArgs(a: TcpArgs): string {
    return (
      `{"skaddr":${jsonString(a.skaddr)},"family":${this.cached(a.family)},"saddr":${jsonString(a.saddr)},"daddr":${jsonString(a.daddr)},` +
      `"sport":${a.sport},"dport":${a.dport},"oldstate":${this.cached(a.oldstate)},"newstate":${this.cached(a.newstate)}}`
    );
  }

  /** User probe args: rare enough that JSON.stringify is fine. */
  userArgs(args: Record<string, HitArgValue>): string {
    return JSON.stringify(args);
  }
}
