/**
 * Streaming fs-verity Merkle tree builder.
 *
 * Spec: docs/FORMATS.md §1.2 (fsverity-utils `lib/compute_digest.c`, kernel
 * `Documentation/filesystems/fsverity.rst` "Merkle tree"):
 *  - data split into B-byte blocks, the last zero-padded; each hashed as H(paddedSalt || block);
 *  - each level's digests packed into B-byte blocks (last zero-padded) and hashed the same way,
 *    until one hash remains: the root. Empty file → all-zero root; one block → root = its hash.
 *
 * Memory: one leaf batch (~1 MiB, hashed in one `hashBlocks` call so SIMD lanes stay full) plus
 * one B-byte block per level — never the file. The tree bytes are kept only when asked for, in
 * the `FS_IOC_READ_VERITY_METADATA` layout (root level first, leaf level last).
 */
import type { VerityParams } from '../params.js';
import type { Hasher } from '../backends/types.js';
import { buildDescriptor } from './descriptor.js';

/** Leaf bytes hashed per `hashBlocks` call: big enough to amortise the call, small enough for L2. */
export const LEAF_BATCH_BYTES = 1 << 20;

export interface TreeBuilderOptions {
  /** Keep the Merkle tree bytes (costs size/128 of memory for SHA-256/4K). */
  keepTree?: boolean;
}

export interface TreeResult {
  readonly dataSize: number;
  readonly rootHash: Uint8Array;
  readonly descriptor: Uint8Array;
  /** fs-verity file digest = H(descriptor). */
  readonly digest: Uint8Array;
  /** Present when `keepTree` was set; empty for files of 0 or 1 block. */
  readonly merkleTree?: Uint8Array;
}

interface Level {
  /** Pending digests of this level, packed toward one B-byte block. */
  readonly block: Uint8Array;
  fill: number;
  /** Digests ever appended to this level. */
  count: number;
  /** Completed blocks of this level (only with keepTree). */
  readonly blocks: Uint8Array[];
}

export class MerkleTreeBuilder {
  readonly params: VerityParams;
  readonly #hasher: Hasher;
  readonly #keepTree: boolean;
  readonly #B: number;
  readonly #D: number;
  readonly #batchBlocks: number;
  #leaf: Uint8Array;
  #leafFill = 0;
  readonly #leafOut: Uint8Array;
  readonly #levels: Level[] = [];
  #dataSize = 0;
  #done = false;

  /** The builder uses `hasher` exclusively until `digest()` returns. */
  constructor(params: VerityParams, hasher: Hasher, opts: TreeBuilderOptions = {}) {
    if (hasher.alg.name !== params.alg.name) throw new TypeError(`hasher is ${hasher.alg.name}, params want ${params.alg.name}`);
    this.params = params;
    this.#hasher = hasher;
    this.#keepTree = opts.keepTree === true;
    this.#B = params.blockSize;
    this.#D = params.alg.digestSize;
    this.#batchBlocks = Math.max(1, Math.floor(LEAF_BATCH_BYTES / this.#B));
    this.#leaf = hasher.inputBuffer(this.#batchBlocks * this.#B);
    this.#leafOut = new Uint8Array(this.#batchBlocks * this.#D);
  }

  get dataSize(): number {
    return this.#dataSize;
  }

  /**
   * The free part of the pending leaf buffer, for callers that read file data straight into it
   * (no copy). Follow with `advance(bytesWritten)`.
   */
  window(): Uint8Array {
    return this.#leaf.subarray(this.#leafFill);
  }

  advance(n: number): void {
    if (this.#done) throw new Error('MerkleTreeBuilder: digest() already called');
    if (!Number.isInteger(n) || n < 0 || this.#leafFill + n > this.#leaf.length)
      throw new RangeError(`advance(${n}) exceeds the window of ${this.#leaf.length - this.#leafFill} bytes`);
    this.#leafFill += n;
    this.#dataSize += n;
    if (this.#leafFill === this.#leaf.length) this.#flushLeaves(this.#batchBlocks);
  }

  update(data: Uint8Array): this {
    let off = 0;
    // Whole batches straight from the caller's bytes when nothing is pending: no copy through
    // the leaf buffer (the node-crypto backend hashes in place; WASM copies into its memory anyway).
    if (this.#leafFill === 0 && !this.#done) {
      const batchBytes = this.#batchBlocks * this.#B;
      while (data.length - off >= batchBytes) {
        this.#hasher.hashBlocks(data.subarray(off, off + batchBytes), this.#B, this.#batchBlocks, this.#leafOut, 0);
        this.#leaf = this.#hasher.inputBuffer(batchBytes);
        this.#dataSize += batchBytes;
        off += batchBytes;
        const D = this.#D;
        for (let i = 0; i < this.#batchBlocks; i++) this.#append(0, this.#leafOut.subarray(i * D, (i + 1) * D));
      }
    }
    while (off < data.length) {
      const win = this.window();
      const n = Math.min(win.length, data.length - off);
      win.set(data.subarray(off, off + n));
      off += n;
      this.advance(n);
    }
    return this;
  }

  #flushLeaves(blocks: number): void {
    this.#hasher.hashBlocks(this.#leaf, this.#B, blocks, this.#leafOut, 0);
    this.#leafFill = 0;
    // The leaf region may have been replaced (WASM memory growth); re-take our view.
    this.#leaf = this.#hasher.inputBuffer(this.#batchBlocks * this.#B);
    const D = this.#D;
    for (let i = 0; i < blocks; i++) this.#append(0, this.#leafOut.subarray(i * D, (i + 1) * D));
  }

  #level(k: number): Level {
    let level = this.#levels[k];
    if (!level) {
      level = { block: new Uint8Array(this.#B), fill: 0, count: 0, blocks: [] };
      this.#levels[k] = level;
    }
    return level;
  }

  #append(k: number, digest: Uint8Array): void {
    const level = this.#level(k);
    level.block.set(digest, level.fill);
    level.fill += this.#D;
    level.count++;
    if (level.fill + this.#D > this.#B) this.#hashLevelBlock(k, level);
  }

  /** Hashes level k's pending block (zero-padded) into level k+1. */
  #hashLevelBlock(k: number, level: Level): void {
    level.block.fill(0, level.fill);
    const out = new Uint8Array(this.#D);
    this.#hasher.hashBlocks(level.block, this.#B, 1, out, 0);
    if (this.#keepTree) level.blocks.push(level.block.slice());
    level.fill = 0;
    // The hasher's input region may hold a copy of this block now; the leaf buffer is re-taken.
    this.#leaf = this.#hasher.inputBuffer(this.#batchBlocks * this.#B);
    this.#append(k + 1, out);
  }

  /**
   * Feeds leaf digests computed elsewhere (pool workers hashing byte ranges of one file) as if
   * `dataBytes` of data had been hashed here. Only valid on block boundaries: no pending data.
   */
  addLeafDigests(digests: Uint8Array, count: number, dataBytes: number): void {
    if (this.#done) throw new Error('MerkleTreeBuilder: digest() already called');
    if (this.#leafFill !== 0 || this.#dataSize % this.#B !== 0)
      throw new RangeError('addLeafDigests: pending data is not on a block boundary');
    if (digests.length < count * this.#D) throw new RangeError(`addLeafDigests: ${digests.length} bytes for ${count} digests`);
    const D = this.#D;
    for (let i = 0; i < count; i++) this.#append(0, digests.subarray(i * D, (i + 1) * D));
    this.#dataSize += dataBytes;
  }

  digest(): TreeResult {
    const tree = this.finish();
    return { ...tree, digest: this.#hasher.hash(tree.descriptor) };
  }

  /** Completes the tree without hashing the descriptor (callers that batch descriptor hashes). */
  finish(): Omit<TreeResult, 'digest'> {
    if (this.#done) throw new Error('MerkleTreeBuilder: digest() already called');
    this.#done = true;
    if (this.#leafFill > 0) {
      const blocks = Math.ceil(this.#leafFill / this.#B);
      this.#leaf.fill(0, this.#leafFill, blocks * this.#B);
      this.#flushLeaves(blocks);
    }
    let rootHash: Uint8Array = new Uint8Array(this.#D);
    for (let k = 0; k < this.#levels.length; k++) {
      const level = this.#levels[k]!;
      if (level.count === 1) {
        rootHash = level.block.slice(0, this.#D);
        break;
      }
      if (level.fill > 0) this.#hashLevelBlock(k, level);
    }
    const descriptor = buildDescriptor(this.params, this.#dataSize, rootHash);
    return { dataSize: this.#dataSize, rootHash, descriptor, ...(this.#keepTree ? { merkleTree: this.#treeBytes() } : {}) };
  }

  #treeBytes(): Uint8Array {
    let total = 0;
    for (const l of this.#levels) total += l.blocks.length * this.#B;
    const tree = new Uint8Array(total);
    let off = 0;
    for (let k = this.#levels.length - 1; k >= 0; k--) {
      for (const b of this.#levels[k]!.blocks) {
        tree.set(b, off);
        off += this.#B;
      }
    }
    return tree;
  }
}

/**
 * Root hash from the leaf digests of a small file already in memory (no tree kept): the batch path
 * for many small files, whose leaves were hashed together in one `hashBlocks` call.
 * `scratch` must hold ceil(count / (B/D)) blocks of B bytes; `leaves` is not modified.
 */
export function rootFromLeafDigests(params: VerityParams, hasher: Hasher, leaves: Uint8Array, count: number, scratch: Uint8Array): Uint8Array {
  const D = params.alg.digestSize;
  const B = params.blockSize;
  if (count === 0) return new Uint8Array(D);
  let level = leaves;
  let n = count;
  while (n > 1) {
    const blocks = Math.ceil((n * D) / B);
    const packed = scratch.subarray(0, blocks * B);
    packed.set(level.subarray(0, n * D));
    packed.fill(0, n * D);
    const next = new Uint8Array(blocks * D);
    hasher.hashBlocks(packed, B, blocks, next, 0);
    level = next;
    n = blocks;
  }
  return level.slice(0, D);
}
