// One stream = (host, instance): every event gets the next seq (from 1, no gaps) at the moment it
// is handed to the sink, so the sink's order is the seq order.
import { EVENT_VERSION, type Event, type EventData, type EventType } from '@probefleet/events';
import { rfc3339Nanos, WallClock } from './clock';

export interface StreamIdentity {
  host: string;
  bootId: string;
  instance: string;
}

export class EventStream {
  private seq = 0;

  constructor(
    readonly id: StreamIdentity,
    private readonly clock: WallClock,
  ) {}

  get lastSeq(): number {
    return this.seq;
  }

  /** Builds the next event; `monoNs` defaults to now (CLOCK_MONOTONIC). */
  next<T extends EventType>(type: T, data: EventData<T>, monoNs: bigint = WallClock.monoNow()): Event {
    this.seq += 1;
    return {
      v: EVENT_VERSION,
      type,
      host: this.id.host,
      bootId: this.id.bootId,
      instance: this.id.instance,
      seq: this.seq,
      time: rfc3339Nanos(this.clock.wallNs(monoNs)),
      monoNs: monoNs.toString(),
      data,
    } as Event;
  }
}
