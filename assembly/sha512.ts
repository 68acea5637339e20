// SHA-512 (FIPS 180-4 §6.4), scalar core; same structure as sha256.ts with 64-bit words,
// 128-byte chunks and 80 rounds (chunks through `compressChunk512`,
// build/assembly/sha512chunk.ts).

import { K512, IV512 } from './constants';
import { TAIL, bswap64, isZero64 } from './common';
import { S0, S1, s0, s1, ch } from './sha512ops';
// Generated at build time by gen-kernels.mjs (npm run build:wasm).
import { compressChunk512 } from '../build/assembly/sha512chunk';

/** State after absorbing the padded salt (IV when there is no salt). */
export const PREFIX512: usize = memory.data(64, 16);
/** Working state of the scalar block hasher. */
export const STATE512: usize = memory.data(64, 16);
/** Message schedule W[0..79] (scratch of `schedule512`). */
export const W512: usize = memory.data(640, 16);
/** W[t] + K[t] of the constant final padding block. */
export const PADWK512: usize = memory.data(640, 16);
/** State of the plain one-shot / streaming hash. */
export const STREAM512: usize = memory.data(64, 16);


/** Expands the big-endian 128-byte chunk at `src` into W[t] + K[t] at `wk` (W itself to W512). */
export function schedule512(src: usize, wk: usize): void {
  for (let i: usize = 0; i < 128; i += 16) {
    const x0 = bswap64(load<u64>(src + i, 0));
    const x1 = bswap64(load<u64>(src + i, 8));
    store<u64>(W512 + i, x0, 0);
    store<u64>(W512 + i, x1, 8);
    store<u64>(wk + i, x0 + load<u64>(K512 + i, 0), 0);
    store<u64>(wk + i, x1 + load<u64>(K512 + i, 8), 8);
  }
  for (let i: usize = 128; i < 640; i += 16) {
    const p = W512 + i;
    const x0 = s1(load<u64>(p - 16)) + load<u64>(p - 56) + s0(load<u64>(p - 120)) + load<u64>(p - 128);
    store<u64>(p, x0);
    const x1 = s1(load<u64>(p - 8)) + load<u64>(p - 48) + s0(load<u64>(p - 112)) + load<u64>(p - 120);
    store<u64>(p, x1, 8);
    store<u64>(wk + i, x0 + load<u64>(K512 + i, 0), 0);
    store<u64>(wk + i, x1 + load<u64>(K512 + i, 8), 8);
  }
}

/** 80 rounds over the state at `st` with the W+K words at `wk`; adds the result into `st`. */
export function compress512(st: usize, wk: usize): void {
  let a = load<u64>(st, 0), b = load<u64>(st, 8), c = load<u64>(st, 16), d = load<u64>(st, 24);
  let e = load<u64>(st, 32), f = load<u64>(st, 40), g = load<u64>(st, 48), h = load<u64>(st, 56);
  let t1: u64, ab: u64, bc: u64 = b ^ c;
  for (let p = wk, end = wk + 640; p < end; p += 64) {
    t1 = h + S1(e) + ch(e, f, g) + load<u64>(p, 0); ab = a ^ b;
    h = t1 + S0(a) + (b ^ (ab & bc)); d += t1; bc = ab;
    t1 = g + S1(d) + ch(d, e, f) + load<u64>(p, 8); ab = h ^ a;
    g = t1 + S0(h) + (a ^ (ab & bc)); c += t1; bc = ab;
    t1 = f + S1(c) + ch(c, d, e) + load<u64>(p, 16); ab = g ^ h;
    f = t1 + S0(g) + (h ^ (ab & bc)); b += t1; bc = ab;
    t1 = e + S1(b) + ch(b, c, d) + load<u64>(p, 24); ab = f ^ g;
    e = t1 + S0(f) + (g ^ (ab & bc)); a += t1; bc = ab;
    t1 = d + S1(a) + ch(a, b, c) + load<u64>(p, 32); ab = e ^ f;
    d = t1 + S0(e) + (f ^ (ab & bc)); h += t1; bc = ab;
    t1 = c + S1(h) + ch(h, a, b) + load<u64>(p, 40); ab = d ^ e;
    c = t1 + S0(d) + (e ^ (ab & bc)); g += t1; bc = ab;
    t1 = b + S1(g) + ch(g, h, a) + load<u64>(p, 48); ab = c ^ d;
    b = t1 + S0(c) + (d ^ (ab & bc)); f += t1; bc = ab;
    t1 = a + S1(f) + ch(f, g, h) + load<u64>(p, 56); ab = b ^ c;
    a = t1 + S0(b) + (c ^ (ab & bc)); e += t1; bc = ab;
  }
  store<u64>(st, load<u64>(st, 0) + a, 0);
  store<u64>(st, load<u64>(st, 8) + b, 8);
  store<u64>(st, load<u64>(st, 16) + c, 16);
  store<u64>(st, load<u64>(st, 24) + d, 24);
  store<u64>(st, load<u64>(st, 32) + e, 32);
  store<u64>(st, load<u64>(st, 40) + f, 40);
  store<u64>(st, load<u64>(st, 48) + g, 48);
  store<u64>(st, load<u64>(st, 56) + h, 56);
}

/** Writes the state at `st` as a big-endian 64-byte digest to `out`. */
export function digest512(st: usize, out: usize): void {
  for (let i: usize = 0; i < 64; i += 8) store<u64>(out + i, bswap64(load<u64>(st + i)));
}

/** Absorbs `len` bytes (a multiple of 128) at `src` into the state at `st`. */
export function absorb512(st: usize, src: usize, len: usize): void {
  for (let off: usize = 0; off < len; off += 128) {
    // An all-zero chunk: W+K is K512 itself (see absorb256).
    if (isZero64(src + off) && isZero64(src + off + 64)) compress512(st, K512);
    else compressChunk512(st, src + off);
  }
}

/** See setup256; the padded salt is 0 or a multiple of 128 bytes, blockSize ≥ 128. */
export function setup512(saltPtr: usize, saltLen: usize, blockSize: usize): void {
  memory.copy(PREFIX512, IV512, 64);
  absorb512(PREFIX512, saltPtr, saltLen);
  // Final block: 0x80, zeros, 128-bit big-endian bit length (high 64 bits are zero here).
  memory.fill(TAIL, 0, 128);
  store<u8>(TAIL, 0x80);
  store<u64>(TAIL, bswap64((<u64>(saltLen + blockSize)) << 3), 120);
  schedule512(TAIL, PADWK512);
}

export function block512(src: usize, blockSize: usize, out: usize): void {
  memory.copy(STATE512, PREFIX512, 64);
  absorb512(STATE512, src, blockSize);
  compress512(STATE512, PADWK512);
  digest512(STATE512, out);
}

/** Scalar: `count` consecutive blocks of `blockSize` bytes at `src` → `count` digests at `out`. */
export function blocks512(src: usize, blockSize: usize, count: usize, out: usize): void {
  for (let n: usize = 0; n < count; n++) block512(src + n * blockSize, blockSize, out + (n << 6));
}

export function hash512Init(): void {
  memory.copy(STREAM512, IV512, 64);
}

export function hash512Update(src: usize, len: usize): void {
  absorb512(STREAM512, src, len & ~127);
}

export function hash512Final(src: usize, len: usize, totalLen: f64, out: usize): void {
  const whole = len & ~127;
  absorb512(STREAM512, src, whole);
  const rest = len - whole;
  memory.fill(TAIL, 0, 256);
  memory.copy(TAIL, src + whole, rest);
  store<u8>(TAIL + rest, 0x80);
  const tailLen: usize = rest < 112 ? 128 : 256;
  const bytes = <u64>totalLen;
  store<u64>(TAIL + tailLen - 16, bswap64(bytes >>> 61));
  store<u64>(TAIL + tailLen - 8, bswap64(bytes << 3));
  absorb512(STREAM512, TAIL, tailLen);
  digest512(STREAM512, out);
}
