/**
 * `enable --copy`: when a file cannot get fs-verity because some process holds it open for
 * writing (ETXTBSY, docs/FORMATS.md §2.3), enable it on a fresh copy instead and rename the copy over
 * the original. The writer keeps its (now unlinked) inode; readers opening the path afterwards get
 * the verity file. Mode, owner, extended attributes and timestamps are carried over; other hard
 * links to the old inode are not (a rename replaces one name only).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { kernelError, VeritreeError, withPath } from '../report/errors.js';
import { fromSystemError } from '../report/errno.js';
import { enableVerity, getAllXattrs, setXattr } from './async.js';
import type { EnableOptions } from './verity.js';

export async function enableViaCopy(file: string, opts: EnableOptions = {}): Promise<void> {
  if (typeof file !== 'string' || file.length === 0) throw new TypeError(`bad path: ${JSON.stringify(file)}`);
  let st: fs.Stats;
  try {
    st = await fs.promises.lstat(file);
  } catch (err) {
    throw fromSystemError(err, file, 'stat');
  }
  if (!st.isFile()) throw kernelError('not-a-regular-file', 'not a regular file; --copy only replaces regular files', { path: file });
  // Same directory: the final rename must not cross filesystems, and the copy lands on the same fs.
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.veritree-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await fs.promises.copyFile(file, tmp, fs.constants.COPYFILE_EXCL);
    // Owner before mode: chown clears setuid/setgid bits, chmod puts them back.
    await fs.promises.chown(tmp, st.uid, st.gid).catch((err: NodeJS.ErrnoException) => {
      // An unprivileged user cannot give files away; keeping our own ownership is then all we can do.
      if (err.code !== 'EPERM' || (st.uid === process.getuid?.() && st.gid === process.getgid?.())) throw err;
    });
    await fs.promises.chmod(tmp, st.mode & 0o7777);
    for (const [name, value] of await getAllXattrs(file)) await setXattr(tmp, name, value);
    await enableVerity(tmp, { ...opts, busyRetries: 0 });
    // After enabling: timestamps are metadata, still settable on a verity file (§2.6).
    await fs.promises.utimes(tmp, st.atime, st.mtime);
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.unlink(tmp).catch(() => undefined);
    if (err instanceof VeritreeError) throw withPath(err, file, '--copy: ');
    throw fromSystemError(err, file, 'write');
  }
}
