// Exports shared by both entry points (index.ts, index.simd.ts).
//
// Linear memory layout: static data and scratch first (constants, states, schedules), then from
// `heap_base()` on a free region the JS side manages (input blocks, digests out, salt, ...). The
// JS side grows the memory itself.

import { hash256Init, hash256Update, hash256Final } from './sha256';
import { hash512Init, hash512Update, hash512Final } from './sha512';

/** First free byte after the static data, 64-byte aligned. */
export function heap_base(): usize {
  return (__heap_base + 63) & ~63;
}

/** Plain SHA-256: init, then update with whole 64-byte chunks, then final with the rest. */
export function sha256_init(): void { hash256Init(); }
export function sha256_update(src: usize, len: usize): void { hash256Update(src, len); }
/** `len` bytes at `src` end a message of `totalLen` bytes; writes 32 bytes at `out`. */
export function sha256_final(src: usize, len: usize, totalLen: f64, out: usize): void {
  hash256Final(src, len, totalLen, out);
}

export function sha512_init(): void { hash512Init(); }
export function sha512_update(src: usize, len: usize): void { hash512Update(src, len); }
export function sha512_final(src: usize, len: usize, totalLen: f64, out: usize): void {
  hash512Final(src, len, totalLen, out);
}
