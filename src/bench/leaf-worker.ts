/**
 * Worker thread of the leaf-throughput measurement (`veritree bench`): hashes 4 KiB blocks held
 * in memory through one backend's `Hasher.hashBlocks`, 1 MiB per call, for a fixed time. No file
 * I/O and no pool messaging per call: this is the ceiling of what the hashing code itself does.
 *
 * Protocol (see leaf-throughput.ts): the main thread posts a `LeafJob`; the worker builds and warms
 * its hasher, posts `ready`, then blocks on the shared start word until the main thread releases
 * every worker of the round at once, hashes for `durationMs`, and posts a `LeafSample`.
 */
import { parentPort } from 'node:worker_threads';
import { FACTORIES, type BackendName, type Hasher } from '../backends/index.js';
import { HASH_ALGS, type HashAlg } from '../params.js';

export interface LeafJob {
  readonly backend: BackendName;
  readonly hashAlg: HashAlg;
  readonly blockSize: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Int32Array over a SharedArrayBuffer; word 0 is the round counter. */
  readonly start: Int32Array;
  /** The value word 0 takes when this round starts. */
  readonly round: number;
}

export type LeafMessage = { readonly type: 'ready' } | { readonly type: 'sample'; readonly bytes: number; readonly ns: number } | { readonly type: 'error'; readonly message: string };

/** Blocks per `hashBlocks` call: 1 MiB, as the pool's batches and the tree builder use. */
const CALL_BYTES = 1 << 20;

const hashers = new Map<string, Hasher>();

function hasherFor(job: LeafJob): Hasher {
  const key = `${job.backend}/${job.hashAlg}`;
  let h = hashers.get(key);
  if (!h) hashers.set(key, (h = FACTORIES[job.backend].create(HASH_ALGS[job.hashAlg], new Uint8Array(0))));
  return h;
}

/** Hashes for about `ms` milliseconds; returns the bytes hashed and the nanoseconds taken. */
function hashFor(hasher: Hasher, job: LeafJob, ms: number): { bytes: number; ns: number } {
  const count = CALL_BYTES / job.blockSize;
  const input = hasher.inputBuffer(CALL_BYTES);
  for (let i = 0; i < input.length; i++) input[i] = (i * 2654435761) >>> 24;
  const out = new Uint8Array(count * HASH_ALGS[job.hashAlg].digestSize);
  const limit = BigInt(Math.round(ms * 1e6));
  const t0 = process.hrtime.bigint();
  let bytes = 0;
  let elapsed = 0n;
  do {
    hasher.hashBlocks(input, job.blockSize, count, out, 0);
    bytes += CALL_BYTES;
    elapsed = process.hrtime.bigint() - t0;
  } while (elapsed < limit);
  return { bytes, ns: Number(elapsed) };
}

parentPort!.on('message', (job: LeafJob) => {
  try {
    const hasher = hasherFor(job);
    hashFor(hasher, job, job.warmupMs);
    parentPort!.postMessage({ type: 'ready' } satisfies LeafMessage);
    for (let seen = Atomics.load(job.start, 0); seen < job.round; seen = Atomics.load(job.start, 0)) Atomics.wait(job.start, 0, seen);
    const sample = hashFor(hasher, job, job.durationMs);
    parentPort!.postMessage({ type: 'sample', ...sample } satisfies LeafMessage);
  } catch (err) {
    parentPort!.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) } satisfies LeafMessage);
  }
});
