/**
 * Atomic output files: write to a temporary file beside the target, fsync, rename over it. A reader
 * (or a crash) sees the old file or the whole new one, never a half-written one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fromSystemError } from '../report/errno.js';

export async function writeFileAtomic(target: string, data: Uint8Array): Promise<void> {
  const dir = path.dirname(target);
  const tmp = path.join(dir, `.${path.basename(target)}.veritree-${process.pid}-${Math.random().toString(36).slice(2, 10)}.tmp`);
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(tmp, 'wx', 0o644);
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fs.promises.rename(tmp, target);
  } catch (err) {
    if (fh) await fh.close().catch(() => {});
    await fs.promises.rm(tmp, { force: true }).catch(() => {});
    throw fromSystemError(err, target, 'write');
  }
}
