// SIMD entry point (build/sha.simd.wasm): SHA-256 four blocks at a time (i32x4 lanes), SHA-512 two
// at a time (i64x2 lanes); remainders fall back to the scalar core. Same API as index.ts.

import { setup256 } from './sha256';
import { setup512 } from './sha512';
// Generated at build time by gen-kernels.mjs (npm run build:wasm).
import { setup256x4, blocks256x4 } from '../build/assembly/sha256x4';
import { setup512x2, blocks512x2 } from '../build/assembly/sha512x2';

export * from './api';

export function sha256_setup(saltPtr: usize, saltLen: usize, blockSize: usize): void {
  setup256(saltPtr, saltLen, blockSize);
  setup256x4();
}
export function sha256_blocks(src: usize, blockSize: usize, count: usize, out: usize): void {
  blocks256x4(src, blockSize, count, out);
}
export function sha512_setup(saltPtr: usize, saltLen: usize, blockSize: usize): void {
  setup512(saltPtr, saltLen, blockSize);
  setup512x2();
}
export function sha512_blocks(src: usize, blockSize: usize, count: usize, out: usize): void {
  blocks512x2(src, blockSize, count, out);
}
