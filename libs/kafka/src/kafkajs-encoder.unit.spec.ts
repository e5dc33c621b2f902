import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import fc from 'fast-check';
import { crc32c } from './kafkajs-encoder';

/* eslint-disable @typescript-eslint/no-require-imports */
// kafkajs' own byte-at-a-time CRC32C (the inner module, which the patch leaves alone).
const kafkajsCrc = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C') as (b: Buffer) => number;
type Enc = { writeInt8(v: number): Enc; writeInt32(v: number): Enc; writeBytes(b: Buffer): Enc; writeVarIntBytes(b: Buffer): Enc; writeEncoder(e: Enc): Enc; buffer: Buffer };
const Encoder = require('kafkajs/src/protocol/encoder') as new (initialSize?: number) => Enc;
/* eslint-enable @typescript-eslint/no-require-imports */

describe("kafkajs' produce encoding, cheaper", () => {
  it('checksums as kafkajs does (any length, any offset, the iSCSI check value)', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(7), (bytes, skip) => {
        const b = Buffer.from(bytes).subarray(Math.min(skip, bytes.length));
        expect(crc32c(b)).toBe(kafkajsCrc(b));
      }),
    );
  });

  it("is the CRC32C kafkajs' record batch takes (seeded in Node's module cache, which Jest's registry is not)", () => {
    const check = `const p = require(${JSON.stringify(join(__dirname, '../dist/kafkajs-encoder.js'))}); require('kafkajs');
      process.stdout.write(String(require('kafkajs/src/protocol/recordBatch/crc32C') === p.crc32c));`;
    expect(execFileSync(process.execPath, ['-e', check], { cwd: __dirname, encoding: 'utf8' })).toBe('true');
  });

  it('encodes the bytes written, small and large writes mixed, whatever the growth', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: -128, max: 127 }), fc.uint8Array({ maxLength: 20_000 })), { maxLength: 40 }), (parts) => {
        const e = new Encoder(16);
        const expected: Buffer[] = [];
        for (const p of parts) {
          if (typeof p === 'number') {
            e.writeInt8(p);
            expected.push(Buffer.from([p & 0xff]));
          } else {
            e.writeBytes(Buffer.from(p));
            const len = Buffer.alloc(4);
            len.writeInt32BE(p.length);
            expected.push(len, Buffer.from(p));
          }
        }
        const outer = new Encoder().writeInt32(7).writeEncoder(e);
        expect(outer.buffer.equals(Buffer.concat([Buffer.from([0, 0, 0, 7]), ...expected]))).toBe(true);
      }),
    );
  });
});
