/**
 * The Piscina worker pool: one per process, sized to the cores available (or `threads`), reused by
 * every bulk operation. A task whose worker dies is retried once on a fresh worker, then reported:
 * a crash never loses a result silently and never hangs the run.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Piscina } from 'piscina';
import { internalError, workerFailed, type VeritreeError } from '../report/errors.js';
import { wasmModulesForWorkers } from '../backends/wasm.js';
import { registerSharedPool } from './shared.js';
import { defaultThreads, InlineRunner, type TaskRunner } from './runner.js';
import type { FileBatchResult, FileBatchTask, PostedTask, RangeResult, RangeTask } from './tasks.js';

/** Times a task may be resubmitted because the worker it was queued on died before running it. */
const MAX_REQUEUES = 16;

export { defaultThreads, InlineRunner, type TaskRunner } from './runner.js';

/** piscina is loaded on first use: single-file and single-thread runs never pay for it. */
function loadPiscina(): typeof Piscina {
  return (createRequire(import.meta.url)('piscina') as { Piscina: typeof Piscina }).Piscina;
}

/** The compiled worker: beside this file when running from build/, else the built copy (tests run TS sources). */
function workerFilename(): string {
  const beside = new URL('./worker.js', import.meta.url);
  if (fs.existsSync(fileURLToPath(beside))) return fileURLToPath(beside);
  const built = new URL('../../build/dist/pool/worker.js', import.meta.url);
  if (fs.existsSync(fileURLToPath(built))) return fileURLToPath(built);
  throw internalError('pool worker not found: run `npm run build` first');
}

function failedTwice(what: string, cause: unknown): VeritreeError {
  const msg = cause instanceof Error ? cause.message : String(cause);
  return workerFailed(`worker failed twice while hashing ${what}: ${msg}`, cause);
}

export class HashPool implements TaskRunner {
  readonly threads: number;
  readonly #piscina: Piscina;
  #destroyed = false;

  constructor(threads = defaultThreads()) {
    if (!Number.isInteger(threads) || threads < 1 || threads > 1024) throw new RangeError(`threads must be 1..1024, got ${threads}`);
    this.threads = threads;
    const PiscinaClass = loadPiscina();
    const create = (execArgv: string[] | undefined) => new PiscinaClass({
      filename: workerFilename(),
      minThreads: threads,
      maxThreads: threads,
      // The scheduler bounds how many tasks are in flight; piscina's queue needs no limit of its own.
      idleTimeout: 30_000,
      // Tasks are synchronous, so a worker still runs one at a time; the next waits in its port.
      // Handing each worker its next task ahead means it never idles for a main-thread round trip
      // (with 1, workers spent ~1.4 ms per task waiting: ~20% of a 20,000-file tree run). More
      // than one ahead only lengthens the tail: queued tasks cannot move to a worker gone idle.
      concurrentTasksPerWorker: 2,
      // Nothing reads piscina's run/wait-time histograms: skip recording them per task.
      recordTiming: false,
      // Compiled once here: workers install the module and share its code (backends/wasm.ts).
      workerData: { wasm: wasmModulesForWorkers() },
      ...(execArgv ? { execArgv } : {}),
    });
    // piscina loads the (ESM) worker with require() first; on Node 20's require(esm), a worker
    // terminated while that load runs (a pool destroyed right after creation) aborts the whole
    // process (module_wrap.cc assertion). Without require(esm) it goes straight to import().
    const noRequireEsm = process.allowedNodeEnvironmentFlags.has('--no-experimental-require-module') ? ['--no-experimental-require-module'] : undefined;
    try {
      this.#piscina = create(noRequireEsm && [...process.execArgv, ...noRequireEsm]);
    } catch (err) {
      // An explicit execArgv must hold only per-thread options: a parent run as
      // `node --max-old-space-size=… veritree …` passes V8 and per-process flags the Worker
      // constructor rejects. Workers then start with just the one flag (they cannot take the rest).
      if ((err as NodeJS.ErrnoException).code !== 'ERR_WORKER_INVALID_EXEC_ARGV' || !noRequireEsm) throw err;
      this.#piscina = create(noRequireEsm);
    }
  }

  runFiles(task: FileBatchTask): Promise<FileBatchResult> {
    return this.#runWithRetry(task, `${task.files.length} files (first: ${task.files[0]?.path})`) as Promise<FileBatchResult>;
  }

  runRange(task: RangeTask): Promise<RangeResult> {
    return this.#runWithRetry(task, `${task.file.path} bytes ${task.offset}..${task.offset + task.length}`) as Promise<RangeResult>;
  }

  async #runWithRetry(task: FileBatchTask | RangeTask, what: string): Promise<unknown> {
    let attempts = 0;
    let requeued = 0;
    for (;;) {
      const started = new Int32Array(new SharedArrayBuffer(4));
      try {
        return await this.#piscina.run({ ...task, started } satisfies PostedTask);
      } catch (err) {
        if (this.#destroyed) throw err;
        // A dying worker takes the tasks queued behind its running one with it. Those never ran:
        // resubmit them without spending their retry (bounded, should workers keep dying).
        if (Atomics.load(started, 0) === 0 && requeued++ < MAX_REQUEUES) continue;
        if (++attempts >= 2) throw failedTwice(what, err);
      }
    }
  }

  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    await this.#piscina.destroy();
  }
}

let shared: TaskRunner | undefined;

/**
 * The process-wide runner, created on first use: a worker pool, or this thread when one thread is
 * all there is to use (see runner.ts).
 */
export function sharedPool(threads: number = defaultThreads()): TaskRunner {
  if (shared && shared.threads !== threads) {
    void shared.destroy();
    shared = undefined;
  }
  shared ??= threads === 1 ? new InlineRunner() : new HashPool(threads);
  registerSharedPool(closeSharedPool);
  return shared;
}

export async function closeSharedPool(): Promise<void> {
  const p = shared;
  shared = undefined;
  registerSharedPool(undefined);
  await p?.destroy();
}
