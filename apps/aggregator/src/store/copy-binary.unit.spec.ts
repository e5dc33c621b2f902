import { BinaryRows, inetBytes } from './copy-binary';

/** The fields of the one row `write` makes, as PostgreSQL reads them: null or the value's bytes. */
function fields(write: (r: BinaryRows) => void): (Buffer | null)[] {
  const r = new BinaryRows();
  write(r);
  const b = Buffer.concat(r.end());
  expect(b.subarray(0, 11).toString('latin1')).toBe('PGCOPY\n\xff\r\n\0');
  let p = 19;
  const n = b.readInt16BE(p);
  p += 2;
  const out: (Buffer | null)[] = [];
  for (let i = 0; i < n; i++) {
    const len = b.readInt32BE(p);
    p += 4;
    out.push(len < 0 ? null : b.subarray(p, (p += len)));
  }
  expect(b.readInt16BE(p)).toBe(-1);
  expect(p + 2).toBe(b.length);
  return out;
}

describe('BinaryRows', () => {
  it('writes integers, floats and NULL in their send formats', () => {
    const [i2, i4, i8, neg, words, big, f8, nul] = fields((r) => {
      r.row(8);
      r.int2(-3); r.int4(65535); r.int8(2 ** 40 + 7); r.int8(-5);
      r.int8Words(0xffff8881, 0x12345678); r.int8Text('9223372036854775807'); r.float8(1.5); r.null();
    });
    expect(i2!.readInt16BE(0)).toBe(-3);
    expect(i4!.readInt32BE(0)).toBe(65535);
    expect(i8!.readBigInt64BE(0)).toBe(2n ** 40n + 7n);
    expect(neg!.readBigInt64BE(0)).toBe(-5n);
    expect(words!.readBigInt64BE(0)).toBe(BigInt.asIntN(64, 0xffff888112345678n));
    expect(big!.readBigInt64BE(0)).toBe(2n ** 63n - 1n);
    expect(f8!.readDoubleBE(0)).toBe(1.5);
    expect(nul).toBeNull();
  });

  it('writes text as UTF-8 and a time as µs since 2000-01-01', () => {
    const [ascii, utf8, time] = fields((r) => {
      r.row(3);
      r.text('nginx'); r.text('café\tü'); r.time('2026-11-25T19:52:23.123456789Z');
    });
    expect(ascii!.toString()).toBe('nginx');
    expect(utf8!.toString('utf8')).toBe('café\tü');
    expect(time!.readBigInt64BE(0)).toBe((BigInt(Date.parse('2026-11-25T19:52:23.123Z')) * 1000n + 456n) - 946684800000000n);
  });

  it('spans chunks when rows outgrow one', () => {
    const r = new BinaryRows();
    const long = 'x'.repeat(100_000);
    for (let i = 0; i < 10; i++) {
      r.row(1);
      r.text(long);
    }
    expect(Buffer.concat(r.end()).length).toBe(19 + 10 * (2 + 4 + 100_000) + 2);
  });
});

describe('inetBytes', () => {
  it('gives inet send forms of IPv4 and IPv6', () => {
    expect([...inetBytes('AF_INET', '10.1.2.3')]).toEqual([2, 32, 0, 4, 10, 1, 2, 3]);
    expect([...inetBytes('AF_INET6', '::ffff:10.0.0.1')]).toEqual([3, 128, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]);
    expect(() => inetBytes('AF_INET', 'fd00::1')).toThrow('not an AF_INET address: fd00::1');
  });
});
