/**
 * Opening a file to read it, race-free: by name relative to an open directory (see dir.ts),
 * never following a final symlink unless the caller named the file itself, then checking on the
 * descriptor that it is a regular file and the very inode the listing saw. Only what passed those
 * checks is read, hashed, enabled or moved.
 */
import { fileChanged, notRegularFile, type VeritreeError } from '../report/errors.js';
import { AT_FDCWD, O_NOFOLLOW, READ_FLAGS, type DirHandle } from './dir.js';
import { fsErrnoError } from '../report/errno.js';
import { libc } from './libc.js';
import { cPath, pathBytes, pathText, type PathLike } from './path.js';
import { statFd, type FileStat } from './stat.js';

/** Where a file is: a name relative to a directory descriptor, plus what the listing saw. */
export interface FileRef {
  /** The directory descriptor `name` is relative to; AT_FDCWD for a path given as an operand. */
  readonly dirfd: number;
  /** One component (inside a tree) or an operand path; exact bytes. */
  readonly name: PathLike;
  /** For messages and output. */
  readonly path: string;
  /** Follow a final symlink: only for operands the user named (as `fsverity digest` does). */
  readonly follow?: boolean;
  /** The inode the listing saw; opening another one is `file-changed`. */
  readonly ino?: bigint;
  /**
   * `name` is a relative path of several components below `dirfd`: resolve it without leaving
   * `dirfd` and without following any symlink (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS).
   */
  readonly beneath?: boolean;
}

const ELOOP = 40;

/** A ref for a path given on the command line or through the API. */
export function operandRef(path: string): FileRef {
  return { dirfd: AT_FDCWD, name: path, path, follow: true };
}

/** A ref for entry `name` of `dir` (the caller keeps `dir` retained while the ref is used). */
export function entryRef(dir: DirHandle, name: Uint8Array, ino?: bigint, path?: string): FileRef {
  return { dirfd: dir.fd, name, path: path ?? pathText(dir.child(name)), ...(ino !== undefined ? { ino } : {}) };
}

export interface OpenFile {
  readonly fd: number;
  readonly stat: FileStat;
}

/** Opens `ref` read-only; throws a VeritreeError unless it is the regular file expected. */
export function openRegularFile(ref: FileRef, flags = READ_FLAGS): OpenFile {
  const lib = libc();
  const fd = ref.beneath ? openBeneath(ref.dirfd, ref.name, flags | O_NOFOLLOW) : lib.openat(ref.dirfd, cPath(ref.name), flags | (ref.follow ? 0 : O_NOFOLLOW), 0);
  if (fd < 0) {
    const errno = ref.beneath ? -fd : lib.errno();
    if (errno === ELOOP && !ref.follow) throw notRegularFile(ref.path, 'symlink');
    throw fsErrnoError('open', errno, ref.path);
  }
  const stat = statFd(fd);
  let problem: VeritreeError | undefined;
  if (typeof stat === 'number') problem = fsErrnoError('stat', -stat, ref.path);
  else if (stat.kind !== 'file') problem = notRegularFile(ref.path, stat.kind);
  else if (ref.ino !== undefined && stat.ino !== ref.ino) problem = fileChanged(ref.path, `replaced after it was listed: inode ${ref.ino} listed, ${stat.ino} opened`);
  if (problem) {
    lib.close(fd);
    throw problem;
  }
  return { fd, stat: stat as FileStat };
}

/**
 * A path that reaches `ref` through its directory descriptor (`/proc/self/fd/N/name`), for the
 * few path-only APIs (copying a file beside itself): the kernel resolves N to the directory that
 * was walked, not to whatever its path names now.
 */
export function procPath(ref: FileRef): string {
  return ref.dirfd === AT_FDCWD ? pathText(ref.name) : `/proc/self/fd/${ref.dirfd}/${pathText(ref.name)}`;
}

// <linux/openat2.h>
const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_NO_SYMLINKS = 0x04;
const RESOLVE_BENEATH = 0x08;
const ENOSYS = 38;
let haveOpenat2: boolean | undefined;

/**
 * Opens the relative path `rel` below `dirfd` without leaving it and without following any
 * symlink: one openat2(2) call where the kernel has it (Linux ≥ 5.6), else one openat per
 * component (directories O_DIRECTORY | O_NOFOLLOW). Returns the fd, or a negative errno.
 */
export function openBeneath(dirfd: number, rel: PathLike, flags: number): number {
  const lib = libc();
  const path = cPath(rel);
  if (haveOpenat2 !== false) {
    const how = new Uint8Array(24);
    const v = new DataView(how.buffer);
    v.setBigUint64(0, BigInt(flags), true);
    v.setBigUint64(16, BigInt(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), true);
    const fd = lib.openat2(dirfd, path, how);
    if (fd >= 0) return fd;
    const errno = lib.errno();
    if (errno !== ENOSYS) return -errno;
    haveOpenat2 = false;
  }
  // Without openat2: component by component from dirfd, `..` and absolute paths refused.
  const parts = pathBytes(rel).toString('latin1').split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.some((p) => p === '..') || pathBytes(rel)[0] === 0x2f) return -18; // EXDEV, as RESOLVE_BENEATH
  let at = dirfd;
  try {
    for (let i = 0; i < parts.length - 1; i++) {
      const next = lib.openat(at, cPath(Buffer.from(parts[i]!, 'latin1')), O_DIRECTORY_FLAGS, 0);
      if (next < 0) return -lib.errno();
      if (at !== dirfd) lib.close(at);
      at = next;
    }
    const fd = lib.openat(at, cPath(Buffer.from(parts[parts.length - 1]!, 'latin1')), flags | O_NOFOLLOW, 0);
    return fd < 0 ? -lib.errno() : fd;
  } finally {
    if (at !== dirfd) lib.close(at);
  }
}

const O_DIRECTORY_FLAGS = 0o200000 | O_NOFOLLOW | 0o2000000; // O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC

export function closeFile(fd: number): void {
  libc().close(fd);
}
