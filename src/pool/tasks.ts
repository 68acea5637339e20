/**
 * The messages between the scheduler (main thread) and pool workers. Results carry their bulk data
 * in ArrayBuffers that are transferred, not copied (piscina `move`).
 */
import type { BackendName } from '../backends/types.js';
import type { FileRef } from '../fs/open.js';
import type { RangeLeaves } from '../merkle/ranges.js';
import type { HashAlg } from '../params.js';

/** Verity parameters in a cloneable form (a worker resolves them once per key). */
export interface ParamsWire {
  readonly hashAlg: HashAlg;
  readonly blockSize: number;
  readonly saltHex: string;
}

export interface ErrorWire {
  readonly code: string;
  readonly message: string;
  readonly path: string;
  readonly errno?: string;
  /** The message of what caused it (a system error's own words). */
  readonly cause?: string;
}

/**
 * Store the batch's files as they are hashed, from the very bytes hashed (no second read): each
 * under its digest's lowercase hex split after the first byte (`XX/<rest>`, the composefs and
 * composefs-rs object layout, docs/FORMATS.md §4.1), below `dirfd`, written with fs/publish.ts.
 * Only files staged in memory are stored here (up to 1 MiB); larger ones come back unstored.
 */
export interface StoreWire {
  /** The store's directory, a descriptor of this process (opened by the main thread). */
  readonly dirfd: number;
  /** The store's path, for messages. */
  readonly path: string;
  /** `fsync`: each object; `syncfs`: one syncfs(2) per batch before any object is named; `none`. */
  readonly durability: 'fsync' | 'syncfs' | 'none';
  /** Object mode (0644) and fan-out directory mode (0755), exact whatever the umask. */
  readonly fileMode: number;
  readonly dirMode: number;
}

export const enum StoredAs {
  /** Not stored by the worker (no store asked, failed, or too large to be staged). */
  None = 0,
  Added = 1,
  /** The name was there already (same content: content-addressed). */
  Existing = 2,
}

/** Many small files per task so messaging cost is amortised over the batch. */
export interface FileBatchTask {
  readonly kind: 'files';
  readonly params: ParamsWire;
  readonly backend: BackendName;
  /** Where each file is: a name relative to a directory descriptor of this process (src/fs). */
  readonly files: readonly FileRef[];
  /** Files larger than this are not hashed but returned as `deferred` (0: hash everything). */
  readonly deferAbove: number;
  /** Also return each file's Merkle tree and root hash (`trees`, `treeEnds`, `roots`). */
  readonly keepTree?: boolean;
  /** Also store each file in this content-addressed store (`stored` says what happened). */
  readonly store?: StoreWire;
}

export const enum FileStatus {
  Ok = 0,
  Failed = 1,
  /** Too large for one task: the scheduler splits it into byte ranges. */
  Deferred = 2,
}

export interface FileBatchResult {
  /** `paths.length × digestSize` bytes; slot i is valid when status[i] is Ok. */
  readonly digests: Uint8Array;
  /** File size per slot (also set for Deferred). */
  readonly sizes: Float64Array;
  /** Per slot: the inode opened (Deferred files' ranges must open the same one). */
  readonly inos: BigUint64Array;
  readonly status: Uint8Array;
  /** Per slot: an error when Failed, else null. */
  readonly errors: (ErrorWire | null)[];
  /**
   * With `keepTree`: every Ok slot's Merkle tree (FS_IOC_READ_VERITY_METADATA layout, root level
   * first; empty for files of 0 or 1 block), back to back in slot order; slot i's tree ends at
   * `treeEnds[i]` and starts where slot i-1's ended (0 for slot 0). One buffer, transferred.
   */
  readonly trees?: Uint8Array;
  readonly treeEnds?: Float64Array;
  /** With `keepTree`: `paths.length × digestSize` bytes, slot i's root hash (for its descriptor). */
  readonly roots?: Uint8Array;
  /** With `store`: a StoredAs per slot. */
  readonly stored?: Uint8Array;
}

/** One byte range of a large file: its leaf-level digests. `offset` and `length` are block-aligned. */
export interface RangeTask {
  readonly kind: 'range';
  readonly params: ParamsWire;
  readonly backend: BackendName;
  readonly file: FileRef;
  readonly offset: number;
  /** Bytes to hash; the last range may end at EOF before `offset + length`. */
  readonly length: number;
}

/** One range's leaf digests and the file's identity as the worker read it (merkle/ranges.ts). */
export type RangeResult = RangeLeaves;

export type PoolTask = FileBatchTask | RangeTask;

/**
 * A task as posted to a worker: with a flag (shared memory, one Int32) the worker sets when it
 * starts running it. A worker holds a few tasks at once, so when it dies the pool can tell the task
 * that was running from those merely queued behind it.
 */
export type PostedTask = PoolTask & { readonly started?: Int32Array };
