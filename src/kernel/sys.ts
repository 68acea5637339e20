/**
 * Kernel operations are written once, as generators that `yield` the system calls they need and
 * receive `{ rc, errno }` back. `runSync` executes them on the calling thread (for worker threads
 * and short CLI paths); `runAsync` in ./async.ts executes the same programs off the event loop.
 * The programs stay free of I/O, so their logic (retries, loops, error mapping) is shared.
 *
 * Spec: docs/FORMATS.md §2.3 (enable needs an O_RDONLY fd).
 */
import * as fs from 'node:fs';
import { libc } from '../fs/libc.js';
import { O_CLOEXEC, O_NOFOLLOW, READ_FLAGS } from '../fs/dir.js';
import type { FileRef } from '../fs/open.js';
import { cPath, pathText, type PathLike } from '../fs/path.js';
import { statFd } from '../fs/stat.js';

export type { FileKind } from '../fs/kind.js';
import { kindOf, type FileKind } from '../fs/kind.js';

export type Syscall =
  /**
   * open(path, O_RDONLY | O_NONBLOCK) then fstat: `rc` is the fd. O_NONBLOCK keeps a FIFO from
   * hanging the open. With `at`: openat relative to a walked directory, O_NOFOLLOW, and the
   * inode the listing saw (ESTALE if another file is found there now).
   */
  | { readonly call: 'open'; readonly path: string; readonly at?: FileRef }
  | { readonly call: 'close'; readonly fd: number }
  | { readonly call: 'ioctl'; readonly fd: number; readonly request: number; readonly arg: Uint8Array }
  | { readonly call: 'statx'; readonly dirfd: number; readonly path: string; readonly flags: number; readonly mask: number; readonly buf: Uint8Array }
  /** xattr calls: `path` text, or exact name bytes (a NUL is appended when the call is made). */
  | { readonly call: 'lgetxattr'; readonly path: PathLike; readonly name: string; readonly buf: Uint8Array | null }
  | { readonly call: 'llistxattr'; readonly path: PathLike; readonly buf: Uint8Array | null }
  | { readonly call: 'lsetxattr'; readonly path: PathLike; readonly name: string; readonly value: Uint8Array; readonly flags: number }
  | { readonly call: 'lremovexattr'; readonly path: PathLike; readonly name: string }
  /** Pause (ETXTBSY retries); `rc` is 0. */
  | { readonly call: 'sleep'; readonly ms: number };

export interface SysResult {
  /** The call's return value; −1 on failure. */
  readonly rc: number;
  /** Positive errno when `rc` is −1, else 0. */
  readonly errno: number;
  /** For `open`: what the fd refers to. */
  readonly kind?: FileKind;
}

export type SysProgram<T> = Generator<Syscall, T, SysResult>;

const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;

export { kindOf };

/** Node system errors carry a negative errno on Unix; we speak positive errnos. */
export function errnoOf(err: unknown): number {
  const n = (err as NodeJS.ErrnoException | undefined)?.errno;
  if (typeof n === 'number' && n !== 0) return Math.abs(n);
  throw err;
}

function failed(errno: number): SysResult {
  return { rc: -1, errno };
}

function fromRc(rc: number, errno: () => number): SysResult {
  return rc < 0 ? failed(errno()) : { rc, errno: 0 };
}

/** Executes one call on the current thread. Never throws for an OS failure: that is data. */
export function execSync(sc: Syscall): SysResult {
  switch (sc.call) {
    case 'open': {
      if (sc.at) return openAtSync(sc.at);
      let fd: number;
      try {
        fd = fs.openSync(sc.path, OPEN_FLAGS);
      } catch (err) {
        return failed(errnoOf(err));
      }
      try {
        return { rc: fd, errno: 0, kind: kindOf(fs.fstatSync(fd)) };
      } catch (err) {
        fs.closeSync(fd);
        return failed(errnoOf(err));
      }
    }
    case 'close':
      try {
        fs.closeSync(sc.fd);
        return { rc: 0, errno: 0 };
      } catch (err) {
        return failed(errnoOf(err));
      }
    case 'sleep':
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, sc.ms);
      return { rc: 0, errno: 0 };
    default: {
      const lib = libc();
      return fromRc(callLibc(lib, sc), () => lib.errno());
    }
  }
}

/** The libc call behind a Syscall, as [function, arguments], for both runners. */
export function libcCall(sc: Exclude<Syscall, { call: 'open' | 'close' | 'sleep' }>): [keyof LibcFns, unknown[]] {
  switch (sc.call) {
    case 'ioctl':
      return ['ioctl', [sc.fd, sc.request, sc.arg]];
    case 'statx':
      return ['statx', [sc.dirfd, sc.path, sc.flags, sc.mask, sc.buf]];
    case 'lgetxattr':
      return ['lgetxattr', [cArg(sc.path), sc.name, sc.buf, sc.buf?.length ?? 0]];
    case 'llistxattr':
      return ['llistxattr', [cArg(sc.path), sc.buf, sc.buf?.length ?? 0]];
    case 'lsetxattr':
      return ['lsetxattr', [cArg(sc.path), sc.name, sc.value, sc.value.length, sc.flags]];
    case 'lremovexattr':
      return ['lremovexattr', [cArg(sc.path), sc.name]];
  }
}

type LibcFns = Pick<ReturnType<typeof libc>, 'ioctl' | 'statx' | 'lgetxattr' | 'llistxattr' | 'lsetxattr' | 'lremovexattr'>;

function callLibc(lib: ReturnType<typeof libc>, sc: Exclude<Syscall, { call: 'open' | 'close' | 'sleep' }>): number {
  const [name, args] = libcCall(sc);
  return (lib[name] as unknown as (...a: unknown[]) => number)(...args);
}

/** Runs a program to completion on the current thread. */
export function runSync<T>(program: SysProgram<T>): T {
  let step = program.next();
  while (!step.done) step = program.next(execSync(step.value));
  return step.value;
}

/** A path argument as the C call takes it: text as is, bytes NUL-terminated. */
function cArg(p: PathLike): string | Buffer {
  return typeof p === 'string' ? p : cPath(p);
}

/** Guards shared by the public wrappers; returns the path for messages. */
export function checkPath(path: unknown): string {
  if (path !== null && typeof path === 'object' && 'dirfd' in path) return (path as FileRef).path;
  if (path instanceof Uint8Array) {
    if (path.length === 0 || path.includes(0)) throw new TypeError('bad path: empty or holds a NUL byte');
    return pathText(path);
  }
  if (typeof path !== 'string') throw new TypeError(`path must be a string, got ${typeof path}`);
  if (path.length === 0 || path.includes('\0')) throw new TypeError(`bad path: ${JSON.stringify(path)}`);
  return path;
}

/** The `open` call of a program on `target`: by path, or relative to a walked directory. */
export function openCall(target: string | FileRef): Syscall {
  return typeof target === 'string' ? { call: 'open', path: target } : { call: 'open', path: target.path, at: target };
}

const ESTALE = 116;

/** Flags of an `at` open: read-only, no final symlink followed unless the user named it. */
export function openAtFlags(at: FileRef): number {
  return READ_FLAGS | O_CLOEXEC | (at.follow ? 0 : O_NOFOLLOW);
}

/** After an `at` open: its kind, or ESTALE (and the fd closed) when it is not the listed inode. */
export function checkOpenedAt(fd: number, at: FileRef): SysResult {
  const st = statFd(fd);
  if (typeof st === 'number' || (at.ino !== undefined && st.ino !== at.ino)) {
    libc().close(fd);
    return failed(typeof st === 'number' ? -st : ESTALE);
  }
  return { rc: fd, errno: 0, kind: st.kind };
}

function openAtSync(at: FileRef): SysResult {
  const lib = libc();
  const fd = lib.openat(at.dirfd, cPath(at.name), openAtFlags(at), 0);
  if (fd < 0) return failed(lib.errno());
  return checkOpenedAt(fd, at);
}
