/**
 * Piscina worker entry. Each worker thread compiles the WASM modules once (on first use, cached by
 * the backend module) and keeps its hashers and buffers across tasks; bulk results are moved.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import fs from 'node:fs';
import { hashFileBatch, hashRange } from './batch.js';
import type { PoolTask } from './tasks.js';

/**
 * Test hook: lets the test suite kill a worker mid-task. If VERITREE_TEST_KILL_WORKER names a file
 * that exists, the worker deletes it and dies (once); a path containing VERITREE_TEST_KILL_ON kills
 * the worker every time it is seen.
 */
function maybeDie(task: PoolTask): void {
  const once = process.env.VERITREE_TEST_KILL_WORKER;
  if (once && fs.existsSync(once)) {
    try {
      fs.unlinkSync(once);
    } catch {
      return; // another worker took it
    }
    process.exit(70);
  }
  const on = process.env.VERITREE_TEST_KILL_ON;
  if (on && (task.kind === 'files' ? task.paths.some((p) => p.includes(on)) : task.path.includes(on))) process.exit(70);
}

/** Wraps a result so piscina transfers (not copies) the ArrayBuffers under it. */
function moved<T extends object>(value: T, buffers: ArrayBufferLike[]): unknown {
  return move({ [transferableSymbol]: buffers, [valueSymbol]: value } as never);
}

export default function run(task: PoolTask): unknown {
  if (process.env.VERITREE_TEST_KILL_WORKER || process.env.VERITREE_TEST_KILL_ON) maybeDie(task);
  if (task.kind === 'files') {
    const r = hashFileBatch(task);
    return moved(r, [r.digests.buffer, r.sizes.buffer]);
  }
  const r = hashRange(task);
  return moved(r, [r.leaves.buffer]);
}
