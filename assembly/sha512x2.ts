// SHA-512 over two independent messages at once, one per i64x2 lane; same structure as
// sha256x4.ts (schedule pass storing W+K, then 80 rounds with only state + temporaries live).

import { K512 } from './constants';
import { PREFIX512, PADWK512, block512 } from './sha512';
import { bswap64 } from './common';

const K512X2: usize = memory.data(1280, 16);
const PREFIX512X2: usize = memory.data(128, 16);
const PADWK512X2: usize = memory.data(1280, 16);
const STATE512X2: usize = memory.data(128, 16);
const W512X2: usize = memory.data(1280, 16);
const WK512X2: usize = memory.data(1280, 16);

for (let i: usize = 0; i < 80; i++) v128.store(K512X2 + (i << 4), i64x2.splat(load<u64>(K512 + (i << 3))));

/** Call after setup512: broadcasts the prefix state and the padding block's W+K to the lanes. */
export function setup512x2(): void {
  for (let i: usize = 0; i < 8; i++) v128.store(PREFIX512X2 + (i << 4), i64x2.splat(load<u64>(PREFIX512 + (i << 3))));
  for (let i: usize = 0; i < 80; i++) v128.store(PADWK512X2 + (i << 4), i64x2.splat(load<u64>(PADWK512 + (i << 3))));
}

// @ts-ignore: decorator
@inline function rotr(x: v128, n: i32): v128 { return v128.or(i64x2.shr_u(x, n), i64x2.shl(x, 64 - n)); }
// @ts-ignore: decorator
@inline function rotr8(x: v128): v128 {
  return i8x16.shuffle(x, x, 1, 2, 3, 4, 5, 6, 7, 0, 9, 10, 11, 12, 13, 14, 15, 8);
}
// @ts-ignore: decorator
@inline function S0(x: v128): v128 { return v128.xor(v128.xor(rotr(x, 28), rotr(x, 34)), rotr(x, 39)); }
// @ts-ignore: decorator
@inline function S1(x: v128): v128 { return v128.xor(v128.xor(rotr(x, 14), rotr(x, 18)), rotr(x, 41)); }
// @ts-ignore: decorator
@inline function s0(x: v128): v128 { return v128.xor(v128.xor(rotr(x, 1), rotr8(x)), i64x2.shr_u(x, 7)); }
// @ts-ignore: decorator
@inline function s1(x: v128): v128 { return v128.xor(v128.xor(rotr(x, 19), rotr(x, 61)), i64x2.shr_u(x, 6)); }
// @ts-ignore: decorator
@inline function bswap(x: v128): v128 {
  return i8x16.shuffle(x, x, 7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8);
}

/** Loads 16 bytes at `off` from both chunks, transposes, stores W and W+K (2 words). */
// @ts-ignore: decorator
@inline function load2(p0: usize, p1: usize, off: usize): void {
  const r0 = bswap(v128.load(p0 + off));
  const r1 = bswap(v128.load(p1 + off));
  const w0 = i64x2.shuffle(r0, r1, 0, 2);
  const w1 = i64x2.shuffle(r0, r1, 1, 3);
  const o = off << 1; // word index off/8 → byte offset off/8 * 16
  v128.store(W512X2 + o, w0, 0);
  v128.store(W512X2 + o, w1, 16);
  v128.store(WK512X2 + o, i64x2.add(w0, v128.load(K512X2 + o, 0)), 0);
  v128.store(WK512X2 + o, i64x2.add(w1, v128.load(K512X2 + o, 16)), 16);
}

function schedule2(p0: usize, p1: usize): void {
  load2(p0, p1, 0);
  load2(p0, p1, 16);
  load2(p0, p1, 32);
  load2(p0, p1, 48);
  load2(p0, p1, 64);
  load2(p0, p1, 80);
  load2(p0, p1, 96);
  load2(p0, p1, 112);
  for (let i: usize = 256; i < 1280; i += 32) {
    const p = W512X2 + i;
    const x0 = i64x2.add(
      i64x2.add(s1(v128.load(p - 32)), v128.load(p - 112)),
      i64x2.add(s0(v128.load(p - 240)), v128.load(p - 256)));
    v128.store(p, x0);
    const x1 = i64x2.add(
      i64x2.add(s1(v128.load(p - 16)), v128.load(p - 96)),
      i64x2.add(s0(v128.load(p - 224)), v128.load(p - 240)));
    v128.store(p, x1, 16);
    v128.store(WK512X2 + i, i64x2.add(x0, v128.load(K512X2 + i, 0)), 0);
    v128.store(WK512X2 + i, i64x2.add(x1, v128.load(K512X2 + i, 16)), 16);
  }
}

function compress2(st: usize, wk: usize): void {
  let a = v128.load(st, 0), b = v128.load(st, 16), c = v128.load(st, 32), d = v128.load(st, 48);
  let e = v128.load(st, 64), f = v128.load(st, 80), g = v128.load(st, 96), h = v128.load(st, 112);
  let t1: v128, ab: v128, bc = v128.xor(b, c);
  for (let p = wk, end = wk + 1280; p < end; p += 128) {
    t1 = i64x2.add(i64x2.add(h, v128.load(p, 0)), i64x2.add(S1(e), v128.bitselect(f, g, e)));
    ab = v128.xor(a, b);
    h = i64x2.add(t1, i64x2.add(S0(a), v128.xor(b, v128.and(ab, bc))));
    d = i64x2.add(d, t1); bc = ab;
    t1 = i64x2.add(i64x2.add(g, v128.load(p, 16)), i64x2.add(S1(d), v128.bitselect(e, f, d)));
    ab = v128.xor(h, a);
    g = i64x2.add(t1, i64x2.add(S0(h), v128.xor(a, v128.and(ab, bc))));
    c = i64x2.add(c, t1); bc = ab;
    t1 = i64x2.add(i64x2.add(f, v128.load(p, 32)), i64x2.add(S1(c), v128.bitselect(d, e, c)));
    ab = v128.xor(g, h);
    f = i64x2.add(t1, i64x2.add(S0(g), v128.xor(h, v128.and(ab, bc))));
    b = i64x2.add(b, t1); bc = ab;
    t1 = i64x2.add(i64x2.add(e, v128.load(p, 48)), i64x2.add(S1(b), v128.bitselect(c, d, b)));
    ab = v128.xor(f, g);
    e = i64x2.add(t1, i64x2.add(S0(f), v128.xor(g, v128.and(ab, bc))));
    a = i64x2.add(a, t1); bc = ab;
    t1 = i64x2.add(i64x2.add(d, v128.load(p, 64)), i64x2.add(S1(a), v128.bitselect(b, c, a)));
    ab = v128.xor(e, f);
    d = i64x2.add(t1, i64x2.add(S0(e), v128.xor(f, v128.and(ab, bc))));
    h = i64x2.add(h, t1); bc = ab;
    t1 = i64x2.add(i64x2.add(c, v128.load(p, 80)), i64x2.add(S1(h), v128.bitselect(a, b, h)));
    ab = v128.xor(d, e);
    c = i64x2.add(t1, i64x2.add(S0(d), v128.xor(e, v128.and(ab, bc))));
    g = i64x2.add(g, t1); bc = ab;
    t1 = i64x2.add(i64x2.add(b, v128.load(p, 96)), i64x2.add(S1(g), v128.bitselect(h, a, g)));
    ab = v128.xor(c, d);
    b = i64x2.add(t1, i64x2.add(S0(c), v128.xor(d, v128.and(ab, bc))));
    f = i64x2.add(f, t1); bc = ab;
    t1 = i64x2.add(i64x2.add(a, v128.load(p, 112)), i64x2.add(S1(f), v128.bitselect(g, h, f)));
    ab = v128.xor(b, c);
    a = i64x2.add(t1, i64x2.add(S0(b), v128.xor(c, v128.and(ab, bc))));
    e = i64x2.add(e, t1); bc = ab;

  }
  v128.store(st, i64x2.add(v128.load(st, 0), a), 0);
  v128.store(st, i64x2.add(v128.load(st, 16), b), 16);
  v128.store(st, i64x2.add(v128.load(st, 32), c), 32);
  v128.store(st, i64x2.add(v128.load(st, 48), d), 48);
  v128.store(st, i64x2.add(v128.load(st, 64), e), 64);
  v128.store(st, i64x2.add(v128.load(st, 80), f), 80);
  v128.store(st, i64x2.add(v128.load(st, 96), g), 96);
  v128.store(st, i64x2.add(v128.load(st, 112), h), 112);
}

function group2(p0: usize, p1: usize, blockSize: usize, out: usize): void {
  memory.copy(STATE512X2, PREFIX512X2, 128);
  for (let off: usize = 0; off < blockSize; off += 128) {
    schedule2(p0 + off, p1 + off);
    compress2(STATE512X2, WK512X2);
  }
  compress2(STATE512X2, PADWK512X2);
  for (let l: usize = 0; l < 2; l++) {
    const o = out + (l << 6);
    const s = STATE512X2 + (l << 3);
    for (let i: usize = 0; i < 8; i++) store<u64>(o + (i << 3), bswap64(load<u64>(s + (i << 4))));
  }
}

/** `count` consecutive blocks of `blockSize` bytes at `src` → `count` digests at `out`. */
export function blocks512x2(src: usize, blockSize: usize, count: usize, out: usize): void {
  let n: usize = 0;
  for (; n + 2 <= count; n += 2) {
    const p = src + n * blockSize;
    group2(p, p + blockSize, blockSize, out + (n << 6));
  }
  if (n < count) block512(src + n * blockSize, blockSize, out + (n << 6));
}
