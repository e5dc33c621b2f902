// COPY … FROM STDIN (FORMAT binary): rows written straight into buffers, each value in PostgreSQL's
// send format. For the row nearly every event is (tcp_transitions) it costs PostgreSQL less to read
// than text (no per-value parsing) and Node less to write (no string building, escaping or UTF-8
// pass over the whole line).
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { parseIpv4, parseIpv6, timeToMs } from '@probefleet/events';

const CHUNK = 1 << 18;
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** µs from the Unix epoch to PostgreSQL's (2000-01-01 UTC). */
const PG_EPOCH_US = 946_684_800_000_000;
const TWO32 = 2 ** 32;

/** Rows of one COPY in binary format: start each with row(fields), then one write per field. */
export class BinaryRows {
  private readonly chunks: Buffer[] = [];
  private buf = Buffer.allocUnsafe(CHUNK);
  private pos = 0;
  rows = 0;

  constructor() {
    this.ensure(19);
    SIGNATURE.copy(this.buf, 0);
    this.buf.writeInt32BE(0, 11); // flags
    this.buf.writeInt32BE(0, 15); // header extension length
    this.pos = 19;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    if (this.pos > 0) this.chunks.push(this.buf.subarray(0, this.pos));
    this.buf = Buffer.allocUnsafe(Math.max(CHUNK, n));
    this.pos = 0;
  }

  /** A row of `fields` values, each written next. */
  row(fields: number): void {
    this.ensure(2);
    this.buf.writeInt16BE(fields, this.pos);
    this.pos += 2;
    this.rows++;
  }

  null(): void {
    this.ensure(4);
    this.buf.writeInt32BE(-1, this.pos);
    this.pos += 4;
  }

  int2(v: number): void {
    this.ensure(6);
    this.buf.writeInt32BE(2, this.pos);
    this.buf.writeInt16BE(v, this.pos + 4);
    this.pos += 6;
  }

  int4(v: number): void {
    this.ensure(8);
    this.buf.writeInt32BE(4, this.pos);
    this.buf.writeInt32BE(v, this.pos + 4);
    this.pos += 8;
  }

  /** A safe integer as int8. */
  int8(v: number): void {
    const hi = Math.floor(v / TWO32);
    this.int8Words(hi, v - hi * TWO32);
  }

  /** int8 from its high and low 32 bits (two's complement). */
  int8Words(hi: number, lo: number): void {
    this.ensure(12);
    this.buf.writeInt32BE(8, this.pos);
    this.buf.writeUInt32BE(hi >>> 0, this.pos + 4);
    this.buf.writeUInt32BE(lo >>> 0, this.pos + 8);
    this.pos += 12;
  }

  /** A decimal integer text (mono_ns, up to 2^63 - 1) as int8. */
  int8Text(text: string): void {
    if (text.length <= 15) return this.int8(Number(text));
    const v = BigInt.asUintN(64, BigInt(text));
    this.int8Words(Number(v >> 32n), Number(v & 0xffffffffn));
  }

  float8(v: number): void {
    this.ensure(12);
    this.buf.writeInt32BE(8, this.pos);
    this.buf.writeDoubleBE(v, this.pos + 4);
    this.pos += 12;
  }

  /** Text, an enum label included (PostgreSQL's binary form of both). */
  text(s: string): void {
    const n = s.length;
    this.ensure(4 + n * 3);
    const b = this.buf;
    let p = this.pos + 4;
    let i = 0;
    // Nearly every value here is short ASCII: byte by byte beats a native call per value.
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      b[p++] = c;
    }
    if (i < n) p += b.write(s.slice(i), p, 'utf8');
    b.writeInt32BE(p - this.pos - 4, this.pos);
    this.pos = p;
  }

  /** Bytes already in the value's send format (inet, uuid). */
  raw(value: Buffer): void {
    this.ensure(4 + value.length);
    this.buf.writeInt32BE(value.length, this.pos);
    value.copy(this.buf, this.pos + 4);
    this.pos += 4 + value.length;
  }

  /** An envelope time ("…T19:52:23.123456789Z", 9 digits) as timestamptz, to the microsecond. */
  time(t: string): void {
    const us = timeToMs(t) * 1000 + (t.charCodeAt(23) - 48) * 100 + (t.charCodeAt(24) - 48) * 10 + (t.charCodeAt(25) - 48);
    this.int8(us - PG_EPOCH_US);
  }

  /** The COPY data: signature, rows, trailer (the builder is done after this). */
  end(): Buffer[] {
    this.ensure(2);
    this.buf.writeInt16BE(-1, this.pos);
    this.pos += 2;
    this.chunks.push(this.buf.subarray(0, this.pos));
    return this.chunks;
  }
}

/** Streams binary rows into `table (columns)`; nothing when there are none. */
export async function copyBinary(client: PoolClient, table: string, columns: readonly string[], rows: BinaryRows): Promise<void> {
  if (rows.rows === 0) return;
  const stream = client.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN (FORMAT binary)`));
  await pipeline(Readable.from(rows.end()), stream);
}

// A fleet's rows name the same addresses over and over: their send forms are remembered (bounded:
// the map starts again when full).
const MEMORY = 1 << 16;
const inets = new Map<string, Buffer>();

function remember(map: Map<string, Buffer>, key: string, value: Buffer): Buffer {
  if (map.size >= MEMORY) map.clear();
  map.set(key, value);
  return value;
}

/** An address (the agent's spelling, checked by isTcpHit) in inet's send format: family, bits, is_cidr, length, bytes. */
export function inetBytes(family: 'AF_INET' | 'AF_INET6', text: string): Buffer {
  const known = inets.get(text);
  if (known) return known;
  const bytes = family === 'AF_INET' ? parseIpv4(text) : parseIpv6(text);
  if (!bytes) throw new Error(`not an ${family} address: ${text}`);
  const v4 = bytes.length === 4;
  return remember(inets, text, Buffer.from([v4 ? 2 : 3, v4 ? 32 : 128, 0, bytes.length, ...bytes]));
}
