// The SHA-512 word functions, FIPS 180-4 §4.1.3 (Σ0, Σ1, σ0, σ1, Ch; Maj is written inline by its
// callers, which reuse a^b from the previous round). Shared by the scalar core (sha512.ts) and the
// generated chunk compression (build/assembly/sha512chunk.ts).

// @ts-ignore: decorator
@inline export function S0(x: u64): u64 { return rotr<u64>(x, 28) ^ rotr<u64>(x, 34) ^ rotr<u64>(x, 39); }
// @ts-ignore: decorator
@inline export function S1(x: u64): u64 { return rotr<u64>(x, 14) ^ rotr<u64>(x, 18) ^ rotr<u64>(x, 41); }
// @ts-ignore: decorator
@inline export function s0(x: u64): u64 { return rotr<u64>(x, 1) ^ rotr<u64>(x, 8) ^ (x >>> 7); }
// @ts-ignore: decorator
@inline export function s1(x: u64): u64 { return rotr<u64>(x, 19) ^ rotr<u64>(x, 61) ^ (x >>> 6); }
// @ts-ignore: decorator
@inline export function ch(e: u64, f: u64, g: u64): u64 { return g ^ (e & (f ^ g)); }
