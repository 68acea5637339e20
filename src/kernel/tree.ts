/**
 * `-r DIR` traversal for the kernel verbs: depth-first, entries sorted by name, never following
 * symlinks below the operand (the operand itself is followed, like `find -H`). Everything that is
 * not a directory is yielded with its kind, so callers can report symlinks and special files as
 * skipped instead of silently dropping them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
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
  yield* walkDir(root);
}

async function* walkDir(dir: string): AsyncGenerator<WalkEntry> {
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(dir, { withFileTypes: true });
  } catch (err) {
    yield { path: dir, kind: 'directory', error: err as NodeJS.ErrnoException };
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = path.join(dir, e.name);
    let kind = kindOf(e);
    if (kind === 'unknown') {
      // Some filesystems do not fill d_type; lstat keeps "do not follow" intact.
      try {
        kind = kindOf(await fs.promises.lstat(p));
      } catch (err) {
        yield { path: p, kind, error: err as NodeJS.ErrnoException };
        continue;
      }
    }
    if (kind === 'directory') yield* walkDir(p);
    else yield { path: p, kind };
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
