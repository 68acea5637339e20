/**
 * What the scheduler submits work to: the Piscina pool (several threads) or, for one thread, this
 * thread itself. One thread gains nothing from a worker: running the same task functions inline
 * saves the worker's start-up (~90 ms) and a message round trip per batch.
 */
import os from 'node:os';
import { hashFileBatch, hashRange } from './batch.js';
import type { FileBatchResult, FileBatchTask, RangeResult, RangeTask } from './tasks.js';

export interface TaskRunner {
  readonly threads: number;
  runFiles(task: FileBatchTask): Promise<FileBatchResult>;
  runRange(task: RangeTask): Promise<RangeResult>;
  destroy(): Promise<void>;
}

export function defaultThreads(): number {
  return Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
}

/** Runs tasks on the calling thread, one at a time, between turns of the event loop. */
export class InlineRunner implements TaskRunner {
  readonly threads = 1;

  async runFiles(task: FileBatchTask): Promise<FileBatchResult> {
    await yieldToEventLoop();
    return hashFileBatch(task);
  }

  async runRange(task: RangeTask): Promise<RangeResult> {
    await yieldToEventLoop();
    return hashRange(task);
  }

  async destroy(): Promise<void> {}
}

/** Lets timers, I/O and signals (Ctrl-C) run between batches. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
