/**
 * The store walk of `verify-cas`: lists the store level by level (streamed `opendir`, one handle
 * per level, no listing held), yields the path of every well-named regular object file for
 * hashing, and reports everything else it can judge from names and types alone — symlinks (never
 * followed), special files, bad names, temporary leftovers, unexpected entries, unreadable
 * directories. Objects are yielded as paths (`<root>/[objects/]XX/<rest>`: the digest to expect
 * is the last two components). Pulling slowly slows the walk: memory stays flat on stores of
 * millions of objects.
 */
import { readDirectory, entryKind, openDirectory, openSubdirectory, type DirEntry, type DirHandle } from '../fs/dir.js';
import type { FileKind } from '../fs/kind.js';
import { entryRef, type FileRef } from '../fs/open.js';
import { pathText } from '../fs/path.js';
import { checkObjectName, isFanoutName, type CasLayout } from './layout.js';
import { VeritreeError, asVeritreeError } from '../report/errors.js';
import {
  directoryOpenFailed,
  invalidName,
  isTempName,
  strayTempFile,
  unexpectedEntry,
  unexpectedFileType,
  unexpectedSymlink,
  type Finding,
} from './findings.js';

type EntryType = FileKind;

export interface ScanSink {
  /**
   * A problem found without hashing. `objectSlot` is true when the entry sits where an object
   * belongs (it then counts as a checked object that is not ok, as cfsctl counts it).
   */
  finding(f: Finding, objectSlot: boolean): Promise<void> | void;
}

/**
 * A well-named object file, as the walk found it: open it through `ref` (relative to its fan-out
 * directory's descriptor, no symlink followed, the inode listed). `dir` is retained for the
 * consumer, who calls `release()` once done with the object (hashing, enabling, moving it).
 */
export interface StoreObject {
  /** `<root>/[objects/]XX/<rest>`, for messages. */
  readonly path: string;
  /** Relative to the store root: the digest it must have is its last two components. */
  readonly rel: string;
  readonly ref: FileRef;
  readonly dir: DirHandle;
  readonly name: Buffer;
  release(): void;
}

function describe(kind: EntryType): string {
  return kind === 'file' ? 'regular file' : kind === 'unknown' ? 'entry of unknown type' : kind.replace('-', ' ');
}

/** A listing entry, or why the directory could not be read (reported, not thrown). */
type Listed = { readonly entry: DirEntry; readonly kind: EntryType; readonly name: string } | { readonly error: VeritreeError };

/** Streams the entries of an open directory; the walk's reference is dropped however it stops. */
function* listDir(dir: DirHandle): Generator<Listed> {
  try {
    for (const entry of readDirectory(dir)) yield { entry, kind: entryKind(dir, entry), name: entry.name.toString('latin1') };
  } catch (error) {
    yield { error: asVeritreeError(error, dir.text) };
  } finally {
    dir.release();
  }
}

/** Opens a subdirectory, or reports why it cannot be (a finding, not an exception). */
async function enter(parent: DirHandle, entry: DirEntry, rel: string, sink: ScanSink): Promise<DirHandle | undefined> {
  try {
    const dir = openSubdirectory(parent, entry.name);
    if (dir.stat.ino === entry.ino) return dir;
    dir.release();
    await sink.finding(directoryOpenFailed(rel, 'directory replaced while the store was walked'), false);
  } catch (err) {
    const e = asVeritreeError(err, rel);
    if (e.errno === 'ELOOP' || e.errno === 'ENOTDIR') await sink.finding(unexpectedSymlink(rel), false);
    else await sink.finding(directoryOpenFailed(rel, e.message, e.errno), false);
  }
  return undefined;
}

/**
 * Walks `layout.root`. Yields objects to hash; reports the rest to `sink`, unreadable directories
 * included (detectLayout has already made sure the root itself can be listed). Every directory is
 * opened relative to its parent with O_NOFOLLOW: a directory swapped for a symlink mid-walk is
 * reported, never followed.
 */
export async function* scanStore(layout: CasLayout, sink: ScanSink, signal?: AbortSignal): AsyncGenerator<StoreObject> {
  let root: DirHandle;
  try {
    root = openDirectory(layout.root, { follow: true });
  } catch (err) {
    const e = asVeritreeError(err, layout.root);
    await sink.finding(directoryOpenFailed('.', e.message, e.errno), false);
    return;
  }
  if (layout.objectsRel === '') {
    yield* scanObjectsLevel(root, '', sink, layout, signal);
    return;
  }
  for (const item of listDir(root)) {
    if (signal?.aborted) return;
    if ('error' in item) {
      // The root was readable a moment ago (layout detection); report rather than lose the run.
      await sink.finding(directoryOpenFailed('.', item.error.message, item.error.errno), false);
      return;
    }
    const { kind, name } = item;
    if (name === layout.objectsRel) {
      if (kind === 'directory') {
        const sub = await enter(root, item.entry, name, sink);
        if (sub) yield* scanObjectsLevel(sub, name, sink, layout, signal);
      } else if (kind === 'symlink') await sink.finding(unexpectedSymlink(name), false);
      else await sink.finding(unexpectedFileType(name, describe(kind), 'the objects directory'), false);
    } else if (!layout.reserved.has(name)) {
      // streams/, images/, meta.json belong to the repository but hold no objects: not descended into.
      await sink.finding(outsideFanoutFinding(pathText(item.entry.name), kind), false);
    }
  }
}

/** An entry outside the fan-out directories that the layout does not expect. */
function outsideFanoutFinding(rel: string, kind: EntryType): Finding {
  const name = rel.slice(rel.lastIndexOf('/') + 1);
  if (kind === 'symlink') return unexpectedSymlink(rel);
  if (kind === 'file' && isTempName(name)) return strayTempFile(rel);
  return unexpectedEntry(rel, describe(kind));
}

/** The directory holding the fan-out directories (the store root for composefs). */
async function* scanObjectsLevel(dir: DirHandle, rel: string, sink: ScanSink, layout: CasLayout, signal: AbortSignal | undefined): AsyncGenerator<StoreObject> {
  for (const item of listDir(dir)) {
    if (signal?.aborted) return;
    if ('error' in item) {
      await sink.finding(directoryOpenFailed(rel === '' ? '.' : rel, item.error.message, item.error.errno), false);
      return;
    }
    const { kind, name } = item;
    const childRel = rel === '' ? pathText(item.entry.name) : `${rel}/${pathText(item.entry.name)}`;
    if (kind === 'directory' && isFanoutName(name)) {
      const sub = await enter(dir, item.entry, childRel, sink);
      if (sub) yield* scanFanout(sub, childRel, name, sink, layout, signal);
    } else await sink.finding(outsideFanoutFinding(childRel, kind), false);
  }
}

/** One `XX` directory: every entry here is an object slot (temporary leftovers excepted). */
async function* scanFanout(dir: DirHandle, rel: string, fanout: string, sink: ScanSink, layout: CasLayout, signal: AbortSignal | undefined): AsyncGenerator<StoreObject> {
  for (const item of listDir(dir)) {
    if (signal?.aborted) return;
    if ('error' in item) {
      await sink.finding(directoryOpenFailed(rel, item.error.message, item.error.errno), false);
      return;
    }
    const { kind, name, entry } = item;
    const childRel = `${rel}/${pathText(entry.name)}`;
    if (kind === 'symlink') {
      await sink.finding(unexpectedSymlink(childRel), true);
    } else if (kind !== 'file') {
      await sink.finding(unexpectedFileType(childRel, describe(kind), 'an object (regular file)'), true);
    } else if (isTempName(name)) {
      await sink.finding(strayTempFile(childRel), false);
    } else {
      const check = checkObjectName(layout.hashAlg, fanout, name);
      if (check.ok) {
        // The digest to expect is its path: fan-out dir + name.
        const held = dir.retain();
        const ref = entryRef(held, entry.name, entry.ino);
        yield { path: ref.path, rel: childRel, ref, dir: held, name: entry.name, release: () => held.release() };
      } else await sink.finding(invalidName(childRel, check.why), true);
    }
  }
}
