/**
 * Main-thread scheduling of bulk digests over the pool: paths are grouped into batches (many
 * small files per task), files too large for one task are split into block-aligned byte ranges
 * hashed on every worker and assembled here (bit-identical to the single-threaded engine), and at
 * most a few tasks per thread are in flight, so memory stays bounded however many paths come in.
 * Results come out in completion order, each tagged with its input index; `maxAhead` bounds how far
 * past the earliest unfinished path the input is read, so a consumer restoring input order holds a
 * bounded window. With `merkleTree`, each result also carries the file's Merkle tree and descriptor.
 */
import { isUtf8 } from 'node:buffer';
import { acquireHasher, releaseHasher, resolveBackend, type BackendChoice, type BackendName } from '../backends/index.js';
import { resolveParams, type VerityParamsInput } from '../params.js';
import { RangeAssembler, identityKey, planRanges } from '../merkle/ranges.js';
import { buildDescriptor } from '../merkle/descriptor.js';
import { asVeritreeError, interrupted, withPath, VeritreeError } from '../report/errors.js';
import type { DirHandle } from '../fs/dir.js';
import { operandRef, type FileRef } from '../fs/open.js';
import { statAt } from '../fs/stat.js';
import { sharedPool, type TaskRunner } from './pool.js';
import { FileStatus, StoredAs, type FileBatchResult, type StoreWire } from './tasks.js';
import { errorFromWire, paramsToWire } from './wire.js';

export interface BulkDigestOptions extends VerityParamsInput {
  backend?: BackendChoice;
  /** Worker threads; default: the cores available. */
  threads?: number;
  /** Use this pool instead of the shared one. */
  pool?: TaskRunner;
  /** Stop submitting work; results of work already running are still delivered. */
  signal?: AbortSignal;
  /**
   * Files per task. Default: 128 for the first few tasks (every worker busy soon, small trees
   * still spread), then 512 (a task's messages cost ~0.3 ms a side, measured: fewer tasks for big trees).
   */
  filesPerTask?: number;
  /** Files above this size become range tasks across workers (default 1 MiB with 2+ threads; 0 = never). */
  splitAbove?: number;
  /**
   * Also return each file's Merkle tree (FS_IOC_READ_VERITY_METADATA layout, root level first) and
   * its 256-byte descriptor. Small files' trees are built on the workers (moved, not copied);
   * range-split files' leaf level comes from the workers and the few upper levels are hashed here.
   */
  merkleTree?: boolean;
  /**
   * Never take a path more than this many positions past the earliest one whose result is not
   * out yet. A consumer printing in input order then holds at most this many results, however
   * long one large file takes. Default: unbounded (completion-order consumers need no window).
   */
  maxAhead?: number;
  /**
   * Also store the files the workers hash from memory (up to 1 MiB each) in this content-addressed
   * store, from the bytes hashed (pool/batch-store.ts); their results say `stored`. Larger files
   * come back without `stored`: the caller stores them itself.
   */
  store?: StoreWire;
}

/**
 * A file to digest found by a walk: where it is (relative to a directory descriptor), and the
 * retained handle of that directory, released once the file's result is out.
 */
export interface FileSource {
  readonly ref: FileRef;
  readonly dir?: DirHandle;
  /** The exact path bytes, when they are not valid UTF-8 (`ref.path` is then not exact). */
  readonly pathBytes?: Uint8Array;
  /** Known to be unusable (a name no file can have): reported as this error, never opened. */
  readonly error?: VeritreeError;
}

/**
 * `pathBytes` (exact bytes) is present only when the path is not valid UTF-8; `merkleTree` and
 * `descriptor` only when `merkleTree` was asked for.
 */
export type FileDigest =
  | {
      readonly ok: true;
      readonly index: number;
      readonly path: string;
      readonly pathBytes?: Uint8Array;
      readonly hashAlg: string;
      readonly digest: Uint8Array;
      readonly hex: string;
      readonly size: number;
      readonly merkleTree?: Uint8Array;
      readonly descriptor?: Uint8Array;
      /** With `store`: whether the worker wrote the object or found it stored already. */
      readonly stored?: 'added' | 'existing';
    }
  | { readonly ok: false; readonly index: number; readonly path: string; readonly pathBytes?: Uint8Array; readonly error: VeritreeError };

/** A walked file as a FileSource: the directory is retained until its result is out. */
export function walkedFile(dir: DirHandle, ref: FileRef, bytes: Uint8Array): FileSource {
  dir.retain();
  return isUtf8(bytes) ? { ref, dir } : { ref, dir, pathBytes: bytes };
}



/**
 * Digests every path from `paths` on the pool. Yields one `FileDigest` per path, in completion
 * order. Pulling slowly applies back-pressure all the way to reading `paths`.
 */
export async function* digestFiles(paths: Iterable<string | FileSource> | AsyncIterable<string | FileSource>, options: BulkDigestOptions = {}): AsyncGenerator<FileDigest> {
  for await (const batch of digestFileBatches(paths, options)) yield* batch;
}

/**
 * `digestFiles`, yielding the results in arrays as they complete (one per finished task or so):
 * bulk callers save a promise round per file, which at tens of thousands of files is most of
 * the main thread's work.
 *
 * Long on purpose: producer, large-file assembly and consumer are closures over one window state (in flight, ready, input-order ring); split, that state would be passed around by hand.
 */
export async function* digestFileBatches(paths: Iterable<string | FileSource> | AsyncIterable<string | FileSource>, options: BulkDigestOptions = {}): AsyncGenerator<FileDigest[]> {
  const params = resolveParams(options);
  const backend: BackendName = resolveBackend(options.backend, params);
  const pool = options.pool ?? sharedPool(options.threads);
  const wire = paramsToWire(params);
  const D = params.alg.digestSize;
  const B = params.blockSize;
  const firstFilesPerTask = options.filesPerTask ?? 128;
  const laterFilesPerTask = options.filesPerTask ?? 512;
  let tasksSubmitted = 0;
  // With several workers, a file over 1 MiB is its own task (split further when large), so a batch
  // never serialises big files behind each other on one worker.
  const splitAbove = options.splitAbove ?? (pool.threads > 1 ? 1 << 20 : 0);
  // A few tasks queued per worker absorb main-thread jitter (walking, printing) without idling.
  const maxInflight = pool.threads * 4;
  const keepTree = options.merkleTree === true;
  const maxAhead = options.maxAhead ?? Infinity;
  if (!(maxAhead >= 1)) throw new RangeError(`maxAhead must be at least 1, got ${maxAhead}`);

  const ready: FileDigest[] = [];
  let inflight = 0;
  let producerDone = false;
  let producerError: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const sleep = () => new Promise<void>((resolve) => (wake = resolve));
  // Producer waits here while the window is full or the consumer is behind.
  let spaceWaiters: (() => void)[] = [];
  const releaseSpace = () => {
    const ws = spaceWaiters;
    spaceWaiters = [];
    for (const w of ws) w();
  };
  const readyLimit = maxInflight * laterFilesPerTask;
  const waitForSpace = async () => {
    while (inflight >= maxInflight || ready.length >= readyLimit) await new Promise<void>((r) => spaceWaiters.push(r));
  };

  // The input-order window (maxAhead): which of the indices [lowest, lowest + maxAhead) are out.
  // Every index taken is delivered exactly once (a result, an error, or `interrupted`).
  const outRing = Number.isFinite(maxAhead) ? new Uint8Array(maxAhead) : undefined;
  let lowest = 0;
  const deliver = (r: FileDigest) => {
    ready.push(r);
    if (!outRing) return;
    outRing[r.index % maxAhead] = 1;
    if (r.index !== lowest) return;
    while (outRing[lowest % maxAhead] === 1) {
      outRing[lowest % maxAhead] = 0;
      lowest++;
    }
    releaseSpace();
  };
  const windowFull = (index: number) => outRing !== undefined && index - lowest >= maxAhead;
  const waitForWindow = async (index: number) => {
    while (windowFull(index)) await new Promise<void>((r) => spaceWaiters.push(r));
  };

  const track = <T>(p: Promise<T>): Promise<T> => {
    inflight++;
    return p.finally(() => {
      inflight--;
      releaseSpace();
      notify();
    });
  };

  const largeFile = async (index: number, source: FileSource, size: number, ino: bigint) => {
    const path = source.ref.path;
    const file: FileRef = { ...source.ref, ino };
    const named = source.pathBytes ? { path, pathBytes: source.pathBytes } : { path };
    const { rangeBytes, count } = planRanges(size, B, pool.threads);
    const hasher = acquireHasher(backend, params);
    // The ranges' leaves are the tree's leaf level; kept, the assembler hashes the levels above.
    const tree = new RangeAssembler(params, hasher, path, size, keepTree);
    try {
      const tasks: Promise<void>[] = [];
      for (let i = 0; i < count; i++) {
        if (options.signal?.aborted) {
          tree.fail(interrupted(path, 'interrupted before it was fully hashed'));
          break;
        }
        await waitForSpace();
        // track() wraps the handlers too: inflight drops and the consumer wakes only after the
        // result is recorded, so no wake-up can be lost between the two.
        tasks.push(
          track(
            pool
              .runRange({ kind: 'range', params: wire, backend, file, offset: i * rangeBytes, length: rangeBytes })
              .then((r) => tree.add(i, r))
              .catch((err: unknown) => tree.fail(asVeritreeError(err, path, 'read-failed'))),
          ),
        );
      }
      await Promise.all(tasks);
      // By name in the same directory descriptor, not following: the file the ranges read.
      const st = tree.failure ? undefined : statAt(file.dirfd, file.name, file.follow === true);
      const t = tree.finish(st === undefined || typeof st === 'number' ? undefined : identityKey(st));
      if (t instanceof VeritreeError) {
        deliver({ ok: false, index, ...named, error: t.path ? t : withPath(t, path) });
      } else {
        const trees = keepTree ? { merkleTree: t.merkleTree ?? new Uint8Array(0), descriptor: t.descriptor } : {};
        deliver({ ok: true, index, ...named, hashAlg: params.alg.name, digest: t.digest, hex: Buffer.from(t.digest).toString('hex'), size: t.dataSize, ...trees });
      }
    } finally {
      releaseHasher(hasher);
      source.dir?.release();
      notify();
    }
  };

  // Work started but not yet finished (batches and large files); settled entries remove themselves.
  const background = new Set<Promise<void>>();
  const spawn = (p: Promise<void>) => {
    background.add(p);
    void p.finally(() => background.delete(p));
  };
  const onBatch = (batch: FileSource[], indices: number[], r: FileBatchResult) => {
    // Checked before anything is delivered: a throw here fails the whole batch, each file once.
    if (keepTree && (!r.trees || !r.treeEnds || !r.roots)) throw new Error('pool worker returned no Merkle trees');
    for (let i = 0; i < batch.length; i++) {
      const index = indices[i]!;
      const source = batch[i]!;
      const path = source.ref.path;
      const named = source.pathBytes ? { path, pathBytes: source.pathBytes } : { path };
      const st = r.status[i] as FileStatus;
      if (st === FileStatus.Ok) {
        // A view, not a copy: the batch's digest buffer belongs to this result set alone.
        const digest = r.digests.subarray(i * D, (i + 1) * D);
        const size = r.sizes[i]!;
        let tree = {};
        if (keepTree && r.trees && r.treeEnds && r.roots) {
          // Views again: the batch's joined tree buffer lives as long as one of them does.
          const merkleTree = r.trees.subarray(i === 0 ? 0 : r.treeEnds[i - 1]!, r.treeEnds[i]!);
          tree = { merkleTree, descriptor: buildDescriptor(params, size, r.roots.subarray(i * D, (i + 1) * D)) };
        }
        const as = r.stored?.[i] as StoredAs | undefined;
        const stored = as === StoredAs.Added ? { stored: 'added' as const } : as === StoredAs.Existing ? { stored: 'existing' as const } : {};
        deliver({ ok: true, index, ...named, hashAlg: params.alg.name, digest, hex: Buffer.from(digest).toString('hex'), size, ...tree, ...stored });
      } else if (st === FileStatus.Failed) {
        deliver({ ok: false, index, ...named, error: errorFromWire(r.errors[i]!) });
      } else {
        // The directory stays retained until the large file's ranges are done.
        spawn(
          largeFile(index, source, r.sizes[i]!, r.inos[i]!).catch((err: unknown) => {
            deliver({ ok: false, index, ...named, error: withPath(asVeritreeError(err, path, 'read-failed'), path) });
            notify();
          }),
        );
        continue;
      }
      source.dir?.release();
    }
  };

  const submitBatch = async (batch: FileSource[], indices: number[]) => {
    await waitForSpace();
    // track() wraps the result handling too (see largeFile).
    const job = track(
      pool
        .runFiles({ kind: 'files', params: wire, backend, files: batch.map((s) => s.ref), deferAbove: splitAbove, ...(keepTree ? { keepTree } : {}), ...(options.store ? { store: options.store } : {}) })
        .then((r) => onBatch(batch, indices, r))
        .catch((err: unknown) => {
          const e = asVeritreeError(err, undefined, 'worker-failed');
          batch.forEach((source, i) => {
            const path = source.ref.path;
            deliver({ ok: false, index: indices[i]!, path, ...(source.pathBytes ? { pathBytes: source.pathBytes } : {}), error: withPath(e, path) });
            source.dir?.release();
          });
        }),
    );
    spawn(job);
  };

  const producer = (async () => {
    let batch: FileSource[] = [];
    let indices: number[] = [];
    let index = 0;
    // Batches go out one after another (each waits for room in the pool): a chain, so that one
    // sent early (below) and the next one sent by this loop keep their order and the bound.
    let submitted: Promise<void> = Promise.resolve();
    const submit = (): Promise<void> => {
      if (batch.length > 0) {
        const b = batch;
        const ix = indices;
        batch = [];
        indices = [];
        submitted = submitted.then(() => submitBatch(b, ix));
      }
      return submitted;
    };
    // Sync sources (arrays, the sync walker) are drained without a microtask per path.
    const syncIt = Symbol.iterator in paths ? (paths as Iterable<string | FileSource>)[Symbol.iterator]() : undefined;
    const asyncIt = syncIt ? undefined : (paths as AsyncIterable<string | FileSource>)[Symbol.asyncIterator]();
    // An async source that has no next path yet (a list still being written on a pipe) must not
    // keep the paths it gave waiting for a full batch: once this thread goes idle waiting for it,
    // what is gathered is sent. Paths already buffered arrive within microtasks, before that.
    let waitingForSource = false;
    let idleCheck: NodeJS.Immediate | undefined;
    const sendWhenIdle = () => {
      idleCheck ??= setImmediate(() => {
        idleCheck = undefined;
        if (waitingForSource && !options.signal?.aborted) void submit();
      });
    };
    try {
      for (;;) {
        if (options.signal?.aborted) break;
        if (windowFull(index)) {
          // The files held back count against the window too: send them before waiting on it.
          await submit();
          await waitForWindow(index);
          if (options.signal?.aborted) break;
        }
        let r: IteratorResult<string | FileSource>;
        if (syncIt) r = syncIt.next();
        else {
          if (batch.length > 0) sendWhenIdle();
          waitingForSource = true;
          try {
            r = await asyncIt!.next();
          } finally {
            waitingForSource = false;
          }
        }
        if (r.done) break;
        const p = r.value;
        let source: FileSource;
        if (typeof p === 'string') source = { ref: operandRef(p) };
        else if (p !== null && typeof p === 'object' && 'ref' in p) source = p;
        else throw new TypeError(`paths must yield strings or FileSources, got ${typeof p}`);
        if (source.error) {
          // Nothing to open: its result is out at once (behind the same back-pressure as a batch).
          await waitForSpace();
          deliver({ ok: false, index, path: source.ref.path, ...(source.pathBytes ? { pathBytes: source.pathBytes } : {}), error: source.error });
          source.dir?.release();
          notify();
          index++;
          continue;
        }
        batch.push(source);
        indices.push(index);
        index++;
        if (batch.length >= (tasksSubmitted < maxInflight ? firstFilesPerTask : laterFilesPerTask)) {
          tasksSubmitted++;
          await submit();
        }
      }
    } finally {
      if (idleCheck) clearImmediate(idleCheck);
    }
    await submitted;
    if (batch.length > 0 && !options.signal?.aborted) await submit();
    else for (const s of batch) s.dir?.release();
    // Large files spawn more work while batches finish: wait until nothing is left.
    while (background.size > 0) await Promise.all([...background]);
  })().then(
    () => {
      producerDone = true;
      notify();
    },
    (err: unknown) => {
      producerError = err;
      producerDone = true;
      notify();
    },
  );

  try {
    for (;;) {
      if (ready.length > 0) {
        const items = ready.splice(0);
        releaseSpace();
        yield items;
        continue;
      }
      if (producerDone && inflight === 0) break;
      await sleep();
    }
    await producer;
    if (producerError) throw producerError;
  } finally {
    releaseSpace();
  }
}
