/**
 * The libc entry points veritree calls through koffi (prebuilt FFI; nothing compiled at install):
 * the *at() family that resolves names relative to directory descriptors (openat, openat2 through
 * syscall(2), renameat, mkdirat, unlinkat, linkat, getdents64), syncfs, copy_file_range, ioctl,
 * statx and the l*xattr family.
 * Loaded lazily on first use so that importing veritree costs nothing until a call is made.
 * Path arguments take strings or NUL-terminated Buffers (names are bytes on Linux).
 *
 * Spec: docs/FORMATS.md §2.1 (the ioctls), §2.5 (statx); openat(2), openat2(2), getdents64(2),
 * renameat(2), xattr(7).
 */
import { createRequire } from 'node:module';
import { kernelError } from '../report/errors.js';

/** A bound C function: call it synchronously, or with `.async(...args, cb)` on libuv's pool. */
export interface CFunction<A extends unknown[]> {
  (...args: A): number;
  async(...args: [...A, (err: unknown, result: number) => void]): void;
}

/** A path argument: a string, or the exact bytes of a name with a trailing NUL. */
export type CPath = string | Uint8Array;

export interface Libc {
  /** `int openat(int dirfd, const char *path, int flags, mode_t mode)`. */
  readonly openat: CFunction<[dirfd: number, path: CPath, flags: number, mode: number]>;
  /** openat2(2) through syscall(2) (glibc 2.36 has no wrapper); ENOSYS before Linux 5.6. */
  readonly openat2: (dirfd: number, path: CPath, how: Uint8Array) => number;
  readonly close: CFunction<[fd: number]>;
  /** `ssize_t getdents64(int fd, void *dirp, size_t count)`: raw `struct linux_dirent64` records. */
  readonly getdents64: CFunction<[fd: number, buf: Uint8Array, size: number]>;
  readonly renameat: CFunction<[olddirfd: number, oldpath: CPath, newdirfd: number, newpath: CPath]>;
  readonly mkdirat: CFunction<[dirfd: number, path: CPath, mode: number]>;
  readonly unlinkat: CFunction<[dirfd: number, path: CPath, flags: number]>;
  readonly linkat: CFunction<[olddirfd: number, oldpath: CPath, newdirfd: number, newpath: CPath, flags: number]>;
  /** `int syncfs(int fd)`: every dirty page and inode of the filesystem holding `fd`, in one call. */
  readonly syncfs: CFunction<[fd: number]>;
  /** `copy_file_range(in, NULL, out, NULL, len, 0)`: copies at (and advances) both file positions. */
  readonly copyFileRange: CFunction<[fdIn: number, offIn: null, fdOut: number, offOut: null, len: number, flags: number]>;
  /** `int ioctl(int fd, unsigned long request, void *arg)`. */
  readonly ioctl: CFunction<[fd: number, request: number, arg: Uint8Array]>;
  /** `int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf)`. */
  readonly statx: CFunction<[dirfd: number, path: CPath, flags: number, mask: number, buf: Uint8Array]>;
  readonly lgetxattr: CFunction<[path: CPath, name: string, value: Uint8Array | null, size: number]>;
  readonly llistxattr: CFunction<[path: CPath, list: Uint8Array | null, size: number]>;
  readonly lsetxattr: CFunction<[path: CPath, name: string, value: Uint8Array, size: number, flags: number]>;
  readonly lremovexattr: CFunction<[path: CPath, name: string]>;
  /** errno of the last call made on this thread (inside an `.async` callback: of that call). */
  errno(): number;
  /** Address of a byte array's data, for pointers embedded in structs. */
  address(buf: Uint8Array): bigint;
}

interface Koffi {
  load(name: string): { func(proto: string): unknown };
  errno(): number;
  address(value: unknown): bigint;
}

let loaded: Libc | undefined;
let failure: Error | undefined;

/** Candidate sonames: glibc first; musl's libc.so answers the same calls. */
const LIBC_NAMES = ['libc.so.6', 'libc.so'];

function bind(): Libc {
  if (process.platform !== 'linux') throw new Error(`fs-verity exists only on Linux (this is ${process.platform})`);
  const koffi = createRequire(import.meta.url)('koffi') as Koffi;
  let lib: ReturnType<Koffi['load']> | undefined;
  let lastErr: unknown;
  for (const name of LIBC_NAMES) {
    try {
      lib = koffi.load(name);
      break;
    } catch (err) {
      lastErr = err;
    }
  }
  if (!lib) throw lastErr instanceof Error ? lastErr : new Error('cannot load libc');
  const fn = <A extends unknown[]>(proto: string) => lib.func(proto) as CFunction<A>;
  // statx() arrived in glibc 2.28 / musl 1.2.5; without it, report ENOSYS like an old kernel would.
  let noSys = false;
  const optional = <A extends unknown[]>(make: () => CFunction<A>): CFunction<A> => {
    try {
      return make();
    } catch {
      const stub = ((..._args: A) => {
        noSys = true;
        return -1;
      }) as CFunction<A>;
      stub.async = (...args) => {
        noSys = true;
        (args[args.length - 1] as (err: unknown, result: number) => void)(null, -1);
      };
      return stub;
    }
  };
  const ENOSYS = 38; // asm-generic/errno.h
  // openat2 has the same number on every architecture (unified syscall table since Linux 5.6).
  const SYS_openat2 = 437;
  const syscall = lib.func('long syscall(long nr, ...)') as (...args: unknown[]) => number;
  return {
    openat: fn('int openat(int dirfd, const char *path, int flags, uint32_t mode)'),
    openat2: (dirfd, path, how) => syscall(SYS_openat2, 'int', dirfd, 'const char *', path, 'void *', how, 'size_t', how.length),
    close: fn('int close(int fd)'),
    getdents64: fn('intptr_t getdents64(int fd, void *dirp, size_t count)'),
    renameat: fn('int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)'),
    mkdirat: fn('int mkdirat(int dirfd, const char *path, uint32_t mode)'),
    unlinkat: fn('int unlinkat(int dirfd, const char *path, int flags)'),
    linkat: fn('int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)'),
    syncfs: fn('int syncfs(int fd)'),
    copyFileRange: optional(() => fn('intptr_t copy_file_range(int fd_in, void *off_in, int fd_out, void *off_out, size_t len, unsigned int flags)')),
    // ioctl is variadic in libc; koffi cannot run variadic calls `.async`, so it is declared with a
    // fixed pointer argument. That is call-compatible on Linux ABIs: x86_64 passes the pointer in
    // the same register (the callee reads %al only to decide whether to spill vector registers),
    // and aarch64 Linux (unlike Apple's) passes variadic arguments like fixed ones.
    ioctl: fn('int ioctl(int fd, unsigned long request, void *arg)'),
    statx: optional(() => fn('int statx(int dirfd, const char *path, int flags, unsigned int mask, void *buf)')),
    lgetxattr: fn('intptr_t lgetxattr(const char *path, const char *name, void *value, size_t size)'),
    llistxattr: fn('intptr_t llistxattr(const char *path, void *list, size_t size)'),
    lsetxattr: fn('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)'),
    lremovexattr: fn('int lremovexattr(const char *path, const char *name)'),
    errno: () => {
      if (!noSys) return koffi.errno();
      noSys = false;
      return ENOSYS;
    },
    address: (buf) => koffi.address(buf),
  };
}

/** The bindings, or a `kernel-interface-unavailable` error saying why they cannot be had. */
export function libc(): Libc {
  if (loaded) return loaded;
  if (!failure) {
    try {
      loaded = bind();
      return loaded;
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err));
    }
  }
  throw kernelError('kernel-interface-unavailable', `cannot call the kernel's fs-verity interface: ${failure.message}`, { cause: failure });
}
