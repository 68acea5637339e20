/**
 * Roots and file digests of many small files at once, from their leaf digests: each level of
 * every file is packed into one buffer and hashed in ONE `hashBlocks` call, then every file's
 * 256-byte descriptor in another. The SIMD backends hash four blocks at a time (SHA-256; two for
 * SHA-512) and fall back to the scalar core for a lone block, so the level above a file's leaves —
 * a single block for any file of 2 to B/D blocks — costs a scalar hash when done file by file,
 * and most of a tree of small files is exactly that.
 *
 * Spec: docs/FORMATS.md §1.2 (each level's digests packed into zero-padded B-byte blocks, hashed
 * like data blocks, until one digest remains: the root; 0 blocks → all-zero root, 1 block → its
 * digest) and §1.3 (file digest = plain hash of the descriptor, never salted).
 */
import type { Hasher } from '../backends/types.js';
import type { VerityParams } from '../params.js';
import { buildDescriptor, DESC, DESCRIPTOR_SIZE } from './descriptor.js';

export interface LeafRun {
  /** Index of the file's first leaf digest in the leaf digest buffer. */
  readonly firstBlock: number;
  /** The file's data blocks (0 for an empty file). */
  readonly blocks: number;
}

/** Root hash of each file (`files.length × D` bytes), its leaf digests in `leaves`. */
export function rootsOfMany(params: VerityParams, hasher: Hasher, leaves: Uint8Array, files: readonly LeafRun[]): Uint8Array {
  const D = params.alg.digestSize;
  const B = params.blockSize;
  const n = files.length;
  const roots = new Uint8Array(n * D);
  // Where each file's digests of the current level are, and how many.
  let level = leaves;
  const at = files.map((f) => f.firstBlock * D);
  const count = files.map((f) => f.blocks);
  let packed = new Uint8Array(0);
  for (;;) {
    let total = 0;
    for (let i = 0; i < n; i++) {
      if (count[i]! > 1) total += Math.ceil((count[i]! * D) / B);
      else if (count[i] === 1) {
        roots.set(level.subarray(at[i]!, at[i]! + D), i * D);
        count[i] = 0;
      }
    }
    if (total === 0) return roots;
    if (packed.length < total * B) packed = new Uint8Array(total * B);
    else packed.fill(0, 0, total * B);
    let block = 0;
    for (let i = 0; i < n; i++) {
      if (count[i]! <= 1) continue;
      const blocks = Math.ceil((count[i]! * D) / B);
      packed.set(level.subarray(at[i]!, at[i]! + count[i]! * D), block * B);
      at[i] = block * D;
      count[i] = blocks;
      block += blocks;
    }
    const next = new Uint8Array(total * D);
    hasher.hashBlocks(packed, B, total, next, 0);
    level = next;
  }
}

/** fs-verity digest of each file (`sizes.length × D` bytes) from its data size and root hash. */
export function digestsOfMany(params: VerityParams, hasher: Hasher, sizes: readonly number[], roots: Uint8Array): Uint8Array {
  const D = params.alg.digestSize;
  const n = sizes.length;
  const out = new Uint8Array(n * D);
  const template = buildDescriptor(params, 0, new Uint8Array(D));
  const descs = new Uint8Array(n * DESCRIPTOR_SIZE);
  const view = new DataView(descs.buffer);
  for (let i = 0; i < n; i++) {
    const base = i * DESCRIPTOR_SIZE;
    descs.set(template, base);
    view.setUint32(base + DESC.dataSize, sizes[i]! % 2 ** 32, true);
    view.setUint32(base + DESC.dataSize + 4, Math.floor(sizes[i]! / 2 ** 32), true);
    descs.set(roots.subarray(i * D, (i + 1) * D), base + DESC.rootHash);
  }
  if (params.salt.length === 0) {
    // Unsalted, a "block" hash is the plain hash of the block: 256-byte blocks are descriptors.
    hasher.hashBlocks(descs, DESCRIPTOR_SIZE, n, out, 0);
  } else {
    for (let i = 0; i < n; i++) out.set(hasher.hash(descs.subarray(i * DESCRIPTOR_SIZE, (i + 1) * DESCRIPTOR_SIZE)), i * D);
  }
  return out;
}
