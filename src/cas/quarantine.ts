/**
 * `verify-cas --quarantine DIR`: moves a corrupt object out of the store with one rename(2) on
 * the same filesystem, to DIR/<its path in the store>, so nothing serves it any more and nothing
 * is lost. Never copies, never deletes, never overwrites: the target name is first claimed with an
 * exclusive create (taken → `.1`, `.2`, … suffix) and the rename then replaces only that claim.
 * On another filesystem (EXDEV) the object stays where it is and the caller reports why.
 *
 * Race-free (src/fs/move.ts): the object is renamed by name from its fan-out directory's
 * descriptor (the one the walk listed and the hash read), only if it is still the inode that was
 * hashed; the quarantine directory is opened once, and judged by what it is (device and inode,
 * climbing `..`), not by how its path is spelled, so a symlink into the store is refused.
 */
import fs from 'node:fs';
import path from 'node:path';
import { openDirectory, type DirHandle } from '../fs/dir.js';
import { ensureDirectories, isWithin, moveAside } from '../fs/move.js';
import { usageError, VeritreeError, writeFailed, asVeritreeError } from '../report/errors.js';
import type { StoreObject } from './scan.js';

export type QuarantineResult = { readonly ok: true; readonly to: string } | { readonly ok: false; readonly why: string; readonly errno?: string };

const EXDEV_WHY = 'the quarantine directory is on another filesystem (EXDEV); objects are only moved by rename, never copied';

/** The quarantine directory, open for the whole run. */
export interface QuarantineTarget {
  /** As given, for the paths reported. */
  readonly path: string;
  readonly dir: DirHandle;
  close(): void;
}

/**
 * Opens (creating it when missing) the quarantine directory, refusing one that is, or would be
 * created, inside the store's objects directory — however it is reached.
 */
export function openQuarantine(quarantineDir: string, objects: DirHandle): QuarantineTarget {
  const refuse = () => usageError(`--quarantine ${quarantineDir}: must not be inside the store's objects (${objects.text})`);
  // Judge the nearest existing ancestor before anything is created.
  const existing = nearestExisting(path.resolve(quarantineDir));
  if (existing !== undefined) {
    const anc = openDirectory(existing, { follow: true });
    try {
      if (isWithin(anc, objects)) throw refuse();
    } finally {
      anc.release();
    }
  }
  try {
    fs.mkdirSync(quarantineDir, { recursive: true });
  } catch (err) {
    throw writeFailed(quarantineDir, `cannot create the quarantine directory: ${(err as Error).message}`, err);
  }
  const dir = openDirectory(quarantineDir, { follow: true });
  if (isWithin(dir, objects)) {
    dir.release();
    throw refuse();
  }
  return { path: quarantineDir, dir, close: () => dir.release() };
}

function nearestExisting(p: string): string | undefined {
  for (let dir = p; ; dir = path.dirname(dir)) {
    if (fs.existsSync(dir)) return dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** Moves `obj` to `<quarantine>/<obj.rel>` (or a suffixed name beside it). */
export function quarantineObject(obj: StoreObject, q: QuarantineTarget): QuarantineResult {
  // Refuse across filesystems before anything is created in the quarantine directory.
  if (obj.dir.stat.dev !== q.dir.stat.dev) return { ok: false, why: EXDEV_WHY, errno: 'EXDEV' };
  const parts = obj.rel.split('/');
  const base = parts.pop()!;
  let target: DirHandle;
  try {
    target = ensureDirectories(q.dir, parts);
  } catch (err) {
    return failure(err);
  }
  try {
    const name = moveAside(obj.dir, obj.name, target, base, obj.ref.ino);
    return { ok: true, to: path.join(q.path, ...parts, name) };
  } catch (err) {
    if (err instanceof VeritreeError && err.errno === 'EXDEV') return { ok: false, why: EXDEV_WHY, errno: 'EXDEV' };
    return failure(err);
  } finally {
    target.release();
  }
}

function failure(err: unknown): QuarantineResult {
  const e = asVeritreeError(err);
  return { ok: false, why: e.describe(), ...(e.errno ? { errno: e.errno } : {}) };
}
