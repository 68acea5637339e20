/**
 * `-r DIR` traversal for the kernel verbs: depth-first in directory order, never following
 * symlinks below the operand (the operand itself is followed, like `find -H`), every file reached
 * through its parent's directory descriptor (src/fs/walk.ts). Everything that is not a directory
 * is yielded with its kind, so callers can report symlinks and special files as skipped instead
 * of silently dropping them.
 */
import { statAt } from '../fs/stat.js';
import { AT_FDCWD } from '../fs/dir.js';
import { entryRef, type FileRef } from '../fs/open.js';
import { walk } from '../fs/walk.js';
import { VeritreeError, asVeritreeError } from '../report/errors.js';
import type { FileKind } from './sys.js';
import { kernelErrnoError } from '../report/errno.js';

export interface WalkEntry {
  readonly path: string;
  readonly kind: FileKind;
  /** For files found by a walk: where to open them (relative to the walked directory). */
  readonly ref?: FileRef;
  /** Call once done with `ref` (it releases the directory descriptor). */
  readonly release?: () => void;
  /** Set when the entry could not be read (e.g. an unreadable directory). */
  readonly error?: VeritreeError;
}

export async function* walkTree(root: string): AsyncGenerator<WalkEntry> {
  if (typeof root !== 'string' || root.length === 0) throw new TypeError(`bad root: ${JSON.stringify(root)}`);
  const st = statAt(AT_FDCWD, root, true);
  if (typeof st === 'number') {
    yield { path: root, kind: 'unknown', error: kernelErrnoError('stat', -st, root) };
    return;
  }
  if (st.kind !== 'directory') {
    yield { path: root, kind: st.kind };
    return;
  }
  try {
    for await (const e of walk(root, { followRoot: true })) {
      if (e.type === 'error') yield { path: e.path, kind: 'directory', error: e.error };
      else if (e.type === 'file') {
        const dir = e.dir.retain();
        yield { path: e.path, kind: 'file', ref: entryRef(dir, e.name, e.ino, e.path), release: () => dir.release() };
      } else yield { path: e.path, kind: e.type };
    }
  } catch (err) {
    yield { path: root, kind: 'directory', error: asVeritreeError(err, root) };
  }
}

/** Why a non-regular entry is skipped, in words. */
export function skipReason(kind: FileKind): string {
  switch (kind) {
    case 'symlink': return 'symbolic link (not followed)';
    case 'fifo': return 'named pipe (not a regular file)';
    case 'socket': return 'socket (not a regular file)';
    case 'char-device': return 'character device (not a regular file)';
    case 'block-device': return 'block device (not a regular file)';
    case 'directory': return 'directory';
    default: return 'not a regular file';
  }
}
