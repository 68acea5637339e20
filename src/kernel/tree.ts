/**
 * `-r DIR` traversal for the kernel verbs: depth-first in directory order, never following
 * symlinks below the operand (the operand itself is followed, like `find -H`). Everything that is
 * not a directory is yielded with its kind, so callers can report symlinks and special files as
 * skipped instead of silently dropping them.
 */
import * as fs from 'node:fs';
import { walk } from '../walk/walk.js';
import { kindOf, type FileKind } from './sys.js';

export interface WalkEntry {
  readonly path: string;
  readonly kind: FileKind;
  /** Set when the entry could not be read (e.g. an unreadable directory). */
  readonly error?: NodeJS.ErrnoException;
}

export async function* walkTree(root: string): AsyncGenerator<WalkEntry> {
  if (typeof root !== 'string' || root.length === 0) throw new TypeError(`bad root: ${JSON.stringify(root)}`);
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(root);
  } catch (err) {
    yield { path: root, kind: 'unknown', error: err as NodeJS.ErrnoException };
    return;
  }
  if (!st.isDirectory()) {
    yield { path: root, kind: kindOf(st) };
    return;
  }
  // The shared streaming walker (src/walk): bounded memory, symlinks below the root never followed.
  try {
    for await (const e of walk(root, { followRoot: true })) {
      if (e.type === 'error') yield { path: e.path, kind: 'directory', error: errnoError(e.error) };
      else yield { path: e.path, kind: e.type };
    }
  } catch (err) {
    yield { path: root, kind: 'directory', error: errnoError(err) };
  }
}

/** The system error behind a walker error, as the kernel verbs report errno names. */
function errnoError(err: unknown): NodeJS.ErrnoException {
  const cause = (err as { cause?: unknown }).cause;
  return (cause instanceof Error ? cause : err) as NodeJS.ErrnoException;
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
