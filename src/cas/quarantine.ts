/**
 * `verify-cas --quarantine DIR`: moves a corrupt object out of the store with one rename(2) on
 * the same filesystem, to DIR/<its path in the store>, so nothing serves it any more and nothing
 * is lost. Never copies, never deletes, never overwrites: the target name is first claimed with an
 * exclusive create (taken → `.1`, `.2`, … suffix) and the rename then replaces only that claim.
 * On another filesystem (EXDEV) the object stays where it is and the caller reports why.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fromSystemError } from '../report/errors.js';

export type QuarantineResult = { readonly ok: true; readonly to: string } | { readonly ok: false; readonly why: string; readonly errno?: string };

/** Suffixes tried before giving up (a store would need that many copies of one corrupt name). */
const MAX_SUFFIX = 1000;

const EXDEV_WHY = 'the quarantine directory is on another filesystem (EXDEV); objects are only moved by rename, never copied';

/** Moves `storeRoot/rel` to `quarantineDir/rel` (or a suffixed name beside it). */
export async function quarantineObject(storeRoot: string, rel: string, quarantineDir: string): Promise<QuarantineResult> {
  const source = path.join(storeRoot, rel);
  let sourceDev: number;
  try {
    sourceDev = (await fs.promises.lstat(source)).dev;
  } catch (err) {
    return failure(err, source);
  }
  // Refuse early across filesystems, before anything is created in the quarantine directory.
  const targetDev = await nearestExistingDev(quarantineDir);
  if (targetDev !== undefined && targetDev !== sourceDev) return { ok: false, why: EXDEV_WHY, errno: 'EXDEV' };

  const wanted = path.join(quarantineDir, rel);
  try {
    await fs.promises.mkdir(path.dirname(wanted), { recursive: true });
  } catch (err) {
    return failure(err, path.dirname(wanted), 'write');
  }
  for (let n = 0; n <= MAX_SUFFIX; n++) {
    const target = n === 0 ? wanted : `${wanted}.${n}`;
    try {
      await (await fs.promises.open(target, 'wx', 0o600)).close();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      return failure(err, target, 'write');
    }
    try {
      await fs.promises.rename(source, target);
      return { ok: true, to: target };
    } catch (err) {
      await fs.promises.unlink(target).catch(() => {});
      if ((err as NodeJS.ErrnoException).code === 'EXDEV') return { ok: false, why: EXDEV_WHY, errno: 'EXDEV' };
      return failure(err, source, 'write');
    }
  }
  return { ok: false, why: `${wanted} and ${MAX_SUFFIX} suffixed names beside it are taken` };
}

function failure(err: unknown, p: string, action: 'write' | 'stat' = 'stat'): QuarantineResult {
  const e = fromSystemError(err, p, action);
  return { ok: false, why: e.describe(), ...(e.errno ? { errno: e.errno } : {}) };
}

/** st_dev of `p`, or of its nearest existing ancestor (where `mkdir -p` would create it). */
async function nearestExistingDev(p: string): Promise<number | undefined> {
  for (let dir = path.resolve(p); ; dir = path.dirname(dir)) {
    try {
      return (await fs.promises.stat(dir)).dev;
    } catch {
      if (path.dirname(dir) === dir) return undefined;
    }
  }
}
