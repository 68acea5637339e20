/**
 * Directory handles: every name veritree opens inside a tree is resolved relative to the
 * descriptor of its parent directory, and every directory descriptor was itself opened with
 * O_DIRECTORY | O_NOFOLLOW relative to its parent. Once a directory is open, renaming or swapping
 * anything above it (a directory replaced by a symlink, say) cannot redirect what is opened
 * below it: the kernel resolves one component at a time from the pinned directory, and a final
 * symlink is never followed. Listings come from getdents64(2) as raw bytes (names exact), with
 * the inode number the listing saw, so an open can check it got that very file.
 *
 * A handle is reference-counted: the walker holds one reference while it lists the directory,
 * and whoever still needs the descriptor (a file queued on the pool, say) retains another. The
 * descriptor closes with the last release. Descriptors are per process, so pool workers open
 * names relative to the main thread's directory descriptors.
 *
 * Spec: openat(2) (O_NOFOLLOW, O_DIRECTORY), getdents64(2) (`struct linux_dirent64`).
 */
import { fsErrnoError } from '../report/errno.js';
import { kindOfDtype, type FileKind } from './kind.js';
import { libc, type CPath } from './libc.js';
import { cPath, joinPath, pathBytes, pathText, type PathLike } from './path.js';
import { statAt, statFd, type FileStat } from './stat.js';

// <fcntl.h> (Linux generic and x86; arm64 uses the same values for these).
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NONBLOCK = 0o4000;
export const O_DIRECTORY = 0o200000;
export const O_NOFOLLOW = 0o400000;
export const O_CLOEXEC = 0o2000000;
export const AT_FDCWD = -100;
// <linux/fcntl.h>
export const AT_SYMLINK_FOLLOW = 0x400;
export const AT_EMPTY_PATH = 0x1000;
const ELOOP = 40;
const ENOTDIR = 20;

/** Flags for reading a file: O_NONBLOCK so a FIFO cannot hang the open (no effect on files). */
export const READ_FLAGS = O_RDONLY | O_NONBLOCK | O_CLOEXEC;
const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_CLOEXEC;

export class DirHandle {
  /** The directory descriptor (valid while a reference is held). */
  readonly fd: number;
  /** The path it was reached by, for messages only: never opened again by this path. */
  readonly path: Buffer;
  readonly stat: FileStat;
  #refs = 1;

  constructor(fd: number, path: Buffer, stat: FileStat) {
    this.fd = fd;
    this.path = path;
    this.stat = stat;
  }

  get text(): string {
    return pathText(this.path);
  }

  retain(): this {
    if (this.#refs <= 0) throw new Error(`directory handle ${this.text} used after its last release`);
    this.#refs++;
    return this;
  }

  release(): void {
    if (--this.#refs === 0) libc().close(this.fd);
  }

  /** The path of an entry of this directory, for messages and output. */
  child(name: Uint8Array): Buffer {
    return joinPath(this.path, name);
  }
}

/**
 * Opens a directory given by path (an operand). `follow` follows a final symlink, as `find -H`
 * does for its operands; components above the last are resolved normally: the operand is the
 * caller's own choice. Throws a VeritreeError naming the path and the reason.
 */
export function openDirectory(path: PathLike, opts: { follow?: boolean } = {}): DirHandle {
  return openDirectoryAt(AT_FDCWD, path, pathBytes(path), opts.follow ?? false);
}

/** Opens the subdirectory `name` of `parent`, never following a symlink. */
export function openSubdirectory(parent: DirHandle, name: Uint8Array): DirHandle {
  return openDirectoryAt(parent.fd, name, parent.child(name), false);
}

function openDirectoryAt(dirfd: number, name: CPath | PathLike, display: Buffer, follow: boolean): DirHandle {
  const lib = libc();
  const fd = lib.openat(dirfd, cPath(name as PathLike), DIR_FLAGS | (follow ? 0 : O_NOFOLLOW), 0);
  if (fd < 0) {
    const errno = lib.errno();
    throw fsErrnoError('open-directory', errno === ELOOP ? ENOTDIR : errno, pathText(display), errno === ELOOP ? 'is a symbolic link (not followed)' : undefined);
  }
  const st = statFd(fd);
  if (typeof st === 'number') {
    lib.close(fd);
    throw fsErrnoError('stat', -st, pathText(display));
  }
  return new DirHandle(fd, display, st);
}

/** One entry of a listing: the exact name bytes, the kind the listing gave, its inode. */
export interface DirEntry {
  readonly name: Buffer;
  /** From d_type; 'unknown' where the filesystem does not fill it in (see `entryKind`). */
  readonly kind: FileKind;
  readonly ino: bigint;
}

const DENTS_BYTES = 32 << 10;

/**
 * The entries of `dir` (`.` and `..` left out), streamed one getdents64 buffer at a time:
 * memory does not grow with the directory. A read error is thrown as a VeritreeError.
 */
export function* readDirectory(dir: DirHandle): Generator<DirEntry> {
  const lib = libc();
  const buf = new Uint8Array(DENTS_BYTES);
  const view = new DataView(buf.buffer);
  // The listing starts at the descriptor's offset: a handle is listed once, by one reader.
  for (;;) {
    const n = lib.getdents64(dir.fd, buf, buf.length);
    if (n < 0) throw fsErrnoError('read-directory', lib.errno(), dir.text);
    if (n === 0) return;
    // Copy the names out before the next call refills the buffer.
    const batch: DirEntry[] = [];
    for (let at = 0; at < n; ) {
      const ino = view.getBigUint64(at, true);
      const reclen = view.getUint16(at + 16, true);
      const dtype = buf[at + 18]!;
      const end = buf.indexOf(0, at + 19);
      const len = end - (at + 19);
      if (!(len === 1 && buf[at + 19] === 0x2e) && !(len === 2 && buf[at + 19] === 0x2e && buf[at + 20] === 0x2e))
        batch.push({ name: Buffer.from(buf.subarray(at + 19, end)), kind: kindOfDtype(dtype), ino });
      at += reclen;
    }
    yield* batch;
  }
}

/** An entry's kind, asking statx (without following) when the listing did not say. */
export function entryKind(dir: DirHandle, e: DirEntry): FileKind {
  if (e.kind !== 'unknown') return e.kind;
  const st = statAt(dir.fd, cPath(e.name));
  return typeof st === 'number' ? 'unknown' : st.kind;
}
