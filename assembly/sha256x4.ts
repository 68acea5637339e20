// SHA-256 over four independent messages at once, one per i32x4 lane (multi-buffer).
//
// Same two-pass structure as the scalar core: `schedule4` loads one 64-byte chunk from each of the
// four blocks, byte-swaps and transposes it into 16 vectors (vector t holds word t of the four
// messages), expands the schedule and stores W+K; `compress4` runs the 64 rounds with only the
// eight state vectors and temporaries live. Ch is a bitselect; Maj(a,b,c) = b ^ ((a^b) & (b^c))
// reuses a^b of the previous round as b^c.

import { K256 } from './constants';
import { PREFIX256, PADWK256, block256 } from './sha256';
import { bswap32 } from './common';

/** K[t] splatted to all lanes. */
const K256X4: usize = memory.data(1024, 16);
/** PREFIX256 splatted. */
const PREFIX256X4: usize = memory.data(128, 16);
/** PADWK256 splatted. */
const PADWK256X4: usize = memory.data(1024, 16);
const STATE256X4: usize = memory.data(128, 16);
const W256X4: usize = memory.data(1024, 16);
const WK256X4: usize = memory.data(1024, 16);

for (let i: usize = 0; i < 64; i++) v128.store(K256X4 + (i << 4), i32x4.splat(load<u32>(K256 + (i << 2))));

/** Call after setup256: broadcasts the prefix state and the padding block's W+K to the lanes. */
export function setup256x4(): void {
  for (let i: usize = 0; i < 8; i++) v128.store(PREFIX256X4 + (i << 4), i32x4.splat(load<u32>(PREFIX256 + (i << 2))));
  for (let i: usize = 0; i < 64; i++) v128.store(PADWK256X4 + (i << 4), i32x4.splat(load<u32>(PADWK256 + (i << 2))));
}

// @ts-ignore: decorator
@inline function rotr(x: v128, n: i32): v128 { return v128.or(i32x4.shr_u(x, n), i32x4.shl(x, 32 - n)); }
// @ts-ignore: decorator
@inline function S0(x: v128): v128 { return v128.xor(v128.xor(rotr(x, 2), rotr(x, 13)), rotr(x, 22)); }
// @ts-ignore: decorator
@inline function S1(x: v128): v128 { return v128.xor(v128.xor(rotr(x, 6), rotr(x, 11)), rotr(x, 25)); }
// @ts-ignore: decorator
@inline function s0(x: v128): v128 { return v128.xor(v128.xor(rotr(x, 7), rotr(x, 18)), i32x4.shr_u(x, 3)); }
// @ts-ignore: decorator
@inline function s1(x: v128): v128 { return v128.xor(v128.xor(rotr(x, 17), rotr(x, 19)), i32x4.shr_u(x, 10)); }
// @ts-ignore: decorator
@inline function bswap(x: v128): v128 {
  return i8x16.shuffle(x, x, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
}

/** Loads 16 bytes at `off` from each of the four chunks, transposes, stores W and W+K (4 words). */
// @ts-ignore: decorator
@inline function load4(p0: usize, p1: usize, p2: usize, p3: usize, off: usize): void {
  const r0 = bswap(v128.load(p0 + off));
  const r1 = bswap(v128.load(p1 + off));
  const r2 = bswap(v128.load(p2 + off));
  const r3 = bswap(v128.load(p3 + off));
  const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const t2 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
  const w0 = i64x2.shuffle(t0, t2, 0, 2);
  const w1 = i64x2.shuffle(t0, t2, 1, 3);
  const w2 = i64x2.shuffle(t1, t3, 0, 2);
  const w3 = i64x2.shuffle(t1, t3, 1, 3);
  const o = off << 2; // word index off/4 → byte offset in the vector arrays (off/4 * 16)
  v128.store(W256X4 + o, w0, 0);
  v128.store(W256X4 + o, w1, 16);
  v128.store(W256X4 + o, w2, 32);
  v128.store(W256X4 + o, w3, 48);
  v128.store(WK256X4 + o, i32x4.add(w0, v128.load(K256X4 + o, 0)), 0);
  v128.store(WK256X4 + o, i32x4.add(w1, v128.load(K256X4 + o, 16)), 16);
  v128.store(WK256X4 + o, i32x4.add(w2, v128.load(K256X4 + o, 32)), 32);
  v128.store(WK256X4 + o, i32x4.add(w3, v128.load(K256X4 + o, 48)), 48);
}

function schedule4(p0: usize, p1: usize, p2: usize, p3: usize): void {
  load4(p0, p1, p2, p3, 0);
  load4(p0, p1, p2, p3, 16);
  load4(p0, p1, p2, p3, 32);
  load4(p0, p1, p2, p3, 48);
  for (let i: usize = 256; i < 1024; i += 32) {
    const p = W256X4 + i;
    const x0 = i32x4.add(
      i32x4.add(s1(v128.load(p - 32)), v128.load(p - 112)),
      i32x4.add(s0(v128.load(p - 240)), v128.load(p - 256)));
    v128.store(p, x0);
    const x1 = i32x4.add(
      i32x4.add(s1(v128.load(p - 16)), v128.load(p - 96)),
      i32x4.add(s0(v128.load(p - 224)), v128.load(p - 240)));
    v128.store(p, x1, 16);
    v128.store(WK256X4 + i, i32x4.add(x0, v128.load(K256X4 + i, 0)), 0);
    v128.store(WK256X4 + i, i32x4.add(x1, v128.load(K256X4 + i, 16)), 16);
  }
}

function compress4(st: usize, wk: usize): void {
  let a = v128.load(st, 0), b = v128.load(st, 16), c = v128.load(st, 32), d = v128.load(st, 48);
  let e = v128.load(st, 64), f = v128.load(st, 80), g = v128.load(st, 96), h = v128.load(st, 112);
  let t1: v128, ab: v128, bc = v128.xor(b, c);
  for (let p = wk, end = wk + 1024; p < end; p += 128) {
    t1 = i32x4.add(i32x4.add(h, v128.load(p, 0)), i32x4.add(S1(e), v128.bitselect(f, g, e)));
    ab = v128.xor(a, b);
    h = i32x4.add(t1, i32x4.add(S0(a), v128.xor(b, v128.and(ab, bc))));
    d = i32x4.add(d, t1); bc = ab;
    t1 = i32x4.add(i32x4.add(g, v128.load(p, 16)), i32x4.add(S1(d), v128.bitselect(e, f, d)));
    ab = v128.xor(h, a);
    g = i32x4.add(t1, i32x4.add(S0(h), v128.xor(a, v128.and(ab, bc))));
    c = i32x4.add(c, t1); bc = ab;
    t1 = i32x4.add(i32x4.add(f, v128.load(p, 32)), i32x4.add(S1(c), v128.bitselect(d, e, c)));
    ab = v128.xor(g, h);
    f = i32x4.add(t1, i32x4.add(S0(g), v128.xor(h, v128.and(ab, bc))));
    b = i32x4.add(b, t1); bc = ab;
    t1 = i32x4.add(i32x4.add(e, v128.load(p, 48)), i32x4.add(S1(b), v128.bitselect(c, d, b)));
    ab = v128.xor(f, g);
    e = i32x4.add(t1, i32x4.add(S0(f), v128.xor(g, v128.and(ab, bc))));
    a = i32x4.add(a, t1); bc = ab;
    t1 = i32x4.add(i32x4.add(d, v128.load(p, 64)), i32x4.add(S1(a), v128.bitselect(b, c, a)));
    ab = v128.xor(e, f);
    d = i32x4.add(t1, i32x4.add(S0(e), v128.xor(f, v128.and(ab, bc))));
    h = i32x4.add(h, t1); bc = ab;
    t1 = i32x4.add(i32x4.add(c, v128.load(p, 80)), i32x4.add(S1(h), v128.bitselect(a, b, h)));
    ab = v128.xor(d, e);
    c = i32x4.add(t1, i32x4.add(S0(d), v128.xor(e, v128.and(ab, bc))));
    g = i32x4.add(g, t1); bc = ab;
    t1 = i32x4.add(i32x4.add(b, v128.load(p, 96)), i32x4.add(S1(g), v128.bitselect(h, a, g)));
    ab = v128.xor(c, d);
    b = i32x4.add(t1, i32x4.add(S0(c), v128.xor(d, v128.and(ab, bc))));
    f = i32x4.add(f, t1); bc = ab;
    t1 = i32x4.add(i32x4.add(a, v128.load(p, 112)), i32x4.add(S1(f), v128.bitselect(g, h, f)));
    ab = v128.xor(b, c);
    a = i32x4.add(t1, i32x4.add(S0(b), v128.xor(c, v128.and(ab, bc))));
    e = i32x4.add(e, t1); bc = ab;

  }
  v128.store(st, i32x4.add(v128.load(st, 0), a), 0);
  v128.store(st, i32x4.add(v128.load(st, 16), b), 16);
  v128.store(st, i32x4.add(v128.load(st, 32), c), 32);
  v128.store(st, i32x4.add(v128.load(st, 48), d), 48);
  v128.store(st, i32x4.add(v128.load(st, 64), e), 64);
  v128.store(st, i32x4.add(v128.load(st, 80), f), 80);
  v128.store(st, i32x4.add(v128.load(st, 96), g), 96);
  v128.store(st, i32x4.add(v128.load(st, 112), h), 112);
}

/** Hashes the blocks at p0..p3 (configured length) and writes the first `lanes` digests to `out`. */
function group4(p0: usize, p1: usize, p2: usize, p3: usize, blockSize: usize, out: usize, lanes: usize): void {
  memory.copy(STATE256X4, PREFIX256X4, 128);
  for (let off: usize = 0; off < blockSize; off += 64) {
    schedule4(p0 + off, p1 + off, p2 + off, p3 + off);
    compress4(STATE256X4, WK256X4);
  }
  compress4(STATE256X4, PADWK256X4);
  for (let l: usize = 0; l < lanes; l++) {
    const o = out + (l << 5);
    const s = STATE256X4 + (l << 2);
    for (let i: usize = 0; i < 8; i++) store<u32>(o + (i << 2), bswap32(load<u32>(s + (i << 4))));
  }
}

/** `count` consecutive blocks of `blockSize` bytes at `src` → `count` digests at `out`. */
export function blocks256x4(src: usize, blockSize: usize, count: usize, out: usize): void {
  let n: usize = 0;
  for (; n + 4 <= count; n += 4) {
    const p = src + n * blockSize;
    group4(p, p + blockSize, p + 2 * blockSize, p + 3 * blockSize, blockSize, out + (n << 5), 4);
  }
  const rest = count - n;
  if (rest == 3) {
    const p = src + n * blockSize;
    group4(p, p + blockSize, p + 2 * blockSize, p + 2 * blockSize, blockSize, out + (n << 5), 3);
  } else {
    for (; n < count; n++) block256(src + n * blockSize, blockSize, out + (n << 5));
  }
}
