// The envelope builder: one stream = (host, instance); every event gets the next seq (from 1, no
// gaps) and is encoded once, here, to its wire line — the bytes `encodeEvent` (JSON.stringify)
// gives for { v, type, host, bootId, instance, seq, time, monoNs, data }. The sinks and the spool
// carry that line; nothing downstream parses or re-encodes it.
import { EVENT_VERSION, type EventData, type EventType } from './schemas';
import { rfc3339Nanos } from './time';

export interface StreamIdentity {
  readonly host: string;
  readonly bootId: string;
  readonly instance: string;
}

/** An event as it goes on the wire. `dataAt`: where `,"data":` starts in `line`. */
export interface EncodedEvent {
  readonly stream: StreamIdentity;
  readonly seq: number;
  readonly type: EventType;
  readonly line: string;
  readonly dataAt: number;
}

const json = JSON.stringify;
const HEAD = `{"v":${EVENT_VERSION},"type":`;

export class EnvelopeEncoder {
  private seq = 0;
  /** `,"host":…,"bootId":…,"instance":…,"seq":` — the same for every event of the stream. */
  private readonly identity: string;
  private readonly types = new Map<string, string>();

  constructor(
    readonly stream: StreamIdentity,
    /** wall clock ns = monoNs + this (measured once by the producer). */
    private readonly wallOffsetNs: bigint,
  ) {
    this.identity = `,"host":${json(stream.host)},"bootId":${json(stream.bootId)},"instance":${json(stream.instance)},"seq":`;
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** Any event, its data encoded by JSON.stringify. */
  next<T extends EventType>(type: T, data: EventData<T>, monoNs: bigint): EncodedEvent {
    return this.encoded(type, json(data), monoNs);
  }

  /**
   * The next event with `dataJson` as its data: the caller vouches it is the JSON.stringify of the
   * data (the edge check, `checkEncoded`, catches it when it is not).
   */
  encoded(type: EventType, dataJson: string, monoNs: bigint): EncodedEvent {
    this.seq += 1;
    let t = this.types.get(type);
    if (t === undefined) this.types.set(type, (t = json(type)));
    const envelope = `${HEAD}${t}${this.identity}${this.seq},"time":"${rfc3339Nanos(monoNs + this.wallOffsetNs)}","monoNs":"${monoNs}"`;
    return { stream: this.stream, seq: this.seq, type, line: `${envelope},"data":${dataJson}}`, dataAt: envelope.length };
  }
}

/**
 * The line in the key order zod's EventSchema gives (`type` after `monoNs`), which the stdout sink
 * has always printed; the data part is the same (hits are built in schema order).
 */
export function schemaOrderLine(e: EncodedEvent): string {
  const typeEnd = HEAD.length + e.type.length + 2;
  return `{"v":${EVENT_VERSION}${e.line.slice(typeEnd, e.dataAt)},"type":"${e.type}"${e.line.slice(e.dataAt)}`;
}
