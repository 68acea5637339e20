/**
 * Worker-side hashing. Small files of one batch are read back to back into the hasher's buffer,
 * each padded to a block boundary, and their leaves hashed in ONE `hashBlocks` call: in the WASM
 * backends equal-length salted blocks from different files then share SIMD lanes, and per-file
 * work shrinks to open/fstat/read/close plus the few upper-level and descriptor hashes.
 */
import fs from 'node:fs';
import { acquireHasher, releaseHasher } from '../backends/index.js';
import type { BackendName } from '../backends/types.js';
import { fileChanged } from '../report/errors.js';
import { fromSystemError, fsErrnoError } from '../report/errno.js';
import type { VerityParams } from '../params.js';
import type { Hasher } from '../backends/types.js';
import { digestsOfMany, rootsOfMany } from '../merkle/many.js';
import { changeText, digestOpenFileSync } from '../merkle/file.js';
import { closeFile, openRegularFile } from '../fs/open.js';
import { statFd, type FileStat } from '../fs/stat.js';
import { errorToWire, paramsFromWire } from './wire.js';
import { BatchStore, type StoreItem } from './batch-store.js';
import { FileStatus, type ErrorWire, type FileBatchResult, type FileBatchTask, type RangeResult, type RangeTask } from './tasks.js';

/** Bytes of small-file data staged before one leaf `hashBlocks` call. */
const STAGE_BYTES = 4 << 20;
const PSEUDO_FILE = 'its size is 0 but it has content (a pseudo-file, as in /proc or /sys, has no stable content)';
/** Files up to this size go through the staged path; larger ones stream. */
const SMALL_FILE_MAX = 1 << 20;


interface Staged {
  readonly slot: number;
  readonly firstBlock: number;
  readonly blocks: number;
  readonly size: number;
}

/** Long on purpose: the hot loop of small files, staged into one SIMD call; splitting it would cost calls per file. */
export function hashFileBatch(task: FileBatchTask): FileBatchResult {
  const params = paramsFromWire(task.params);
  const D = params.alg.digestSize;
  const B = params.blockSize;
  const n = task.files.length;
  const digests = new Uint8Array(n * D);
  const sizes = new Float64Array(n);
  const inos = new BigUint64Array(n);
  const status = new Uint8Array(n);
  const errors: (ErrorWire | null)[] = new Array<ErrorWire | null>(n).fill(null);
  const keepTree = task.keepTree === true;
  // With keepTree: each slot's tree (joined into one buffer at the end) and root hash.
  const trees: (Uint8Array | undefined)[] | undefined = keepTree ? new Array<Uint8Array | undefined>(n) : undefined;
  const roots = keepTree ? new Uint8Array(n * D) : undefined;
  const stageBlocks = Math.max(1, Math.floor(STAGE_BYTES / B));
  const hasher = acquireHasher(task.backend, params);
  const store = task.store ? new BatchStore(task.store, n) : undefined;
  const fail = (slot: number, err: unknown) => {
    status[slot] = FileStatus.Failed;
    errors[slot] = errorToWire(err, task.files[slot]!.path);
  };
  try {
    let stage = hasher.inputBuffer(stageBlocks * B);
    let stagedBlocks = 0;
    let staged: Staged[] = [];
    const leafOut = new Uint8Array(stageBlocks * D);
    // One byte: enough to see that a file said to be empty has content.
    const probe = new Uint8Array(1);

    const flush = () => {
      if (staged.length === 0) return;
      hasher.hashBlocks(stage, B, stagedBlocks, leafOut, 0);
      let fileRoots: Uint8Array;
      if (trees) {
        fileRoots = new Uint8Array(staged.length * D);
        staged.forEach((s, i) => {
          const t = treeFromLeafDigests(params, hasher, leafOut.subarray(s.firstBlock * D, (s.firstBlock + s.blocks) * D), s.blocks);
          trees[s.slot] = t.tree;
          roots!.set(t.root, s.slot * D);
          fileRoots.set(t.root, i * D);
        });
      } else {
        // The levels above the leaves, and below the descriptors, of all staged files at once.
        fileRoots = rootsOfMany(params, hasher, leafOut, staged);
      }
      const fileDigests = digestsOfMany(params, hasher, staged.map((s) => s.size), fileRoots);
      staged.forEach((s, i) => digests.set(fileDigests.subarray(i * D, (i + 1) * D), s.slot * D));
      if (store) {
        // The staged bytes are still in the hasher's input region (upper levels and descriptors
        // hash through its copy region), so the objects are written from exactly what was hashed.
        const data = hasher.inputBuffer(stageBlocks * B);
        const items: StoreItem[] = staged.map((s) => ({
          slot: s.slot,
          hex: Buffer.from(digests.buffer, digests.byteOffset + s.slot * D, D).toString('hex'),
          data: data.subarray(s.firstBlock * B, s.firstBlock * B + s.size),
        }));
        store.storeAll(items, fail);
      }
      staged = [];
      stagedBlocks = 0;
      // Upper-level hashing may have reused the hasher's input region; take the stage view again.
      stage = hasher.inputBuffer(stageBlocks * B);
    };

    for (let slot = 0; slot < n; slot++) {
      const file = task.files[slot]!;
      const path = file.path;
      let fd = -1;
      try {
        // Relative to the listed directory, no symlink followed, the inode the listing saw.
        const opened = openRegularFile(file);
        fd = opened.fd;
        const before = opened.stat;
        const size = before.size;
        sizes[slot] = size;
        inos[slot] = before.ino;
        if (task.deferAbove > 0 && size > task.deferAbove) {
          status[slot] = FileStatus.Deferred;
          continue;
        }
        if (size > SMALL_FILE_MAX) {
          flush();
          const r = digestOpenFileSync(fd, before, path, { params, backend: task.backend as BackendName, keepTree });
          digests.set(r.digest, slot * D);
          sizes[slot] = r.size;
          if (trees) {
            trees[slot] = r.merkleTree ?? EMPTY;
            roots!.set(r.rootHash, slot * D);
          }
          continue;
        }
        const blocks = Math.ceil(size / B);
        if (stagedBlocks + blocks > stageBlocks) flush();
        const at = stagedBlocks * B;
        // Exactly `size` bytes: a file that grows or shrinks meanwhile shows in the second fstat.
        let got = 0;
        while (got < size) {
          const r = fs.readSync(fd, stage, at + got, size - got, got);
          if (r === 0) break;
          got += r;
        }
        // A file that says it is empty may still have content (pseudo-files in /proc, /sys).
        if (size === 0 && fs.readSync(fd, probe, 0, 1, 0) > 0) throw fileChanged(path, PSEUDO_FILE);
        const after = fstatOrThrow(fd, path);
        if (got !== size || after.size !== before.size || after.mtimeNs !== before.mtimeNs || after.ctimeNs !== before.ctimeNs)
          throw fileChanged(path, changeText(before.size, after.size, got));
        stage.fill(0, at + size, at + blocks * B);
        staged.push({ slot, firstBlock: stagedBlocks, blocks, size });
        stagedBlocks += blocks;
      } catch (err) {
        fail(slot, err);
      } finally {
        if (fd >= 0) closeFile(fd);
      }
    }
    flush();
  } finally {
    releaseHasher(hasher);
    store?.close();
  }
  const stored = store ? { stored: store.stored } : {};
  if (!trees) return { digests, sizes, inos, status, errors, ...stored };
  // One buffer for the whole batch: one transfer, not one per file.
  const treeEnds = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    if (status[i] === FileStatus.Ok) total += trees[i]?.length ?? 0;
    treeEnds[i] = total;
  }
  const joined = new Uint8Array(total);
  for (let i = 0, at = 0; i < n; i++) {
    const t = trees[i];
    if (status[i] !== FileStatus.Ok || !t) continue;
    joined.set(t, at);
    at += t.length;
  }
  return { digests, sizes, inos, status, errors, trees: joined, treeEnds, roots: roots!, ...stored };
}

const EMPTY = new Uint8Array(0);

/**
 * Root hash and Merkle tree of a small file from its leaf digests (already hashed in a batch):
 * the tree in the FS_IOC_READ_VERITY_METADATA layout — the level of one block (whose hash is the
 * root) first, the leaf level last, each level's digests packed into zero-padded blocks. Files of
 * 0 or 1 block have no tree (empty), as `fsverity digest --out-merkle-tree` writes for them.
 */
export function treeFromLeafDigests(params: VerityParams, hasher: Hasher, leaves: Uint8Array, count: number): { root: Uint8Array; tree: Uint8Array } {
  const D = params.alg.digestSize;
  const B = params.blockSize;
  if (count === 0) return { root: new Uint8Array(D), tree: EMPTY };
  if (count === 1) return { root: leaves.slice(0, D), tree: EMPTY };
  // Blocks per level, leaf level first; the top level has one block.
  const levelBlocks: number[] = [];
  for (let n = count; n > 1; ) {
    n = Math.ceil((n * D) / B);
    levelBlocks.push(n);
  }
  let total = 0;
  for (const b of levelBlocks) total += b * B;
  const tree = new Uint8Array(total);
  // Leaf level at the end; each level is hashed (in place, from the tree) into the one before it.
  let end = total;
  let level = leaves;
  let n = count;
  for (const blocks of levelBlocks) {
    const start = end - blocks * B;
    const packed = tree.subarray(start, end);
    packed.set(level.subarray(0, n * D));
    const next = new Uint8Array(blocks * D);
    hasher.hashBlocks(packed, B, blocks, next, 0);
    level = next;
    n = blocks;
    end = start;
  }
  return { root: level.slice(0, D), tree };
}

function fstatOrThrow(fd: number, path: string): FileStat {
  const st = statFd(fd);
  if (typeof st === 'number') throw fsErrnoError('stat', -st, path);
  return st;
}


/** Leaf digests of one block-aligned byte range of a file. */
export function hashRange(task: RangeTask): RangeResult {
  const params = paramsFromWire(task.params);
  const B = params.blockSize;
  const D = params.alg.digestSize;
  if (task.offset % B !== 0 || task.length % B !== 0)
    throw new RangeError(`range ${task.offset}+${task.length} is not aligned to ${B}-byte blocks`);
  const { fd, stat: st } = openRegularFile(task.file);
  const hasher = acquireHasher(task.backend, params);
  try {
    const maxBlocks = task.length / B;
    const leaves = new Uint8Array(maxBlocks * D);
    const chunkBlocks = Math.max(1, Math.floor((1 << 20) / B));
    let buf = hasher.inputBuffer(chunkBlocks * B);
    let pos = task.offset;
    const end = task.offset + task.length;
    let count = 0;
    let bytes = 0;
    while (pos < end) {
      const want = Math.min(buf.length, end - pos);
      let got = 0;
      while (got < want) {
        let r: number;
        try {
          r = fs.readSync(fd, buf, got, want - got, pos + got);
        } catch (err) {
          throw fromSystemError(err, task.file.path, 'read');
        }
        if (r === 0) break;
        got += r;
      }
      if (got === 0) break;
      const blocks = Math.ceil(got / B);
      buf.fill(0, got, blocks * B);
      hasher.hashBlocks(buf, B, blocks, leaves, count * D);
      buf = hasher.inputBuffer(chunkBlocks * B);
      count += blocks;
      bytes += got;
      pos += got;
      if (got < want) break;
    }
    return { leaves, count, bytes, size: st.size, mtimeNs: st.mtimeNs.toString(), ctimeNs: st.ctimeNs.toString(), ino: st.ino.toString() };
  } finally {
    releaseHasher(hasher);
    closeFile(fd);
  }
}
