/**
 * Main-thread scheduling of bulk digests over the pool: paths are grouped into batches (many
 * small files per task), files too large for one task are split into block-aligned byte ranges
 * hashed on every worker and assembled here (bit-identical to the single-threaded engine), and at
 * most a few tasks per thread are in flight, so memory stays bounded however many paths come in.
 * Results come out in completion order, each tagged with its input index.
 */
import fs from 'node:fs';
import { acquireHasher, releaseHasher, resolveBackend, type BackendChoice, type BackendName } from '../backends/index.js';
import { resolveParams, type VerityParams, type VerityParamsInput } from '../params.js';
import { MerkleTreeBuilder } from '../merkle/tree.js';
import { fileChanged, VeritreeError } from '../report/errors.js';
import { sharedPool, type TaskRunner } from './pool.js';
import { FileStatus, type ErrorWire, type FileBatchResult, type ParamsWire, type RangeResult } from './tasks.js';

export interface BulkDigestOptions extends VerityParamsInput {
  backend?: BackendChoice;
  /** Worker threads; default: the cores available. */
  threads?: number;
  /** Use this pool instead of the shared one. */
  pool?: TaskRunner;
  /** Stop submitting work; results of work already running are still delivered. */
  signal?: AbortSignal;
  /** Files per task (default 128). */
  filesPerTask?: number;
  /** Files above this size become range tasks across workers (default 1 MiB with 2+ threads; 0 = never). */
  splitAbove?: number;
}

export type FileDigest =
  | { readonly ok: true; readonly index: number; readonly path: string; readonly hashAlg: string; readonly digest: Uint8Array; readonly hex: string; readonly size: number }
  | { readonly ok: false; readonly index: number; readonly path: string; readonly error: VeritreeError };

export function errorFromWire(w: ErrorWire): VeritreeError {
  return new VeritreeError(w.code, w.message, { path: w.path, ...(w.errno ? { errno: w.errno } : {}) });
}

function paramsWire(p: VerityParams): ParamsWire {
  return { hashAlg: p.alg.name, blockSize: p.blockSize, saltHex: Buffer.from(p.salt).toString('hex') };
}

// Byte ranges of one large file: big enough that a task's messaging is noise (~5 ms of hashing at
// 8 MiB), small enough that the last ones, queued on one worker while another idles, end together.
const RANGE_MIN = 4 << 20;
const RANGE_MAX = 8 << 20;

/**
 * Digests every path from `paths` on the pool. Yields one `FileDigest` per path, in completion
 * order. Pulling slowly applies back-pressure all the way to reading `paths`.
 */
export async function* digestFiles(paths: Iterable<string> | AsyncIterable<string>, options: BulkDigestOptions = {}): AsyncGenerator<FileDigest> {
  for await (const batch of digestFileBatches(paths, options)) yield* batch;
}

/**
 * `digestFiles`, yielding the results in arrays as they complete (one per finished task or so):
 * bulk callers save a promise round per file, which at tens of thousands of files is most of
 * the main thread's work.
 */
export async function* digestFileBatches(paths: Iterable<string> | AsyncIterable<string>, options: BulkDigestOptions = {}): AsyncGenerator<FileDigest[]> {
  const params = resolveParams(options);
  const backend: BackendName = resolveBackend(options.backend, params);
  const pool = options.pool ?? sharedPool(options.threads);
  const wire = paramsWire(params);
  const D = params.alg.digestSize;
  const B = params.blockSize;
  const filesPerTask = options.filesPerTask ?? 128;
  // With several workers, a file over 1 MiB is its own task (split further when large), so a batch
  // never serialises big files behind each other on one worker.
  const splitAbove = options.splitAbove ?? (pool.threads > 1 ? 1 << 20 : 0);
  // A few tasks queued per worker absorb main-thread jitter (walking, printing) without idling.
  const maxInflight = pool.threads * 4;

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
  const readyLimit = maxInflight * filesPerTask;
  const waitForSpace = async () => {
    while (inflight >= maxInflight || ready.length >= readyLimit) await new Promise<void>((r) => spaceWaiters.push(r));
  };

  const track = <T>(p: Promise<T>): Promise<T> => {
    inflight++;
    return p.finally(() => {
      inflight--;
      releaseSpace();
      notify();
    });
  };

  const largeFile = async (index: number, path: string, size: number) => {
    const rangeBytes = Math.min(RANGE_MAX, Math.max(RANGE_MIN, Math.floor(size / (pool.threads * 4) / B) * B));
    const nRanges = Math.ceil(size / rangeBytes) || 1;
    const hasher = acquireHasher(backend, params);
    const builder = new MerkleTreeBuilder(params, hasher);
    const pending = new Map<number, RangeResult>();
    let next = 0;
    let identity: string | undefined;
    let failure: VeritreeError | undefined;
    const feed = () => {
      for (let r = pending.get(next); r; r = pending.get(next)) {
        pending.delete(next);
        next++;
        const id = `${r.size}/${r.mtimeNs}/${r.ino}`;
        if (identity === undefined) identity = id;
        else if (id !== identity) failure ??= fileChanged(path, 'size, mtime or inode differ between ranges');
        // Ranges were cut for the size seen when the file was listed: any other size means the
        // ranges no longer cover the file (a digest of no version of it).
        if (r.size !== size) failure ??= fileChanged(path, `size ${size} when listed, ${r.size} when read`);
        if (!failure) builder.addLeafDigests(r.leaves, r.count, r.bytes);
      }
    };
    try {
      const tasks: Promise<void>[] = [];
      for (let i = 0; i < nRanges; i++) {
        if (options.signal?.aborted) {
          failure ??= new VeritreeError('interrupted', 'interrupted before it was fully hashed', { path });
          break;
        }
        await waitForSpace();
        // track() wraps the handlers too: inflight drops and the consumer wakes only after the
        // result is recorded, so no wake-up can be lost between the two.
        const task = track(
          pool
            .runRange({ kind: 'range', params: wire, backend, path, offset: i * rangeBytes, length: rangeBytes })
            .then((r) => {
              pending.set(i, r);
              feed();
            })
            .catch((err: unknown) => {
              failure ??= err instanceof VeritreeError ? err : new VeritreeError('read-failed', String(err), { path });
            }),
        );
        tasks.push(task);
      }
      await Promise.all(tasks);
      if (!failure && builder.dataSize !== size) failure = fileChanged(path, `size ${size} when listed, ${builder.dataSize} bytes read`);
      // Each range checked the file when it started; a write during the last reads shows here.
      if (!failure) {
        const st = await fs.promises.stat(path, { bigint: true }).catch(() => undefined);
        if (!st || `${st.size}/${st.mtimeNs}/${st.ino}` !== identity) failure = fileChanged(path, 'modified while its ranges were read');
      }
      if (failure) {
        ready.push({ ok: false, index, path, error: failure.path ? failure : new VeritreeError(failure.code, failure.message, { path }) });
      } else {
        const t = builder.digest();
        ready.push({ ok: true, index, path, hashAlg: params.alg.name, digest: t.digest, hex: Buffer.from(t.digest).toString('hex'), size: t.dataSize });
      }
    } finally {
      releaseHasher(hasher);
      notify();
    }
  };

  // Work started but not yet finished (batches and large files); settled entries remove themselves.
  const background = new Set<Promise<void>>();
  const spawn = (p: Promise<void>) => {
    background.add(p);
    void p.finally(() => background.delete(p));
  };
  const onBatch = (batch: string[], firstIndex: number, r: FileBatchResult) => {
    for (let i = 0; i < batch.length; i++) {
      const index = firstIndex + i;
      const path = batch[i]!;
      const st = r.status[i] as FileStatus;
      if (st === FileStatus.Ok) {
        // A view, not a copy: the batch's digest buffer belongs to this result set alone.
        const digest = r.digests.subarray(i * D, (i + 1) * D);
        ready.push({ ok: true, index, path, hashAlg: params.alg.name, digest, hex: Buffer.from(digest).toString('hex'), size: r.sizes[i]! });
      } else if (st === FileStatus.Failed) {
        ready.push({ ok: false, index, path, error: errorFromWire(r.errors[i]!) });
      } else {
        spawn(
          largeFile(index, path, r.sizes[i]!).catch((err: unknown) => {
            const e = err instanceof VeritreeError ? err : new VeritreeError('read-failed', String(err));
            ready.push({ ok: false, index, path, error: new VeritreeError(e.code, e.message, { path }) });
            notify();
          }),
        );
      }
    }
  };

  const submitBatch = async (batch: string[], firstIndex: number) => {
    await waitForSpace();
    // track() wraps the result handling too (see largeFile).
    const job = track(
      pool
        .runFiles({ kind: 'files', params: wire, backend, paths: batch, deferAbove: splitAbove })
        .then((r) => onBatch(batch, firstIndex, r))
        .catch((err: unknown) => {
          const e = err instanceof VeritreeError ? err : new VeritreeError('worker-failed', String(err));
          batch.forEach((path, i) => ready.push({ ok: false, index: firstIndex + i, path, error: new VeritreeError(e.code, e.message, { path }) }));
        }),
    );
    spawn(job);
  };

  const producer = (async () => {
    let batch: string[] = [];
    let index = 0;
    let first = 0;
    // Sync sources (arrays, the sync walker) are drained without a microtask per path.
    const syncIt = Symbol.iterator in paths ? (paths as Iterable<string>)[Symbol.iterator]() : undefined;
    const asyncIt = syncIt ? undefined : (paths as AsyncIterable<string>)[Symbol.asyncIterator]();
    for (;;) {
      if (options.signal?.aborted) break;
      const r = syncIt ? syncIt.next() : await asyncIt!.next();
      if (r.done) break;
      const p = r.value;
      if (typeof p !== 'string') throw new TypeError(`paths must yield strings, got ${typeof p}`);
      batch.push(p);
      index++;
      if (batch.length >= filesPerTask) {
        await submitBatch(batch, first);
        batch = [];
        first = index;
      }
    }
    if (batch.length > 0 && !options.signal?.aborted) await submitBatch(batch, first);
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
