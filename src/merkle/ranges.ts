/**
 * A large file hashed as byte ranges on several threads: how to cut it, and how to assemble its
 * Merkle tree from the ranges' leaf digests — bit-identical to hashing it in one pass, because
 * the leaf level is the same blocks in the same order and the levels above are built here by the
 * same builder (docs/FORMATS.md §1.2). The assembler also checks that every range read the same
 * version of the file (size, mtime, ctime, inode) and the size it was cut for; anything else
 * would be the digest of no version of it.
 */
import type { Hasher } from '../backends/types.js';
import type { VerityParams } from '../params.js';
import { fileChanged, type VeritreeError } from '../report/errors.js';
import { MerkleTreeBuilder, type TreeResult } from './tree.js';

// Big enough that a range's messaging is noise (~5 ms of hashing at 8 MiB), small enough that the
// last ranges, queued on one worker while another idles, end together.
const RANGE_MIN = 4 << 20;
const RANGE_MAX = 8 << 20;

/** Block-aligned ranges for a file of `size` bytes over `threads` workers: bytes per range, count. */
export function planRanges(size: number, blockSize: number, threads: number): { readonly rangeBytes: number; readonly count: number } {
  const rangeBytes = Math.min(RANGE_MAX, Math.max(RANGE_MIN, Math.floor(size / (threads * 4) / blockSize) * blockSize));
  return { rangeBytes, count: Math.ceil(size / rangeBytes) || 1 };
}

/** What a worker reports of one range: its leaf digests and the file's identity as it read it. */
export interface RangeLeaves {
  readonly leaves: Uint8Array;
  readonly count: number;
  /** Data bytes read in this range. */
  readonly bytes: number;
  readonly size: number;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
  readonly ino: string;
}

/** The identity a range (or a final stat) saw, as one comparable string. */
export function identityKey(st: { size: number; mtimeNs: bigint | string; ctimeNs: bigint | string; ino: bigint | string }): string {
  return `${st.size}/${st.mtimeNs}/${st.ctimeNs}/${st.ino}`;
}

/** Takes ranges in any order, feeds them to the builder in file order, and judges the result. */
export class RangeAssembler {
  readonly #builder: MerkleTreeBuilder;
  readonly #pending = new Map<number, RangeLeaves>();
  readonly #path: string;
  readonly #size: number;
  #next = 0;
  #identity: string | undefined;
  #failure: VeritreeError | undefined;

  /** `size`: what the file measured when it was listed (the ranges were cut for it). */
  constructor(params: VerityParams, hasher: Hasher, path: string, size: number, keepTree: boolean) {
    this.#builder = new MerkleTreeBuilder(params, hasher, { keepTree });
    this.#path = path;
    this.#size = size;
  }

  get failure(): VeritreeError | undefined {
    return this.#failure;
  }

  /** The first failure wins (a range that could not be read, an interrupt). */
  fail(e: VeritreeError): void {
    this.#failure ??= e;
  }

  add(index: number, r: RangeLeaves): void {
    this.#pending.set(index, r);
    for (let p = this.#pending.get(this.#next); p; p = this.#pending.get(this.#next)) {
      this.#pending.delete(this.#next);
      this.#next++;
      const id = identityKey(p);
      if (this.#identity === undefined) this.#identity = id;
      else if (id !== this.#identity) this.fail(fileChanged(this.#path, 'size, mtime or inode differ between ranges'));
      if (p.size !== this.#size) this.fail(fileChanged(this.#path, `size ${this.#size} when listed, ${p.size} when read`));
      if (!this.#failure) this.#builder.addLeafDigests(p.leaves, p.count, p.bytes);
    }
  }

  /**
   * The tree, once every range is in; `now` is the file's identity after the last read (a write
   * during the last reads shows only there), or undefined if it could not be had.
   */
  finish(now: string | undefined): TreeResult | VeritreeError {
    if (!this.#failure && this.#builder.dataSize !== this.#size) this.fail(fileChanged(this.#path, `size ${this.#size} when listed, ${this.#builder.dataSize} bytes read`));
    if (!this.#failure && now !== this.#identity) this.fail(fileChanged(this.#path, 'modified while its ranges were read'));
    return this.#failure ?? this.#builder.digest();
  }
}
