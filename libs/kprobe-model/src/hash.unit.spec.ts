import { hashPtr, kprobeBucket, KPROBE_HASH_BITS, KPROBE_TABLE_SIZE } from './index';

// Computed independently in Python: ((a * 0x61C8864680B583EB) % 2**64) >> 58
const PYTHON_BUCKETS: [string, number][] = [
  ['0xffffffff8206b250', 27],
  ['0xffffffff8206b254', 61],
  ['0xffffffff81c3e2a0', 28],
  ['0xffffffff81c3e2a5', 22],
  ['0xffffffffa106b250', 61],
  ['0xffffffffc0a01000', 53],
  ['0xffffffffffffffff', 39],
  ['0x1', 24],
  ['0x0', 0],
];

describe('kprobe_table hash', () => {
  it('has 64 buckets', () => {
    expect(KPROBE_HASH_BITS).toBe(6);
    expect(KPROBE_TABLE_SIZE).toBe(64);
  });

  it.each(PYTHON_BUCKETS)('puts %s in bucket %i', (address, bucket) => {
    expect(kprobeBucket(address)).toBe(bucket);
    expect(hashPtr(BigInt(address), KPROBE_HASH_BITS)).toBe(bucket);
  });
});
