/**
 * Directory walking that never follows symlinks and cannot be steered outside its root: each
 * directory is opened relative to its parent's descriptor with O_NOFOLLOW (dir.ts), so swapping a
 * directory for a symlink while the walk runs yields an error entry, never the symlink's target.
 * Bounded memory: entries are streamed one getdents64 buffer at a time, one open directory per
 * level of depth (plus those retained by consumers).
 *
 * Each entry carries the directory handle it was listed in and its exact name bytes: open it with
 * `openRegularFile(entryRef(e.dir, e.name, e.ino))`. The handle stays valid until the walk moves
 * past the directory; a consumer that keeps it longer calls `e.dir.retain()` (and later release()).
 */
import { VeritreeError, notADirectory, fileChanged, asVeritreeError } from '../report/errors.js';
import { entryKind, openDirectory, openSubdirectory, readDirectory, type DirEntry, type DirHandle } from './dir.js';
import type { FileKind } from './kind.js';
import { pathText, type PathLike } from './path.js';

export type EntryType = FileKind;

export type WalkEntry =
  | {
      readonly type: EntryType;
      /** Text form of `pathBytes` (exact unless the name is not UTF-8). */
      readonly path: string;
      readonly pathBytes: Buffer;
      /** The directory it was listed in, and its name there. */
      readonly dir: DirHandle;
      readonly name: Buffer;
      readonly ino: bigint;
    }
  | { readonly type: 'error'; readonly path: string; readonly pathBytes: Buffer; readonly error: VeritreeError };

export interface WalkOptions {
  /** Follow `root` itself if it is a symlink to a directory (like `find -H`); never below it. */
  followRoot?: boolean;
  /** Also yield directories (before their contents). Default false. */
  directories?: boolean;
  signal?: AbortSignal;
}

/**
 * Yields every entry below `root` (not `root` itself), depth-first. A directory that cannot be
 * opened or read yields an `error` entry and the walk goes on. `root` itself must be a directory,
 * else this throws (a VeritreeError naming it). Synchronous: one getdents64 call fills a 32 KiB
 * buffer, so this is cheap enough to run on the main thread between pool messages.
 */
export function* walkSync(root: PathLike, opts: WalkOptions = {}): Generator<WalkEntry> {
  const rootDir = openDirectory(typeof root === 'string' ? root.replace(/(.)\/+$/, '$1') : root, { follow: opts.followRoot ?? false });
  if (rootDir.stat.kind !== 'directory') {
    rootDir.release();
    throw notADirectory(pathText(root));
  }
  const stack: { dir: DirHandle; entries: Generator<DirEntry> }[] = [{ dir: rootDir, entries: readDirectory(rootDir) }];
  try {
    while (stack.length > 0) {
      if (opts.signal?.aborted) return;
      const top = stack[stack.length - 1]!;
      let next: IteratorResult<DirEntry>;
      try {
        next = top.entries.next();
      } catch (err) {
        stack.pop();
        top.dir.release();
        yield { type: 'error', path: top.dir.text, pathBytes: top.dir.path, error: asError(err, top.dir.text) };
        continue;
      }
      if (next.done) {
        stack.pop();
        top.dir.release();
        continue;
      }
      const e = next.value;
      const type = entryKind(top.dir, e);
      const pathBytes = top.dir.child(e.name);
      if (type !== 'directory') {
        yield { type, path: pathText(pathBytes), pathBytes, dir: top.dir, name: e.name, ino: e.ino };
        continue;
      }
      if (opts.directories) yield { type, path: pathText(pathBytes), pathBytes, dir: top.dir, name: e.name, ino: e.ino };
      let sub: DirHandle;
      try {
        sub = openSubdirectory(top.dir, e.name);
      } catch (err) {
        yield { type: 'error', path: pathText(pathBytes), pathBytes, error: asError(err, pathText(pathBytes)) };
        continue;
      }
      if (sub.stat.ino !== e.ino) {
        // Renamed over between listing and open: still a directory of this tree, but not the one listed.
        sub.release();
        yield { type: 'error', path: pathText(pathBytes), pathBytes, error: fileChanged(pathText(pathBytes), 'directory replaced while the tree was walked') };
        continue;
      }
      stack.push({ dir: sub, entries: readDirectory(sub) });
    }
  } finally {
    for (const { dir } of stack) dir.release();
  }
}

/** `walkSync` for async consumers: yields to the event loop every few hundred entries. */
export async function* walk(root: PathLike, opts: WalkOptions = {}): AsyncGenerator<WalkEntry> {
  let n = 0;
  for (const e of walkSync(root, opts)) {
    yield e;
    if (++n % 512 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

function asError(err: unknown, path: string): VeritreeError {
  return asVeritreeError(err, path);
}
