// kafkajs 2.2.4 builds a produce request in nine nested Encoders, each growing into a fresh,
// zero-filled Buffer.alloc of the next power of two, and checksums each record batch with a CRC32C
// that takes a byte a step. A 512 KiB message (the agent's batchBytes) allocated about 9 MiB of
// buffers, most of them twice its size, and that allocation rate made V8 run a full GC about once a
// second. The same bytes, cheaper: growth into Buffer.allocUnsafe (an Encoder only exposes
// buf[0, offset), all of it written), doubling for small writes but to the size needed (plus
// headroom for what follows) for a large one, and a slicing-by-8 CRC32C.
// Imported before kafkajs (kafkajs.ts): its record batch takes the CRC32C module at load time.
import { Module } from 'node:module';

interface EncoderState {
  buf: Buffer;
  offset: number;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const Encoder = require('kafkajs/src/protocol/encoder') as { prototype: { ensureAvailable(this: EncoderState, length: number): void } };

/** Room left after a large write, for the fields written after it (a record's headers). */
const HEADROOM = 4096;

Encoder.prototype.ensureAvailable = function (this: EncoderState, length: number): void {
  const need = this.offset + length;
  if (need <= this.buf.length) return;
  const grown = Buffer.allocUnsafe(need <= 2 * this.buf.length ? 2 * this.buf.length : need + HEADROOM);
  this.buf.copy(grown, 0, 0, this.offset);
  this.buf = grown;
};

/** CRC32C tables for slicing by 8: T[k * 256 + b] is byte b's CRC advanced by k more zero bytes. */
const T = new Int32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  T[n] = c;
}
for (let k = 1; k < 8; k++) {
  for (let n = 0; n < 256; n++) {
    const prev = T[(k - 1) * 256 + n] as number;
    T[k * 256 + n] = (prev >>> 8) ^ (T[prev & 0xff] as number);
  }
}

/** CRC32C (Castagnoli) of `b`, unsigned: what kafkajs' recordBatch/crc32C returns. */
export function crc32c(b: Uint8Array): number {
  let crc = -1;
  let i = 0;
  const whole = b.length - (b.length & 7);
  for (; i < whole; i += 8) {
    const lo = crc ^ ((b[i] as number) | ((b[i + 1] as number) << 8) | ((b[i + 2] as number) << 16) | ((b[i + 3] as number) << 24));
    crc =
      (T[1792 + (lo & 0xff)] as number) ^
      (T[1536 + ((lo >>> 8) & 0xff)] as number) ^
      (T[1280 + ((lo >>> 16) & 0xff)] as number) ^
      (T[1024 + (lo >>> 24)] as number) ^
      (T[768 + (b[i + 4] as number)] as number) ^
      (T[512 + (b[i + 5] as number)] as number) ^
      (T[256 + (b[i + 6] as number)] as number) ^
      (T[b[i + 7] as number] as number);
  }
  for (; i < b.length; i++) crc = (T[(crc ^ (b[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/**
 * Puts crc32c in the module cache as kafkajs' recordBatch/crc32C, before kafkajs loads it. In a
 * bundle (the agent's single executable, whose default client is not kafkajs) there is no module
 * cache: kafkajs keeps its own, which gives the same checksum.
 */
function seedCrc32c(): void {
  let path: string;
  try {
    path = require.resolve('kafkajs/src/protocol/recordBatch/crc32C');
  } catch {
    return;
  }
  if (require.cache[path] !== undefined) return;
  const m = new Module(path, module);
  m.filename = path;
  m.loaded = true;
  m.exports = crc32c;
  require.cache[path] = m;
}
seedCrc32c();
