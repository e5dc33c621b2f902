import { CONTROL_STREAM, decodeEvent, type Event, type ScannedHit } from '@probefleet/events';
import {
  addMissed,
  applyState,
  armDefect,
  armProbe,
  disarmDefect,
  disarmProbe,
  hitDefect,
  missedDefect,
  recordHit,
  registerDefect,
  registerProbe,
  siteViolation,
  stateDefect,
  unregisterDefect,
  unregisterProbe,
} from './kernel';
import { DUPLICATE_WINDOW, emptyHost, type HostState, type ModelState, type ProbeState, type Recent, type StreamState } from './state';

/** `duplicate`: the event repeated an already-applied one exactly and was skipped. */
export type Evolution = { ok: true; state: ModelState; duplicate: boolean } | { ok: false; reason: string };

/**
 * Applies one event and checks every invariant it touches; returns the first violation's reason.
 * An event the model refuses (a hit on a disarmed probe, a seq gap, ...) leaves the state as it was.
 * Mutates `state` in place (see ModelState).
 */
export function evolve(state: ModelState, event: Event): Evolution {
  return advance(state, event);
}

/** `evolve` for a probe.hit read by `scanHit` from its line, without decoding the line. */
export function evolveHit(state: ModelState, hit: ScannedHit): Evolution {
  return advance(state, hit);
}

function advance(state: ModelState, event: Event | ScannedHit): Evolution {
  const streams = state.streams.get(event.host);
  const stream = streams?.get(event.instance);
  if (stream !== undefined && event.seq !== stream.lastSeq + 1) return repeatedOrGap(state, stream, event);
  const streamDefect = stream === undefined ? firstEventDefect(event) : bootDefect(stream, event);
  if (streamDefect !== undefined) return { ok: false, reason: streamDefect };

  // The policies' control stream is no host: only its seqs are checked.
  if (event.instance === CONTROL_STREAM.instance) return advanced(state, stream, event);
  const current = state.hosts.get(event.host);
  const host = current?.bootId === event.bootId ? current : hostAfterBoot(current, event);
  if (typeof host === 'string') return { ok: false, reason: host };
  const reason = 'line' in event ? applyHit(host, event.probe) : applyToHost(host, event);
  if (reason !== undefined) return { ok: false, reason };

  if (host !== current) state.hosts.set(event.host, host);
  return advanced(state, stream, event);
}

function advanced(state: ModelState, stream: StreamState | undefined, event: Event | ScannedHit): Evolution {
  if (stream === undefined) openStream(state, event);
  else {
    stream.lastSeq = event.seq;
    stream.recent[event.seq % DUPLICATE_WINDOW] = recent(event);
  }
  return { ok: true, state, duplicate: false };
}

function firstEventDefect(event: Event | ScannedHit): string | undefined {
  return event.seq === 1 ? undefined : `stream ${event.host}/${event.instance} starts at seq ${event.seq}, expected 1`;
}

function bootDefect(stream: StreamState, event: Event | ScannedHit): string | undefined {
  return stream.bootId === event.bootId
    ? undefined
    : `bootId changed within stream ${event.host}/${event.instance}: ${stream.bootId} → ${event.bootId}`;
}

/** What the duplicate window keeps of an event: the event, or a scanned hit's line. */
function recent(event: Event | ScannedHit): Recent {
  return 'line' in event ? event.line : event;
}

function openStream(state: ModelState, event: Event | ScannedHit): void {
  let streams = state.streams.get(event.host);
  if (streams === undefined) state.streams.set(event.host, (streams = new Map()));
  const ring = new Array<Recent | undefined>(DUPLICATE_WINDOW);
  ring[event.seq % DUPLICATE_WINDOW] = recent(event);
  streams.set(event.instance, { bootId: event.bootId, lastSeq: event.seq, recent: ring });
}

/** A seq other than the next one: an exact repeat of an applied event is skipped, anything else is a violation. */
function repeatedOrGap(state: ModelState, stream: StreamState, event: Event | ScannedHit): Evolution {
  const where = `stream ${event.host}/${event.instance}`;
  if (event.seq > stream.lastSeq) {
    return { ok: false, reason: `seq gap in ${where}: expected ${stream.lastSeq + 1}, got ${event.seq}` };
  }
  if (stream.lastSeq - event.seq >= DUPLICATE_WINDOW) {
    return { ok: false, reason: `seq ${event.seq} repeats in ${where}, too far back (> ${DUPLICATE_WINDOW}) to check it is a duplicate` };
  }
  if (!sameEvent(stream.recent[event.seq % DUPLICATE_WINDOW], recent(event))) {
    return { ok: false, reason: `seq ${event.seq} repeats in ${where} with different content` };
  }
  return { ok: true, state, duplicate: true };
}

/**
 * Whether two events are equal as JSON values. Two scanned hits with byte-identical lines are; any
 * other pair is compared decoded, so a repeat spelled differently (key order, escapes, whitespace)
 * is still recognised.
 */
function sameEvent(applied: Recent | undefined, event: Recent): boolean {
  if (typeof applied === 'string' && applied === event) return true;
  return sameJson(decoded(applied), decoded(event));
}

function decoded(event: Recent | undefined): Event | undefined {
  if (typeof event !== 'string') return event;
  const result = decodeEvent(event);
  // scanHit only accepts lines that decodeEvent accepts.
  if (!result.ok) throw new Error(`scanned hit does not decode: ${result.field}: ${result.reason}`);
  return result.value;
}

function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameJson((a as never)[k], (b as never)[k]));
}

/** A new bootId means the kernel rebooted: the host starts with an empty kprobe_table. */
export function hostAfterBoot(current: HostState | undefined, event: { host: string; bootId: string }): HostState | string {
  if (current === undefined) return emptyHost(event.host, event.bootId);
  if (current.earlierBoots.has(event.bootId)) {
    return `event of boot ${event.bootId} after host ${event.host} rebooted into ${current.bootId}`;
  }
  return emptyHost(event.host, event.bootId, new Set([...current.earlierBoots, current.bootId]));
}

/**
 * Applies one event to one host's kernel state, checking the invariants it touches, without the
 * per-stream seq checks of `evolve`: for consumers (the aggregator) that meet gaps and late events
 * by design and track streams themselves. Returns the violation, leaving the host as it was.
 */
export function applyToHost(host: HostState, event: Event): string | undefined {
  switch (event.type) {
    case 'probe.hit':
      return applyHit(host, event.data.probe);
    case 'probe.registered': {
      const defect = registerDefect(host, event.data);
      if (defect !== undefined) return defect;
      const { site } = registerProbe(host, event.data);
      return site && siteViolation(host, site);
    }
    case 'probe.armed': {
      const report = event.data;
      return withProbe(host, report.probe, () => armDefect(host, report), (probe) => armProbe(host, probe, report));
    }
    case 'probe.state': {
      const report = event.data;
      return withProbe(host, report.probe, () => stateDefect(host, report), (probe) => applyState(host, probe, report));
    }
    case 'probe.disarmed':
      return withProbe(host, event.data.probe, disarmDefect, (probe) => disarmProbe(host, probe));
    case 'probe.unregistered':
      return withProbe(host, event.data.probe, unregisterDefect, (probe) => unregisterProbe(host, probe));
    case 'probe.missed': {
      const { count } = event.data;
      return withProbe(host, event.data.probe, missedDefect, (probe) => addMissed(probe, count));
    }
    case 'policy.applied':
      return appliedDefect(host, event.data.policy, event.data.definitions);
    case 'agent.started':
    case 'agent.heartbeat':
    case 'agent.stopped':
    case 'agent.loss':
    case 'policy.put':
    case 'policy.deleted':
    case 'policy.rejected':
    case 'policy.removed':
      return undefined;
  }
}

/**
 * A policy's probes are registered like configured ones (probe.registered ... in the same stream):
 * an agent reports a policy applied only once each probe it wrote is registered.
 */
function appliedDefect(host: HostState, policy: string, definitions: readonly string[]): string | undefined {
  for (const line of definitions) {
    const m = /^[pr][0-9]*:([^/\s]+)\/(\S+)/.exec(line);
    if (!m) return `policy ${policy} applied on ${host.host} with a definition that is no kprobe line: ${JSON.stringify(line)}`;
    // Probes are named by their event (the agent's) or group/event.
    const name = m[2] as string;
    if (!host.probes.has(name) && !host.probes.has(`${m[1]}/${name}`)) return `policy ${policy} applied on ${host.host}, but its probe ${name} is not registered`;
  }
  return undefined;
}

function applyHit(host: HostState, probe: string): string | undefined {
  const defect = hitDefect(host, probe);
  if (defect === undefined) recordHit(host.probes.get(probe) as ProbeState);
  return defect;
}

/** Checks, applies, then re-checks the invariants of the site the operation touched. */
function withProbe(
  host: HostState,
  name: string,
  defectOf: (host: HostState, name: string) => string | undefined,
  apply: (probe: ProbeState) => void,
): string | undefined {
  const defect = defectOf(host, name);
  if (defect !== undefined) return defect;
  const probe = host.probes.get(name) as ProbeState;
  apply(probe);
  return probe.site?.members.length ? siteViolation(host, probe.site) : undefined;
}
