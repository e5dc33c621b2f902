// From ring-buffer records to probe.hit events: each record was decoded by its probe's own decoder
// while its page was read (RawRecord.decoded = the hit's args), so a hit costs one envelope and
// one args encoding; a batch (one poll round, all CPUs) is handed to the sink before the next.
import type { EventData, EventType, TcpArgs } from '@probefleet/events';
import type { SocketOwners } from '@probefleet/ownership';
import { HitEncoder } from '@probefleet/events';
import { RawTraceReader, type DecoderFactory, type RawItem, type TcpStateChange } from '@probefleet/tracefs';
import type { CommResolver } from './comm';
import { hitContext } from './hit';
import type { AcceptArgs, Probe } from './probes';
import type { Sink } from './sink';

export type Emit = <T extends EventType>(type: T, data: EventData<T>, monoNs?: bigint) => void;
/** A probe.hit whose data is already encoded (HitEncoder). */
export type EmitHit = (dataJson: string, monoNs: bigint) => void;
export type HitHandler = (items: RawItem[]) => Promise<void>;

/** Opens a reader of `probes`' events in an instance, each decoded by its probe's decoder. */
export function openReader(instanceDir: string, probes: readonly Probe[]): Promise<RawTraceReader> {
  const decoders = new Map<string, DecoderFactory>(probes.map((p) => [p.event, p.decoder]));
  return RawTraceReader.open(instanceDir, probes.map((p) => `${p.group}:${p.event}`), decoders);
}

/**
 * Turns decoded records into probe.hit events of the probes in `byEvent` (by event name; policies
 * add and remove theirs while the run reads) (monoNs: the record's trace_clock mono ns); TCP hits
 * with their socket's owner when `owners` is given, and a TCP_CLOSE with tcplife's counters when the
 * kprobe read them; accept hits name their socket's owner (the accepting task).
 */
export function hitHandler(byEvent: ReadonlyMap<string, Probe>, comms: CommResolver, emit: EmitHit, owners?: SocketOwners): HitHandler {
  const enc = new HitEncoder();
  return async (items) => {
    await comms.prepare(items);
    for (const r of items) {
      // A page with lost events: the same losses the per-cpu overrun counter has (StatsPoller).
      if (r.kind === 'lost') continue;
      const probe = byEvent.get(r.event);
      if (probe === undefined || r.decoded === undefined) continue;
      const ctx = hitContext(r.flags);
      let tail = '';
      if (probe.accept && owners !== undefined) {
        const a = owners.accepted((r.decoded as AcceptArgs).skaddr, ctx, r.pid);
        tail = enc.owned(a.owner, a.attribution);
      } else if (probe.tcp) {
        const args = r.decoded as TcpStateChange;
        tail = enc.life(args.life);
        if (owners !== undefined) {
          const a = owners.attribute(args as TcpArgs, ctx, r.pid);
          tail += enc.owned(a.owner, a.attribution);
        }
      }
      emit(enc.data(probe.name, r.cpu, r.pid, comms.comm(r.pid), ctx, probe.argsJson(r.decoded, enc), tail), r.timestampNs);
    }
  };
}

/**
 * Reads batches until `stop` aborts or the reader fails. Backpressure: while the sink (a full
 * spool) waits, the ring buffer is not read.
 */
export async function readLoop(reader: RawTraceReader, handle: HitHandler, sink: Sink, stop: AbortSignal): Promise<void> {
  for await (const batch of reader.batches({ signal: stop })) {
    await handle(batch);
    await sink.ready(stop);
  }
}
