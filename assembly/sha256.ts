// SHA-256 (FIPS 180-4 §6.2), scalar core: salted block hashing (the fallback of the SIMD build
// too) and the plain streaming hash.
//
// Message chunks go through `compressChunk256` (build/assembly/sha256chunk.ts, generated: schedule
// computed inline with the rounds). The final block of every fs-verity hash is a constant padding block (all hashed
// messages have the same length), so `setup256` expands its schedule once, with the round
// constants pre-added (W[t] + K[t]), and `compress256` runs just the 64 rounds over it. The padded
// salt is absorbed once per setup into PREFIX256, the starting state of every block.

import { K256, IV256 } from './constants';
import { TAIL, bswap32, isZero64 } from './common';
import { S0, S1, s0, s1, ch } from './sha256ops';
// Generated at build time by gen-kernels.mjs (npm run build:wasm).
import { compressChunk256 } from '../build/assembly/sha256chunk';

/** State after absorbing the padded salt (IV when there is no salt). */
export const PREFIX256: usize = memory.data(32, 16);
/** Working state of the scalar block hasher. */
export const STATE256: usize = memory.data(32, 16);
/** Message schedule W[0..63] (scratch of `schedule256`). */
export const W256: usize = memory.data(256, 16);
/** W[t] + K[t] of the constant final padding block for the configured (salt, block) length. */
export const PADWK256: usize = memory.data(256, 16);
/** State of the plain one-shot / streaming hash. */
export const STREAM256: usize = memory.data(32, 16);


/** Expands the big-endian 64-byte chunk at `src` into W[t] + K[t] at `wk` (W itself to W256). */
export function schedule256(src: usize, wk: usize): void {
  for (let i: usize = 0; i < 64; i += 16) {
    const x0 = bswap32(load<u32>(src + i, 0));
    const x1 = bswap32(load<u32>(src + i, 4));
    const x2 = bswap32(load<u32>(src + i, 8));
    const x3 = bswap32(load<u32>(src + i, 12));
    store<u32>(W256 + i, x0, 0);
    store<u32>(W256 + i, x1, 4);
    store<u32>(W256 + i, x2, 8);
    store<u32>(W256 + i, x3, 12);
    store<u32>(wk + i, x0 + load<u32>(K256 + i, 0), 0);
    store<u32>(wk + i, x1 + load<u32>(K256 + i, 4), 4);
    store<u32>(wk + i, x2 + load<u32>(K256 + i, 8), 8);
    store<u32>(wk + i, x3 + load<u32>(K256 + i, 12), 12);
  }
  for (let i: usize = 64; i < 256; i += 8) {
    const p = W256 + i;
    const x0 = s1(load<u32>(p - 8)) + load<u32>(p - 28) + s0(load<u32>(p - 60)) + load<u32>(p - 64);
    store<u32>(p, x0);
    const x1 = s1(load<u32>(p - 4)) + load<u32>(p - 24) + s0(load<u32>(p - 56)) + load<u32>(p - 60);
    store<u32>(p, x1, 4);
    store<u32>(wk + i, x0 + load<u32>(K256 + i, 0), 0);
    store<u32>(wk + i, x1 + load<u32>(K256 + i, 4), 4);
  }
}

/** 64 rounds over the state at `st` with the W+K words at `wk`; adds the result into `st`. */
export function compress256(st: usize, wk: usize): void {
  let a = load<u32>(st, 0), b = load<u32>(st, 4), c = load<u32>(st, 8), d = load<u32>(st, 12);
  let e = load<u32>(st, 16), f = load<u32>(st, 20), g = load<u32>(st, 24), h = load<u32>(st, 28);
  let t1: u32, ab: u32, bc: u32 = b ^ c;
  for (let p = wk, end = wk + 256; p < end; p += 32) {
    t1 = h + S1(e) + ch(e, f, g) + load<u32>(p, 0); ab = a ^ b;
    h = t1 + S0(a) + (b ^ (ab & bc)); d += t1; bc = ab;
    t1 = g + S1(d) + ch(d, e, f) + load<u32>(p, 4); ab = h ^ a;
    g = t1 + S0(h) + (a ^ (ab & bc)); c += t1; bc = ab;
    t1 = f + S1(c) + ch(c, d, e) + load<u32>(p, 8); ab = g ^ h;
    f = t1 + S0(g) + (h ^ (ab & bc)); b += t1; bc = ab;
    t1 = e + S1(b) + ch(b, c, d) + load<u32>(p, 12); ab = f ^ g;
    e = t1 + S0(f) + (g ^ (ab & bc)); a += t1; bc = ab;
    t1 = d + S1(a) + ch(a, b, c) + load<u32>(p, 16); ab = e ^ f;
    d = t1 + S0(e) + (f ^ (ab & bc)); h += t1; bc = ab;
    t1 = c + S1(h) + ch(h, a, b) + load<u32>(p, 20); ab = d ^ e;
    c = t1 + S0(d) + (e ^ (ab & bc)); g += t1; bc = ab;
    t1 = b + S1(g) + ch(g, h, a) + load<u32>(p, 24); ab = c ^ d;
    b = t1 + S0(c) + (d ^ (ab & bc)); f += t1; bc = ab;
    t1 = a + S1(f) + ch(f, g, h) + load<u32>(p, 28); ab = b ^ c;
    a = t1 + S0(b) + (c ^ (ab & bc)); e += t1; bc = ab;
  }
  store<u32>(st, load<u32>(st, 0) + a, 0);
  store<u32>(st, load<u32>(st, 4) + b, 4);
  store<u32>(st, load<u32>(st, 8) + c, 8);
  store<u32>(st, load<u32>(st, 12) + d, 12);
  store<u32>(st, load<u32>(st, 16) + e, 16);
  store<u32>(st, load<u32>(st, 20) + f, 20);
  store<u32>(st, load<u32>(st, 24) + g, 24);
  store<u32>(st, load<u32>(st, 28) + h, 28);
}

/** Writes the state at `st` as a big-endian 32-byte digest to `out`. */
export function digest256(st: usize, out: usize): void {
  for (let i: usize = 0; i < 32; i += 4) store<u32>(out + i, bswap32(load<u32>(st + i)));
}

/**
 * Absorbs `len` bytes (a multiple of 64) at `src` into the state at `st`. An all-zero chunk has an
 * all-zero schedule, so its W+K is K256 itself: rounds only (the upper tree levels are mostly
 * zero padding).
 */
export function absorb256(st: usize, src: usize, len: usize): void {
  for (let off: usize = 0; off < len; off += 64) {
    if (isZero64(src + off)) compress256(st, K256);
    else compressChunk256(st, src + off);
  }
}

/**
 * Configures salted block hashing: `saltLen` bytes of padded salt at `saltPtr` (0 or a multiple
 * of 64) are absorbed once into PREFIX256, and the W+K of the final padding block for messages of
 * `saltLen + blockSize` bytes is precomputed into PADWK256.
 */
export function setup256(saltPtr: usize, saltLen: usize, blockSize: usize): void {
  memory.copy(PREFIX256, IV256, 32);
  absorb256(PREFIX256, saltPtr, saltLen);
  // Final block: 0x80, zeros, 64-bit big-endian bit length.
  memory.fill(TAIL, 0, 64);
  store<u8>(TAIL, 0x80);
  const bits = (<u64>(saltLen + blockSize)) << 3;
  store<u32>(TAIL, bswap32(<u32>(bits >>> 32)), 56);
  store<u32>(TAIL, bswap32(<u32>bits), 60);
  schedule256(TAIL, PADWK256);
}

/** Hashes one configured block at `src` (prefix state + block + constant padding) to `out`. */
export function block256(src: usize, blockSize: usize, out: usize): void {
  memory.copy(STATE256, PREFIX256, 32);
  absorb256(STATE256, src, blockSize);
  compress256(STATE256, PADWK256);
  digest256(STATE256, out);
}

/** Scalar: `count` consecutive blocks of `blockSize` bytes at `src` → `count` digests at `out`. */
export function blocks256(src: usize, blockSize: usize, count: usize, out: usize): void {
  for (let n: usize = 0; n < count; n++) block256(src + n * blockSize, blockSize, out + (n << 5));
}

// Plain (unsalted) streaming hash: init, update with whole 64-byte chunks, final with the rest.

export function hash256Init(): void {
  memory.copy(STREAM256, IV256, 32);
}

export function hash256Update(src: usize, len: usize): void {
  absorb256(STREAM256, src, len & ~63);
}

/** Absorbs the last `len` bytes at `src` (any length) and pads for a `totalLen`-byte message. */
export function hash256Final(src: usize, len: usize, totalLen: f64, out: usize): void {
  const whole = len & ~63;
  absorb256(STREAM256, src, whole);
  const rest = len - whole;
  memory.fill(TAIL, 0, 128);
  memory.copy(TAIL, src + whole, rest);
  store<u8>(TAIL + rest, 0x80);
  const tailLen: usize = rest < 56 ? 64 : 128;
  const bits = (<u64>totalLen) << 3;
  store<u32>(TAIL + tailLen - 8, bswap32(<u32>(bits >>> 32)));
  store<u32>(TAIL + tailLen - 4, bswap32(<u32>bits));
  absorb256(STREAM256, TAIL, tailLen);
  digest256(STREAM256, out);
}
