/**
 * Piscina worker entry. Each worker thread compiles the WASM modules once (on first use, cached by
 * the backend module) and keeps its hashers and buffers across tasks; bulk results are moved.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { workerData } from 'node:worker_threads';
import { setCompiledWasmModule, type WasmKind } from '../backends/wasm.js';
import { hashFileBatch, hashRange } from './batch.js';

// The WASM kernels the main thread compiled, if it had: installed, not compiled again here.
for (const [kind, module] of Object.entries((workerData as { wasm?: Record<string, WebAssembly.Module> } | undefined)?.wasm ?? {})) {
  setCompiledWasmModule(kind as WasmKind, module);
}
import type { PoolTask, PostedTask } from './tasks.js';

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
  if (on && (task.kind === 'files' ? task.files.some((f) => f.path.includes(on)) : task.file.path.includes(on))) process.exit(70);
}

// piscina's public symbols are registered globally (Symbol.for), so these equal its exports.
const transferableSymbol = Symbol.for('Piscina.transferable');
const valueSymbol = Symbol.for('Piscina.valueOf');

/**
 * piscina's `move()` only sets a marker from its dist/common.js, which piscina's worker runtime
 * has already loaded in this thread. Importing `move` from the package would load piscina's whole
 * main module into every worker (~10 ms of each worker's start-up), so take the marker from there.
 * Should that file ever move, results are still delivered, copied instead of transferred.
 */
const markMovable: ((value: object) => void) | undefined = (() => {
  try {
    const require = createRequire(import.meta.url);
    const common = require(path.join(path.dirname(require.resolve('piscina')), 'common.js')) as { markMovable?: (value: object) => void };
    return typeof common.markMovable === 'function' ? common.markMovable : undefined;
  } catch {
    return undefined;
  }
})();

/** Wraps a result so piscina transfers (not copies) the ArrayBuffers under it. */
function moved<T extends object>(value: T, buffers: ArrayBufferLike[]): unknown {
  if (!markMovable) return value;
  const wrapped = { [transferableSymbol]: buffers, [valueSymbol]: value };
  markMovable(wrapped);
  return wrapped;
}

export default function run(task: PostedTask): unknown {
  if (task.started) Atomics.store(task.started, 0, 1);
  if (process.env.VERITREE_TEST_KILL_WORKER || process.env.VERITREE_TEST_KILL_ON) maybeDie(task);
  if (task.kind === 'files') {
    const r = hashFileBatch(task);
    const buffers: ArrayBufferLike[] = [r.digests.buffer, r.sizes.buffer, r.inos.buffer];
    // Trees asked for (keepTree): one joined buffer per batch, moved like the digests.
    if (r.trees && r.treeEnds && r.roots) buffers.push(r.trees.buffer, r.treeEnds.buffer, r.roots.buffer);
    if (r.stored) buffers.push(r.stored.buffer);
    return moved(r, buffers);
  }
  const r = hashRange(task);
  return moved(r, [r.leaves.buffer]);
}
