/**
 * Directory walking that never follows symlinks, in bounded memory: entries are streamed from
 * `opendir` (no full listings held), one open directory handle per level of depth.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fromSystemError, VeritreeError } from '../report/errors.js';
import { kindOf, type FileKind } from './kind.js';

export type EntryType = FileKind;

export type WalkEntry =
  | { readonly path: string; readonly type: EntryType }
  | { readonly path: string; readonly type: 'error'; readonly error: VeritreeError };


export interface WalkOptions {
  /** Also yield directories (after entering them is decided). Default false. */
  directories?: boolean;
  signal?: AbortSignal;
}

/**
 * Yields every entry below `root` (not `root` itself). A directory that cannot be read yields an
 * `error` entry and the walk goes on. `root` itself must be a readable directory, else this throws.
 */
export async function* walk(root: string, opts: WalkOptions = {}): AsyncGenerator<WalkEntry> {
  let st: fs.Stats;
  try {
    st = await fs.promises.lstat(root);
  } catch (err) {
    throw fromSystemError(err, root, 'stat');
  }
  if (!st.isDirectory()) throw new VeritreeError('not-a-directory', 'not a directory', { path: root });
  yield* walkDir(root, opts, true);
}

async function* walkDir(dir: string, opts: WalkOptions, isRoot: boolean): AsyncGenerator<WalkEntry> {
  let handle: fs.Dir;
  try {
    handle = await fs.promises.opendir(dir, { bufferSize: 128 });
  } catch (err) {
    const e = fromSystemError(err, dir, 'open');
    if (isRoot) throw e;
    yield { path: dir, type: 'error', error: e };
    return;
  }
  try {
    for await (const d of handle) {
      if (opts.signal?.aborted) return;
      const p = path.join(dir, d.name);
      let type = kindOf(d);
      // Some filesystems leave d_type unset (DT_UNKNOWN): ask lstat, still without following.
      if (type === 'unknown') type = await fs.promises.lstat(p).then(kindOf, () => 'unknown' as const);
      if (type === 'directory') {
        if (opts.directories) yield { path: p, type };
        yield* walkDir(p, opts, false);
      } else {
        yield { path: p, type };
      }
    }
  } catch (err) {
    yield { path: dir, type: 'error', error: fromSystemError(err, dir, 'read') };
  }
}
