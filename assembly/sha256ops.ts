// The SHA-256 word functions, FIPS 180-4 §4.1.2 (Σ0, Σ1, σ0, σ1, Ch; Maj is written inline by its
// callers, which reuse a^b from the previous round). Shared by the scalar core (sha256.ts) and the
// generated chunk compression (build/assembly/sha256chunk.ts).

// @ts-ignore: decorator
@inline export function S0(x: u32): u32 { return rotr<u32>(x, 2) ^ rotr<u32>(x, 13) ^ rotr<u32>(x, 22); }
// @ts-ignore: decorator
@inline export function S1(x: u32): u32 { return rotr<u32>(x, 6) ^ rotr<u32>(x, 11) ^ rotr<u32>(x, 25); }
// @ts-ignore: decorator
@inline export function s0(x: u32): u32 { return rotr<u32>(x, 7) ^ rotr<u32>(x, 18) ^ (x >>> 3); }
// @ts-ignore: decorator
@inline export function s1(x: u32): u32 { return rotr<u32>(x, 17) ^ rotr<u32>(x, 19) ^ (x >>> 10); }
// @ts-ignore: decorator
@inline export function ch(e: u32, f: u32, g: u32): u32 { return g ^ (e & (f ^ g)); }
