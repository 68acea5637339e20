/**
 * fs-verity digests of files, byte arrays and streams: open → read in ~1 MiB windows → tree
 * builder → result. The sync path reads straight into the hasher's buffer (used on pool workers
 * and by the single-threaded CLI); the async path never blocks the event loop.
 *
 * A file is refused unless it is a regular file, and checked again after reading: if its size or
 * mtime moved while it was hashed the digest would describe no version of it, so that is an error.
 */
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { resolveParams, type HashAlg, type VerityParams, type VerityParamsInput } from '../params.js';
import { acquireHasher, releaseHasher, resolveBackend, type BackendChoice, type BackendName } from '../backends/index.js';
import { fileChanged, notRegularFile, VeritreeError } from '../report/errors.js';
import { fromSystemError } from '../report/errno.js';
import { MerkleTreeBuilder, type TreeResult } from './tree.js';
import { kindOf } from '../fs/kind.js';
import { closeFile, openRegularFile, operandRef, type FileRef } from '../fs/open.js';
import { sameVersion, statFd, type FileStat } from '../fs/stat.js';
import { fsErrnoError } from '../report/errno.js';

export interface DigestOptions extends VerityParamsInput {
  /** Hashing backend; default from VERITREE_BACKEND, else `auto`. */
  backend?: BackendChoice;
  /** Also return the Merkle tree bytes (root level first). */
  merkleTree?: boolean;
}

export interface DigestResult {
  readonly path: string;
  readonly hashAlg: HashAlg;
  readonly digest: Uint8Array;
  /** Lowercase hex of `digest`. */
  readonly hex: string;
  readonly size: number;
  /** The 256-byte fs-verity descriptor whose hash is `digest`. */
  readonly descriptor: Uint8Array;
  readonly rootHash: Uint8Array;
  readonly merkleTree?: Uint8Array;
  readonly backend: BackendName;
}

/** Parameters and backend resolved once; pass to the per-file functions in hot loops. */
export interface DigestPlan {
  readonly params: VerityParams;
  readonly backend: BackendName;
  readonly keepTree: boolean;
}

export function planDigest(opts: DigestOptions = {}): DigestPlan {
  const params = resolveParams(opts);
  return { params, backend: resolveBackend(opts.backend, params), keepTree: opts.merkleTree === true };
}

function toResult(path: string, plan: DigestPlan, tree: TreeResult): DigestResult {
  return {
    path,
    hashAlg: plan.params.alg.name,
    digest: tree.digest,
    hex: Buffer.from(tree.digest).toString('hex'),
    size: tree.dataSize,
    descriptor: tree.descriptor,
    rootHash: tree.rootHash,
    ...(tree.merkleTree ? { merkleTree: tree.merkleTree } : {}),
    backend: plan.backend,
  };
}


// O_NONBLOCK so that opening a FIFO fails fast instead of hanging until a writer appears;
// it has no effect on regular files.
// (libuv adds O_CLOEXEC itself.)
export const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;

function sameStatsVersion(a: fs.BigIntStats, b: fs.BigIntStats): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ino === b.ino;
}

/** What moved between the first stat, the read and the last stat, in words. */
export function changeText(sizeBefore: number | bigint, sizeAfter: number | bigint, read: number): string {
  if (sizeAfter !== sizeBefore) return `size ${sizeBefore} → ${sizeAfter} bytes, ${read} read`;
  if (BigInt(read) > BigInt(sizeAfter)) return `${read} bytes read from a file whose size is ${sizeAfter} (a pseudo-file, as in /proc or /sys, has no stable content)`;
  if (BigInt(read) < BigInt(sizeAfter)) return `only ${read} of ${sizeAfter} bytes could be read`;
  return 'modified while it was read (mtime or ctime moved)';
}

/** Synchronous digest of one file (blocks the thread: use on workers or in CLIs). */
export function digestFileSync(path: string | FileRef, planOrOpts: DigestPlan | DigestOptions = {}): DigestResult {
  const plan = 'params' in planOrOpts ? planOrOpts : planDigest(planOrOpts);
  const ref = typeof path === 'string' ? operandRef(path) : path;
  const { fd, stat } = openRegularFile(ref);
  try {
    return digestOpenFileSync(fd, stat, ref.path, plan);
  } finally {
    closeFile(fd);
  }
}

/**
 * Digest of a file already opened and checked (`openRegularFile`); `before` is its stat then.
 * The caller closes `fd`.
 */
export function digestOpenFileSync(fd: number, before: FileStat, path: string, plan: DigestPlan): DigestResult {
  const hasher = acquireHasher(plan.backend, plan.params);
  try {
    const builder = new MerkleTreeBuilder(plan.params, hasher, { keepTree: plan.keepTree });
    for (;;) {
      const win = builder.window();
      let n: number;
      try {
        n = fs.readSync(fd, win, 0, win.length, null);
      } catch (err) {
        throw fromSystemError(err, path, 'read');
      }
      if (n === 0) break;
      builder.advance(n);
    }
    const after = statFd(fd);
    if (typeof after === 'number') throw fsErrnoError('stat', -after, path);
    if (!sameVersion(before, after) || builder.dataSize !== after.size) throw fileChanged(path, changeText(before.size, after.size, builder.dataSize));
    return toResult(path, plan, builder.digest());
  } finally {
    releaseHasher(hasher);
  }
}

const ASYNC_READ_BYTES = 4 << 20;

/** Asynchronous digest of one file; reads never block the event loop. */
export async function digestFile(path: string, planOrOpts: DigestPlan | DigestOptions = {}): Promise<DigestResult> {
  const plan = 'params' in planOrOpts ? planOrOpts : planDigest(planOrOpts);
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(path, OPEN_FLAGS);
  } catch (err) {
    throw fromSystemError(err, path, 'open');
  }
  const hasher = acquireHasher(plan.backend, plan.params);
  try {
    const before = await fh.stat({ bigint: true }).catch((err: unknown) => {
      throw fromSystemError(err, path, 'stat');
    });
    if (!before.isFile()) throw notRegularFile(path, kindOf(before));
    const builder = new MerkleTreeBuilder(plan.params, hasher, { keepTree: plan.keepTree });
    // Double-buffered: the next read runs on the libuv pool while this thread hashes the last
    // one, so reading costs no hashing time. Our own buffers, not the hasher's: its memory may
    // move while a read is in flight.
    const bufs = [Buffer.allocUnsafe(ASYNC_READ_BYTES), Buffer.allocUnsafe(ASYNC_READ_BYTES)];
    const readInto = (buf: Buffer) =>
      fh.read(buf, 0, buf.length, null).then(
        (r) => r.bytesRead,
        (err: unknown) => {
          throw fromSystemError(err, path, 'read');
        },
      );
    let which = 0;
    let inFlight = readInto(bufs[0]!);
    try {
      for (;;) {
        const n = await inFlight;
        if (n === 0) break;
        const filled = bufs[which]!;
        which ^= 1;
        inFlight = readInto(bufs[which]!);
        builder.update(filled.subarray(0, n));
      }
    } catch (err) {
      // Let a read still in flight settle before the handle is closed below.
      await inFlight.catch(() => {});
      throw err;
    }
    const after = await fh.stat({ bigint: true }).catch((err: unknown) => {
      throw fromSystemError(err, path, 'stat');
    });
    if (!sameStatsVersion(before, after) || BigInt(builder.dataSize) !== after.size) throw fileChanged(path, changeText(before.size, after.size, builder.dataSize));
    return toResult(path, plan, builder.digest());
  } finally {
    releaseHasher(hasher);
    await fh.close();
  }
}

/** Digest of bytes already in memory. */
export function digestBytes(data: Uint8Array, planOrOpts: DigestPlan | DigestOptions = {}, name = '<bytes>'): DigestResult {
  const plan = 'params' in planOrOpts ? planOrOpts : planDigest(planOrOpts);
  const hasher = acquireHasher(plan.backend, plan.params);
  try {
    const builder = new MerkleTreeBuilder(plan.params, hasher, { keepTree: plan.keepTree });
    builder.update(data);
    return toResult(name, plan, builder.digest());
  } finally {
    releaseHasher(hasher);
  }
}

/** Digest of a byte stream (e.g. stdin), read to its end. */
export async function digestStream(stream: Readable | AsyncIterable<Uint8Array>, planOrOpts: DigestPlan | DigestOptions = {}, name = '-'): Promise<DigestResult> {
  const plan = 'params' in planOrOpts ? planOrOpts : planDigest(planOrOpts);
  const hasher = acquireHasher(plan.backend, plan.params);
  try {
    const builder = new MerkleTreeBuilder(plan.params, hasher, { keepTree: plan.keepTree });
    try {
      for await (const chunk of stream as AsyncIterable<Uint8Array | string>) {
        builder.update(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      }
    } catch (err) {
      throw err instanceof VeritreeError ? err : fromSystemError(err, name, 'read');
    }
    return toResult(name, plan, builder.digest());
  } finally {
    releaseHasher(hasher);
  }
}
