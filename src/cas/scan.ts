/**
 * The store walk of `verify-cas`: lists the store level by level (streamed `opendir`, one handle
 * per level, no listing held), yields the path of every well-named regular object file for
 * hashing, and reports everything else it can judge from names and types alone — symlinks (never
 * followed), special files, bad names, temporary leftovers, unexpected entries, unreadable
 * directories. Objects are yielded as paths (`<root>/[objects/]XX/<rest>`: the digest to expect
 * is the last two components). Pulling slowly slows the walk: memory stays flat on stores of
 * millions of objects.
 */
import fs from 'node:fs';
import type { EntryType } from '../walk/walk.js';
import { kindOf } from '../walk/kind.js';
import { checkObjectName, isFanoutName, type CasLayout } from '../walk/cas-layout.js';
import { fromSystemError } from '../report/errors.js';
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

export interface ScanSink {
  /**
   * A problem found without hashing. `objectSlot` is true when the entry sits where an object
   * belongs (it then counts as a checked object that is not ok, as cfsctl counts it).
   */
  finding(f: Finding, objectSlot: boolean): Promise<void> | void;
}

const DIR_BUFFER = 256;


/** The type when the listing does not say (DT_UNKNOWN, some filesystems): ask lstat. */
async function lstatKind(abs: string): Promise<EntryType> {
  try {
    const st = await fs.promises.lstat(abs);
    return kindOf(st);
  } catch {
    return 'unknown';
  }
}

function describe(kind: EntryType): string {
  return kind === 'file' ? 'regular file' : kind === 'unknown' ? 'entry of unknown type' : kind.replace('-', ' ');
}

/** A listing entry, or why the directory could not be opened or read (reported, not thrown). */
type Listed = { readonly entry: fs.Dirent } | { readonly error: unknown };

/** Streams the entries of `abs`; the handle is closed however the caller stops. */
async function* listDir(abs: string): AsyncGenerator<Listed> {
  let dir: fs.Dir;
  try {
    dir = await fs.promises.opendir(abs, { bufferSize: DIR_BUFFER });
  } catch (error) {
    yield { error };
    return;
  }
  try {
    for (;;) {
      let entry: fs.Dirent | null;
      try {
        // Synchronous: entries come from a buffer refilled one readdir(2) batch at a time, so the
        // rare blocking call is short, and a promise per entry would dominate the walk's cost.
        entry = dir.readSync();
      } catch (error) {
        yield { error };
        return;
      }
      if (entry === null) return;
      yield { entry };
    }
  } finally {
    await dir.close().catch(() => {});
  }
}

/**
 * Walks `layout.root`. Yields objects to hash; reports the rest to `sink`, unreadable directories
 * included (detectLayout has already made sure the root itself can be listed).
 */
export async function* scanStore(layout: CasLayout, sink: ScanSink, signal?: AbortSignal): AsyncGenerator<string> {
  const root = layout.root;
  if (layout.objectsRel === '') {
    yield* scanObjectsLevel(root, '', sink, layout, signal);
    return;
  }
  for await (const item of listDir(root)) {
    if (signal?.aborted) return;
    if ('error' in item) {
      // The root was readable a moment ago (layout detection); report rather than lose the run.
      await sink.finding(directoryOpenFailed('.', fromSystemError(item.error, root).message, errnoOf(item.error)), false);
      return;
    }
    const d = item.entry;
    const abs = `${root}/${d.name}`;
    let kind = kindOf(d);
    if (kind === 'unknown') kind = await lstatKind(abs);
    if (d.name === layout.objectsRel) {
      if (kind === 'directory') yield* scanObjectsLevel(abs, d.name, sink, layout, signal);
      else if (kind === 'symlink') await sink.finding(unexpectedSymlink(d.name), false);
      else await sink.finding(unexpectedFileType(d.name, describe(kind), 'the objects directory'), false);
    } else if (!layout.reserved.has(d.name)) {
      // streams/, images/, meta.json belong to the repository but hold no objects: not descended into.
      await sink.finding(outsideFanoutFinding(d.name, kind), false);
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
async function* scanObjectsLevel(abs: string, rel: string, sink: ScanSink, layout: CasLayout, signal: AbortSignal | undefined): AsyncGenerator<string> {
  for await (const item of listDir(abs)) {
    if (signal?.aborted) return;
    if ('error' in item) {
      await sink.finding(directoryOpenFailed(rel === '' ? '.' : rel, fromSystemError(item.error, abs).message, errnoOf(item.error)), false);
      return;
    }
    const d = item.entry;
    const childAbs = `${abs}/${d.name}`;
    const childRel = rel === '' ? d.name : `${rel}/${d.name}`;
    let kind = kindOf(d);
    if (kind === 'unknown') kind = await lstatKind(childAbs);
    if (kind === 'directory' && isFanoutName(d.name)) yield* scanFanout(childAbs, childRel, d.name, sink, layout, signal);
    else await sink.finding(outsideFanoutFinding(childRel, kind), false);
  }
}

/** One `XX` directory: every entry here is an object slot (temporary leftovers excepted). */
async function* scanFanout(abs: string, rel: string, fanout: string, sink: ScanSink, layout: CasLayout, signal: AbortSignal | undefined): AsyncGenerator<string> {
  for await (const item of listDir(abs)) {
    if (signal?.aborted) return;
    if ('error' in item) {
      await sink.finding(directoryOpenFailed(rel, fromSystemError(item.error, abs).message, errnoOf(item.error)), false);
      return;
    }
    const d = item.entry;
    const childAbs = `${abs}/${d.name}`;
    const childRel = `${rel}/${d.name}`;
    let kind = kindOf(d);
    if (kind === 'unknown') kind = await lstatKind(childAbs);
    if (kind === 'symlink') {
      await sink.finding(unexpectedSymlink(childRel), true);
    } else if (kind !== 'file') {
      await sink.finding(unexpectedFileType(childRel, describe(kind), 'an object (regular file)'), true);
    } else if (isTempName(d.name)) {
      await sink.finding(strayTempFile(childRel), false);
    } else {
      const name = checkObjectName(layout.hashAlg, fanout, d.name);
      if (name.ok) yield childAbs; // the digest to expect is its path: fan-out dir + name
      else await sink.finding(invalidName(childRel, name.why), true);
    }
  }
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
