// Helpers shared by the SHA-256 and SHA-512 kernels.

/** Scratch for building final (padding) blocks: two SHA-512 blocks. */
export const TAIL: usize = memory.data(256, 16);

// @ts-ignore: decorator
@inline export function bswap32(x: u32): u32 {
  return (rotl<u32>(x, 8) & 0x00ff00ff) | (rotr<u32>(x, 8) & 0xff00ff00);
}

// @ts-ignore: decorator
@inline export function bswap64(x: u64): u64 {
  const y = rotr<u64>(x, 32);
  const z = ((y & 0x00ff00ff00ff00ff) << 8) | ((y >> 8) & 0x00ff00ff00ff00ff);
  return ((z & 0x0000ffff0000ffff) << 16) | ((z >> 16) & 0x0000ffff0000ffff);
}

/** Whether the 64 bytes at `p` are all zero (the first non-zero word ends the test). */
// @ts-ignore: decorator
@inline export function isZero64(p: usize): bool {
  return (load<u64>(p, 0) | load<u64>(p, 8)) == 0 && (load<u64>(p, 16) | load<u64>(p, 24)) == 0 &&
    (load<u64>(p, 32) | load<u64>(p, 40)) == 0 && (load<u64>(p, 48) | load<u64>(p, 56)) == 0;
}
