// Scalar entry point (build/sha.scalar.wasm): no SIMD opcodes, validates on any wasm engine.
//
// Block hashing API (both entry points): `shaX_setup(saltPtr, saltLen, blockSize)` once per
// (padded salt, Merkle block size), then any number of `shaX_blocks(src, blockSize, count, out)`:
// `count` consecutive `blockSize`-byte blocks at `src`, each hashed as H(paddedSalt || block),
// give `count` big-endian digests written consecutively at `out`.

import { setup256, blocks256 } from './sha256';
import { setup512, blocks512 } from './sha512';

export * from './api';

export function sha256_setup(saltPtr: usize, saltLen: usize, blockSize: usize): void {
  setup256(saltPtr, saltLen, blockSize);
}
export function sha256_blocks(src: usize, blockSize: usize, count: usize, out: usize): void {
  blocks256(src, blockSize, count, out);
}
export function sha512_setup(saltPtr: usize, saltLen: usize, blockSize: usize): void {
  setup512(saltPtr, saltLen, blockSize);
}
export function sha512_blocks(src: usize, blockSize: usize, count: usize, out: usize): void {
  blocks512(src, blockSize, count, out);
}
