// Record framing in a spool segment. Two layouts, told apart by the top bit of the first word:
//   v1 [u32le length][u32le CRC32 of payload][payload]                        (older agents)
//   v2 [u32le length | V2][u32le CRC32 of tag..payload][u32le stream tag][f64le seq][payload]
// v2 carries the event's stream position in the header, so the publisher groups records into
// Kafka messages without parsing them; v1 records (a spool left by an older agent) are parsed.
// The CRC catches a torn or garbled tail after a crash; the length bound rejects garbage that
// would otherwise make us allocate gigabytes.
import { crc32 } from 'node:zlib';

export const HEADER_BYTES = 8;
export const V2_HEADER_BYTES = 20;
export const MAX_RECORD_BYTES = 16 << 20;
const V2 = 0x8000_0000;
const LENGTH_MASK = 0x7fff_ffff;

/** An encoded event line to spool with its stream position. */
export interface LineInput {
  line: string;
  /** A 32-bit tag of the stream (host, bootId, instance): equal tags = same stream. */
  tag: number;
  seq: number;
}

export function encodeFrames(payloads: readonly Buffer[]): Buffer {
  const out = Buffer.allocUnsafe(payloads.reduce((n, p) => n + HEADER_BYTES + p.length, 0));
  let at = 0;
  for (const p of payloads) {
    if (p.length === 0 || p.length > MAX_RECORD_BYTES) throw new RangeError(`spool record of ${p.length} bytes (1..${MAX_RECORD_BYTES})`);
    out.writeUInt32LE(p.length, at);
    out.writeUInt32LE(crc32(p), at + 4);
    p.copy(out, at + HEADER_BYTES);
    at += HEADER_BYTES + p.length;
  }
  return out;
}

/** v2 frames of the lines, in one buffer (the lines' UTF-8 written in place, no copies). */
export function encodeLineFrames(lines: readonly LineInput[]): Buffer {
  const sizes = lines.map((l) => Buffer.byteLength(l.line));
  const out = Buffer.allocUnsafe(sizes.reduce((n, s) => n + V2_HEADER_BYTES + s, 0));
  let at = 0;
  for (let i = 0; i < lines.length; i++) {
    const { line, tag, seq } = lines[i] as LineInput;
    const len = sizes[i] as number;
    if (len === 0 || len > MAX_RECORD_BYTES) throw new RangeError(`spool record of ${len} bytes (1..${MAX_RECORD_BYTES})`);
    out.writeUInt32LE((len | V2) >>> 0, at);
    out.writeUInt32LE(tag >>> 0, at + 8);
    out.writeDoubleLE(seq, at + 12);
    // ASCII (its UTF-8 length is its length, nearly every line): its UTF-8 is its Latin-1, a plain copy.
    out.write(line, at + V2_HEADER_BYTES, len, len === line.length ? 'latin1' : 'utf8');
    out.writeUInt32LE(crc32(out.subarray(at + 8, at + V2_HEADER_BYTES + len)), at + 4);
    at += V2_HEADER_BYTES + len;
  }
  return out;
}

export type FrameScan =
  /** `tag`/`seq` only in v2 frames. */
  | { ok: true; payload: Buffer; next: number; tag?: number; seq?: number }
  /** `incomplete`: the buffer ends inside this frame (a torn write, or just the end of a read chunk). */
  | { ok: false; at: number; reason: 'incomplete' | 'bad length' | 'bad crc' };

/** Header bytes of the frame whose first word is `word`. */
export const headerBytes = (word: number): number => (word & V2 ? V2_HEADER_BYTES : HEADER_BYTES);

/** The frame starting at `at`; `verify` checks the CRC (done when a segment is opened). */
export function scanFrame(buf: Buffer, at: number, verify: boolean): FrameScan {
  if (buf.length - at < HEADER_BYTES) return { ok: false, at, reason: 'incomplete' };
  const word = buf.readUInt32LE(at);
  const len = word & LENGTH_MASK;
  const head = headerBytes(word);
  if (len === 0 || len > MAX_RECORD_BYTES) return { ok: false, at, reason: 'bad length' };
  const end = at + head + len;
  if (end > buf.length) return { ok: false, at, reason: 'incomplete' };
  const payload = buf.subarray(at + head, end);
  if (verify && crc32(head === HEADER_BYTES ? payload : buf.subarray(at + HEADER_BYTES, end)) !== buf.readUInt32LE(at + 4)) {
    return { ok: false, at, reason: 'bad crc' };
  }
  if (head === HEADER_BYTES) return { ok: true, payload, next: end };
  return { ok: true, payload, next: end, tag: buf.readUInt32LE(at + 8), seq: buf.readDoubleLE(at + 12) };
}
