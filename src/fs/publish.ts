/**
 * Write-once files beneath an open directory, for content-addressed stores (docs/FORMATS.md §4.1):
 * the content goes into a file that has no name yet — O_TMPFILE where the filesystem has it, else
 * a hidden `.tmp-*` name — is made durable if asked, and only then gets its final name with
 * linkat(2), which never replaces a name that exists. A reader sees the whole file under its name or
 * nothing; a crash leaves an unnamed inode (the kernel frees it) or at worst a `.tmp-*` name.
 *
 * Everything is relative to directory descriptors, opened O_NOFOLLOW: a symlink swapped in for a
 * store directory cannot redirect a write. All calls are synchronous, so pool workers publish
 * objects straight from the buffers they hashed, without a hop through libuv's thread pool.
 *
 * Durability comes in two grains: `fsync` per file (mkcomposefs' way), or one syncfs(2) for many
 * files written before any of them is named (`syncFilesystem`): the same guarantee — nothing is
 * named before its bytes are on disk — at one device flush per batch instead of per file.
 *
 * Spec: open(2) O_TMPFILE, linkat(2) AT_EMPTY_PATH / AT_SYMLINK_FOLLOW, syncfs(2),
 * copy_file_range(2), mkdirat(2).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { ERRNO, fsErrnoError, fromSystemError } from '../report/errno.js';
import { writeFailed } from '../report/errors.js';
import { AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_FOLLOW, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_RDONLY, O_WRONLY } from './dir.js';
import { libc, type CPath } from './libc.js';

// <asm-generic/fcntl.h>: O_TMPFILE is __O_TMPFILE (020000000) | O_DIRECTORY.
const O_TMPFILE = 0o20000000 | O_DIRECTORY;
const { ENOENT, EXDEV, EEXIST, EISDIR, EINVAL, ENOSYS, EOPNOTSUPP } = ERRNO;

/** Whether O_TMPFILE worked here before (per thread; a filesystem without it falls back). */
let tmpfileWorks: boolean | undefined;
/** Whether linkat(AT_EMPTY_PATH) is allowed (it needs CAP_DAC_READ_SEARCH); else /proc/self/fd. */
let emptyPathLinks: boolean | undefined;

/** A file being written beneath `dirfd` that has no final name yet. */
export class PendingFile {
  readonly fd: number;
  readonly dirfd: number;
  /** The hidden name, when O_TMPFILE was not available (NUL-terminated). */
  readonly #tmpName: Buffer | undefined;
  /** For messages: where the file will be. */
  readonly where: string;
  #open = true;

  private constructor(fd: number, dirfd: number, tmpName: Buffer | undefined, where: string) {
    this.fd = fd;
    this.dirfd = dirfd;
    this.#tmpName = tmpName;
    this.where = where;
  }

  /**
   * Creates an unnamed file in `dirfd` with exactly `mode` (the umask does not apply). `named`
   * skips O_TMPFILE and takes the hidden-name way (what a filesystem without O_TMPFILE gets).
   */
  static create(dirfd: number, mode: number, where: string, opts: { readonly named?: boolean } = {}): PendingFile {
    const lib = libc();
    let file: PendingFile | undefined;
    if (tmpfileWorks !== false && opts.named !== true) {
      const fd = lib.openat(dirfd, '.', O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
      if (fd >= 0) {
        tmpfileWorks = true;
        file = new PendingFile(fd, dirfd, undefined, where);
      } else {
        const errno = lib.errno();
        // Filesystems (and kernels before 3.11) without O_TMPFILE answer one of these.
        if (errno !== EOPNOTSUPP && errno !== EISDIR && errno !== EINVAL) throw fsErrnoError('write', errno, where);
        tmpfileWorks = false;
      }
    }
    for (let attempt = 0; file === undefined; attempt++) {
      const name = Buffer.from(`.tmp-${process.pid}-${crypto.randomBytes(6).toString('hex')}\0`);
      const fd = lib.openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
      if (fd >= 0) file = new PendingFile(fd, dirfd, name, where);
      else if (lib.errno() !== EEXIST || attempt >= 100) throw fsErrnoError('write', lib.errno(), where);
    }
    try {
      // The mode asked for, whatever the umask (mkcomposefs: fchmod on every object).
      fs.fchmodSync(file.fd, mode);
    } catch (err) {
      file.discard();
      throw fromSystemError(err, where, 'write');
    }
    return file;
  }

  /** Writes all of `data` at the current position. */
  write(data: Uint8Array): void {
    let done = 0;
    try {
      while (done < data.length) done += fs.writeSync(this.fd, data, done, data.length - done);
    } catch (err) {
      throw fromSystemError(err, this.where, 'write');
    }
  }

  /**
   * Copies `size` bytes from `srcFd` (at its current position) in the kernel, on libuv's thread
   * pool: a reflink or a page-cache copy where copy_file_range can, else through a buffer. Returns
   * the bytes copied (fewer when the source ended early).
   */
  async copyFrom(srcFd: number, size: number, srcPath: string): Promise<number> {
    const lib = libc();
    let copied = 0;
    while (copied < size) {
      const { n, errno } = await new Promise<{ n: number; errno: number }>((resolve, reject) =>
        lib.copyFileRange.async(srcFd, null, this.fd, null, Math.min(size - copied, 1 << 30), 0, (err, n) => (err ? reject(err) : resolve({ n, errno: n < 0 ? lib.errno() : 0 }))),
      );
      if (n === 0) return copied;
      if (n < 0) {
        // Not between these files (another filesystem before 5.3, a special filesystem): by hand.
        if (errno === EXDEV || errno === EINVAL || errno === ENOSYS || errno === EOPNOTSUPP) break;
        throw fsErrnoError('write', errno, this.where);
      }
      copied += n;
    }
    const buf = Buffer.allocUnsafe(Math.min(Math.max(size - copied, 1), 1 << 20));
    while (copied < size) {
      let got: number;
      try {
        got = fs.readSync(srcFd, buf, 0, Math.min(buf.length, size - copied), null);
      } catch (err) {
        throw fromSystemError(err, srcPath, 'read');
      }
      if (got === 0) break;
      this.write(buf.subarray(0, got));
      copied += got;
    }
    return copied;
  }

  /** fsync(2): this file's data and inode on disk. */
  sync(): void {
    try {
      fs.fsyncSync(this.fd);
    } catch (err) {
      throw fromSystemError(err, this.where, 'write');
    }
  }

  /** `sync()` on libuv's thread pool. */
  async syncAsync(): Promise<void> {
    await new Promise<void>((resolve, reject) => fs.fsync(this.fd, (err) => (err ? reject(fromSystemError(err, this.where, 'write')) : resolve())));
  }

  /**
   * Names the file `name` in `dirfd` (default: the directory it was created in; another one must
   * be on the same filesystem) and closes it. Returns false, leaving nothing behind, when the name
   * exists already (another writer was first; content-addressed, so it is the same).
   */
  commit(name: CPath, dirfd = this.dirfd): boolean {
    const lib = libc();
    try {
      let r: number;
      let errno = 0;
      if (this.#tmpName) {
        r = lib.linkat(this.dirfd, this.#tmpName, dirfd, name, 0);
        if (r < 0) errno = lib.errno();
      } else {
        r = -1;
        if (emptyPathLinks !== false) {
          r = lib.linkat(this.fd, '', dirfd, name, AT_EMPTY_PATH);
          if (r < 0) {
            errno = lib.errno();
            // ENOENT: the caller lacks CAP_DAC_READ_SEARCH; the /proc link does the same unprivileged.
            if (errno === ENOENT) emptyPathLinks = false;
          } else emptyPathLinks = true;
        }
        if (r < 0 && emptyPathLinks === false) {
          r = lib.linkat(AT_FDCWD, `/proc/self/fd/${this.fd}`, dirfd, name, AT_SYMLINK_FOLLOW);
          if (r < 0) errno = lib.errno();
        }
      }
      if (r >= 0) return true;
      if (errno === EEXIST) return false;
      throw fsErrnoError('write', errno, this.where);
    } finally {
      this.discard();
    }
  }

  /** Closes the file and removes its hidden name, if any (idempotent). */
  discard(): void {
    if (!this.#open) return;
    this.#open = false;
    const lib = libc();
    lib.close(this.fd);
    if (this.#tmpName) lib.unlinkat(this.dirfd, this.#tmpName, 0);
  }
}

/**
 * syncfs(2) on the filesystem holding `fd`: everything written there so far is on disk. One call
 * for a batch of pending files, before any of them is committed.
 */
export function syncFilesystem(fd: number, where: string): void {
  const lib = libc();
  if (lib.syncfs(fd) < 0) throw fsErrnoError('write', lib.errno(), where);
}

/**
 * Opens subdirectory `name` of `dirfd` (O_NOFOLLOW), creating it with exactly `mode` when missing.
 * Returns its descriptor; the caller closes it.
 */
export function openOrCreateSubdir(dirfd: number, name: string, mode: number, where: string): number {
  const lib = libc();
  const created = lib.mkdirat(dirfd, name, mode) >= 0;
  if (!created && lib.errno() !== EEXIST) throw fsErrnoError('mkdir', lib.errno(), where);
  const fd = lib.openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
  if (fd < 0) {
    const errno = lib.errno();
    throw errno === 40 || errno === 20 ? writeFailed(where, 'not a directory (a symlink or a file has its name)') : fsErrnoError('open-directory', errno, where);
  }
  if (created) {
    try {
      // mkdir's mode passes through the umask; the layout wants `mode` exactly.
      fs.fchmodSync(fd, mode);
    } catch (err) {
      lib.close(fd);
      throw fromSystemError(err, where, 'write');
    }
  }
  return fd;
}
