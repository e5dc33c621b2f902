// Record framing in a spool segment: [u32le payload length][u32le CRC32 of the payload][payload].
// The CRC catches a torn or garbled tail after a crash; the length bound rejects garbage that
// would otherwise make us allocate gigabytes.
import { crc32 } from 'node:zlib';

export const HEADER_BYTES = 8;
export const MAX_RECORD_BYTES = 16 << 20;

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

export type FrameScan =
  | { ok: true; payload: Buffer; next: number }
  /** `incomplete`: the buffer ends inside this frame (a torn write, or just the end of a read chunk). */
  | { ok: false; at: number; reason: 'incomplete' | 'bad length' | 'bad crc' };

/** The frame starting at `at`; `verify` checks the CRC (done when a segment is opened). */
export function scanFrame(buf: Buffer, at: number, verify: boolean): FrameScan {
  if (buf.length - at < HEADER_BYTES) return { ok: false, at, reason: 'incomplete' };
  const len = buf.readUInt32LE(at);
  if (len === 0 || len > MAX_RECORD_BYTES) return { ok: false, at, reason: 'bad length' };
  const end = at + HEADER_BYTES + len;
  if (end > buf.length) return { ok: false, at, reason: 'incomplete' };
  const payload = buf.subarray(at + HEADER_BYTES, end);
  if (verify && crc32(payload) !== buf.readUInt32LE(at + 4)) return { ok: false, at, reason: 'bad crc' };
  return { ok: true, payload, next: end };
}
