// The edge check of an encoded event: what the agent would send must be what the aggregator
// accepts. Hits (nearly all of the traffic) pass the hand-written line scanner; whatever it does not
// take, and every other event, goes through the full decoder, which also says why.
import { decodeEvent, type DecodeFailure } from './codec';
import type { EncodedEvent } from './envelope';
import { scanHit } from './hit-scan';

/** undefined when `e.line` is a valid event, else why not. */
export function checkEncoded(e: EncodedEvent): DecodeFailure | undefined {
  if (e.type === 'probe.hit' && scanHit(e.line) !== undefined) return undefined;
  const d = decodeEvent(e.line);
  return d.ok ? undefined : d;
}
