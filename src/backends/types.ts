/**
 * The one small interface every hashing backend implements (hash-wasm style): hash N equal-length
 * blocks, each prefixed by the padded salt (docs/FORMATS.md §1.2 step 1), into N concatenated digests.
 * That single operation is all the Merkle tree needs; the descriptor uses `hash()`.
 */
import type { HashAlgInfo } from '../params.js';

export type BackendName = 'wasm-simd' | 'wasm-scalar' | 'node-crypto' | 'noble';
export const BACKEND_NAMES: readonly BackendName[] = ['wasm-simd', 'wasm-scalar', 'node-crypto', 'noble'];

export interface Hasher {
  readonly backend: BackendName;
  readonly alg: HashAlgInfo;
  /** Bytes every hashed block is prefixed with (empty when there is no salt). */
  readonly paddedSalt: Uint8Array;
  /**
   * Hash `count` consecutive blocks of `blockSize` bytes from `input` (starting at byte 0), each as
   * H(paddedSalt || block), writing `count * digestSize` bytes to `out` at `outOffset`.
   * `input.length` must be ≥ count × blockSize.
   */
  hashBlocks(input: Uint8Array, blockSize: number, count: number, out: Uint8Array, outOffset: number): void;
  /**
   * A buffer of at least `bytes` bytes that `hashBlocks` reads without copying (WASM backends hand
   * out a view of their linear memory). Valid until the next `inputBuffer` call on this hasher.
   * The caller may fill it and pass it (or a prefix of it) straight back to `hashBlocks`.
   */
  inputBuffer(bytes: number): Uint8Array;
  /** Plain one-shot hash without salt (used for the 256-byte descriptor). */
  hash(data: Uint8Array): Uint8Array;
}

export interface HasherFactory {
  readonly backend: BackendName;
  /** False where this backend cannot run on this host (e.g. no WASM SIMD). */
  available(): boolean;
  create(alg: HashAlgInfo, paddedSalt: Uint8Array): Hasher;
}
