/**
 * Digests of every regular file below a directory: the streaming walker feeding the scheduler.
 */
import { walkSync, type WalkEntry } from '../fs/walk.js';
import { entryRef } from '../fs/open.js';
import { pathFields } from '../fs/path.js';
import { digestFileBatches, walkedFile, type BulkDigestOptions, type FileDigest, type FileSource } from './scheduler.js';
import { notRegularFile, VeritreeError } from '../report/errors.js';

export type TreeDigest = FileDigest | { readonly ok: false; readonly skipped: true; readonly index: -1; readonly path: string; readonly pathBytes?: Uint8Array; readonly error: VeritreeError };

/**
 * Digests every regular file below `dir` on the pool, never following symlinks. Symlinks and
 * special files are yielded as `skipped` (with the reason); unreadable directories as errors.
 */
export async function* digestTree(dir: string, options: BulkDigestOptions = {}): AsyncGenerator<TreeDigest> {
  for await (const batch of digestTreeBatches(dir, options)) yield* batch;
}

/** `digestTree`, yielding results in arrays as they complete (see `digestFileBatches`). */
export async function* digestTreeBatches(dir: string, options: BulkDigestOptions = {}): AsyncGenerator<TreeDigest[]> {
  let side: TreeDigest[] = [];
  // Sync walker: the scheduler drains it between pool messages without a microtask per entry.
  function* files(): Generator<FileSource> {
    for (const e of walkSync(dir, options.signal ? { signal: options.signal } : {})) {
      // The walk already made the path text: the ref reuses it.
      if (e.type === 'file') yield walkedFile(e.dir, entryRef(e.dir, e.name, e.ino, e.path), e.pathBytes);
      else side.push(skippedEntry(e));
    }
  }
  for await (const batch of digestFileBatches(files(), options)) {
    if (side.length > 0) {
      const extra = side;
      side = [];
      yield [...extra, ...batch];
    } else yield batch;
  }
  if (side.length > 0) yield side;
}

function skippedEntry(e: WalkEntry): TreeDigest {
  const named = pathFields(e.pathBytes).pathBytes === undefined ? { path: e.path } : { path: e.path, pathBytes: e.pathBytes };
  if (e.type === 'error') return { ok: false, index: -1, ...named, error: e.error };
  return { ok: false, skipped: true, index: -1, ...named, error: notRegularFile(e.path, e.type) };
}
