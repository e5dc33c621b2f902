/** kprobe_table has 2^KPROBE_HASH_BITS buckets (kernel/kprobes.c). */
export const KPROBE_HASH_BITS = 6;
export const KPROBE_TABLE_SIZE = 1 << KPROBE_HASH_BITS;

/** GOLDEN_RATIO_64 of include/linux/hash.h. */
const GOLDEN_RATIO_64 = 0x61c8864680b583ebn;
const MASK_64 = (1n << 64n) - 1n;

/** The kernel's hash_ptr(ptr, bits) on 64-bit: the top `bits` bits of ptr * GOLDEN_RATIO_64 mod 2^64. */
export function hashPtr(address: bigint, bits: number): number {
  return Number(((address * GOLDEN_RATIO_64) & MASK_64) >> BigInt(64 - bits));
}

/** The kprobe_table bucket of an address given as hex text ("0xffffffff8206b250"). */
export function kprobeBucket(address: string): number {
  return hashPtr(BigInt(address), KPROBE_HASH_BITS);
}
