/**
 * errno → typed VeritreeError with the meaning the kernel gives that errno for the operation: the
 * one errno table, for the file-system primitives (src/fs) and the fs-verity / xattr calls
 * (src/kernel) alike.
 *
 * Spec: docs/FORMATS.md §2.3 (FS_IOC_ENABLE_VERITY errors and their order), §2.4
 * (FS_IOC_MEASURE_VERITY / FS_IOC_READ_VERITY_METADATA errors), §2.6 (EPERM on opening a verity
 * file for writing), §2.7 (ENOTTY vs EOPNOTSUPP; what each filesystem needs).
 */
import { constants as osConstants } from 'node:os';
import { getSystemErrorMap } from 'node:util';
import { kernelError, VeritreeError, type KernelErrorCode } from './errors.js';

export type KernelOp =
  | 'read'
  | 'write'
  | 'open'
  | 'open-directory'
  | 'read-directory'
  | 'stat'
  | 'rename'
  | 'mkdir'
  | 'enable'
  | 'measure'
  | 'read-metadata'
  | 'getflags'
  | 'statx'
  | 'getxattr'
  | 'listxattr'
  | 'setxattr'
  | 'removexattr';

/**
 * Linux errnos the fs-verity ioctls return that libuv (hence `os.constants.errno`) does not name;
 * values from the kernel's include/uapi/asm-generic/errno.h (x86_64 and arm64 use these).
 */
export const LINUX_EXTRA_ERRNO: Readonly<Record<string, number>> = Object.freeze({
  ENOPKG: 65,
  ENOKEY: 126,
  EKEYEXPIRED: 127,
  EKEYREVOKED: 128,
  EKEYREJECTED: 129,
});

/** errno numbers of this platform, by name. */
export const ERRNO: Readonly<Record<string, number>> & typeof osConstants.errno = {
  ...(process.platform === 'linux' ? LINUX_EXTRA_ERRNO : {}),
  ...osConstants.errno,
};

const ERRNO_BY_NUMBER: ReadonlyMap<number, string> = new Map(
  Object.entries(ERRNO).map(([name, n]) => [n, name] as [number, string]),
);

/** Symbolic errno name (`EEXIST`), or `E<n>` for a number this platform does not name. */
export function errnoName(errno: number): string {
  if (!Number.isInteger(errno) || errno <= 0) throw new RangeError(`errno must be a positive integer, got ${String(errno)}`);
  // ENOTSUP and EOPNOTSUPP share 95 on Linux; the kernel docs speak of EOPNOTSUPP.
  if (errno === osConstants.errno.EOPNOTSUPP) return 'EOPNOTSUPP';
  return ERRNO_BY_NUMBER.get(errno) ?? `E${errno}`;
}

/** The fix for "no fs-verity here", per filesystem (docs/FORMATS.md §2.7). */
export const NOT_SUPPORTED_HINT =
  'ext4 needs the verity feature (`tune2fs -O verity DEVICE` or `mkfs.ext4 -O verity`), f2fs `mkfs.f2fs -O verity`; ' +
  'tmpfs, overlayfs, xfs and network filesystems have no fs-verity';

type Meaning = readonly [KernelErrorCode, string];

/** Meanings shared by every fs-verity ioctl. */
const VERITY_COMMON: Readonly<Record<string, Meaning>> = {
  ENOTTY: ['verity-not-supported', `this filesystem does not implement fs-verity %E; ${NOT_SUPPORTED_HINT}`],
  EOPNOTSUPP: [
    'verity-not-supported',
    `fs-verity is not available here %E: the kernel lacks CONFIG_FS_VERITY or the filesystem lacks the verity feature; ${NOT_SUPPORTED_HINT}`,
  ],
  EINTR: ['interrupted', 'interrupted by a signal'],
  EFAULT: ['io-error', 'bad address passed to the kernel (a veritree bug)'],
};

const BY_OP: Readonly<Partial<Record<KernelOp, Readonly<Record<string, Meaning>>>>> = {
  enable: {
    ...VERITY_COMMON,
    EEXIST: ['verity-already-enabled', 'fs-verity is already enabled on this file'],
    ETXTBSY: ['file-open-for-writing', 'file is open for writing %E; fs-verity can only be enabled when no process has it open for writing or mapped writable'],
    EINVAL: [
      'invalid-verity-params',
      'the kernel rejected the parameters: unsupported hash algorithm or Merkle block size ' +
        '(must be a power of two from 1024 to the smaller of page size and filesystem block size), or not a regular file',
    ],
    EMSGSIZE: ['salt-or-signature-too-large', 'salt longer than 32 bytes or signature longer than 16128 bytes'],
    EFBIG: ['file-too-large', 'file too large for fs-verity (the Merkle tree would need too many levels or blocks)'],
    ENOPKG: ['hash-alg-not-in-kernel', 'the hash algorithm is not built into or loadable by this kernel'],
    EROFS: ['read-only-filesystem', 'the filesystem is mounted read-only'],
    EPERM: [
      'permission-denied',
      'operation not permitted: the file is append-only, or the kernel requires builtin signatures (fs.verity.require_signatures=1) and none was given',
    ],
    EACCES: ['permission-denied', 'permission denied: enabling fs-verity needs write permission on the file (the file is opened read-only)'],
    EISDIR: ['is-a-directory', 'is a directory; fs-verity applies to regular files only'],
    EBADF: ['io-error', 'file descriptor is not open for reading'],
    EBADMSG: ['bad-signature', 'the builtin signature is malformed (not a valid PKCS#7 DER message)'],
    ENOKEY: ['signature-key-unknown', "no certificate for the signature in the kernel's .fs-verity keyring (or that keyring is empty)"],
    EKEYREJECTED: ['signature-rejected', 'the builtin signature does not match the file digest or did not verify'],
    EBUSY: ['verity-busy', 'fs-verity is already being enabled on this file by another process'],
    ENOSPC: ['io-error', 'no space left on device for the Merkle tree'],
    EDQUOT: ['io-error', 'disk quota exceeded while writing the Merkle tree'],
    EIO: ['io-error', 'input/output error while building the Merkle tree'],
  },
  measure: {
    ...VERITY_COMMON,
    ENODATA: ['not-verity', 'not a verity file (fs-verity is not enabled on it)'],
    EOVERFLOW: ['io-error', 'the kernel digest does not fit the buffer (a veritree bug)'],
  },
  'read-metadata': {
    ...VERITY_COMMON,
    ENODATA: ['not-verity', 'not a verity file, or it has no metadata of the requested type'],
    EINVAL: ['invalid-verity-params', 'the kernel rejected the request (unknown metadata type, or offset + length overflows)'],
    EIO: ['io-error', 'input/output error reading the verity metadata'],
  },
  getflags: {
    ENOTTY: ['verity-not-supported', 'this filesystem does not report inode flags'],
    EOPNOTSUPP: ['verity-not-supported', 'this filesystem does not report inode flags'],
  },
  open: {
    ELOOP: ['not-a-regular-file', 'is a symbolic link (not followed)'],
    ESTALE: ['file-changed', 'replaced after it was listed (another file is under that name now)'],
  },
  read: {
    EPERM: ['permission-denied', 'operation not permitted'],
    EIO: ['io-error', 'input/output error'],
  },
  write: {
    EPERM: ['permission-denied', 'operation not permitted'],
    ENOSPC: ['write-failed', 'no space left on device'],
    EDQUOT: ['write-failed', 'disk quota exceeded'],
    EIO: ['write-failed', 'input/output error'],
    EEXIST: ['write-failed', 'already exists'],
    EXDEV: ['write-failed', 'on another filesystem (EXDEV)'],
    EFBIG: ['write-failed', 'file too large'],
  },
  'open-directory': {
    ENOTDIR: ['not-a-directory', 'not a directory'],
    ELOOP: ['not-a-directory', 'is a symbolic link (not followed)'],
  },
  'read-directory': {
    ENOENT: ['not-found', 'the directory was removed while it was read'],
  },
  rename: {
    EXDEV: ['io-error', 'on another filesystem (EXDEV): only moved by rename, never copied'],
    EEXIST: ['io-error', 'the target exists'],
    ENOTEMPTY: ['io-error', 'the target exists'],
    EROFS: ['read-only-filesystem', 'read-only file system'],
    ENOSPC: ['io-error', 'no space left on device'],
  },
  mkdir: {
    EROFS: ['read-only-filesystem', 'read-only file system'],
    ENOSPC: ['io-error', 'no space left on device'],
  },
  statx: {
    ENOSYS: ['kernel-interface-unavailable', 'statx() is not available (Linux < 4.11)'],
  },
  getxattr: {
    ENODATA: ['no-such-xattr', 'no such extended attribute'],
    EOPNOTSUPP: ['xattrs-not-supported', 'extended attributes are not supported here (or not in this namespace)'],
    E2BIG: ['xattr-too-large', 'extended attribute value too large'],
  },
  listxattr: {
    EOPNOTSUPP: ['xattrs-not-supported', 'extended attributes are not supported here'],
    E2BIG: ['xattr-too-large', 'extended attribute list too large'],
  },
  setxattr: {
    EOPNOTSUPP: ['xattrs-not-supported', 'extended attributes are not supported here (or not in this namespace)'],
    E2BIG: ['xattr-too-large', 'extended attribute name or value too large'],
    ERANGE: ['xattr-too-large', 'extended attribute name or value too large'],
    ENOSPC: ['xattr-too-large', 'no room for the extended attribute (ext4 keeps all of a file\'s xattrs in one block unless ea_inode is on)'],
    EDQUOT: ['xattr-too-large', 'disk quota exceeded for the extended attribute'],
    EEXIST: ['io-error', 'extended attribute already exists'],
    ENODATA: ['no-such-xattr', 'no such extended attribute'],
    EROFS: ['read-only-filesystem', 'the filesystem is mounted read-only'],
    EPERM: ['permission-denied', 'operation not permitted (trusted.* and security.* need privileges; immutable or append-only file)'],
  },
  removexattr: {
    ENODATA: ['no-such-xattr', 'no such extended attribute'],
    EOPNOTSUPP: ['xattrs-not-supported', 'extended attributes are not supported here (or not in this namespace)'],
    EROFS: ['read-only-filesystem', 'the filesystem is mounted read-only'],
    EPERM: ['permission-denied', 'operation not permitted (trusted.* and security.* need privileges; immutable or append-only file)'],
  },
};

/** Path-level failures any call can hit (open, lookup, permission). */
const GENERIC: Readonly<Record<string, Meaning>> = {
  ENOENT: ['not-found', 'no such file or directory'],
  ENOTDIR: ['not-a-directory', 'a path component is not a directory'],
  ENAMETOOLONG: ['not-found', 'file name too long'],
  ELOOP: ['not-a-regular-file', 'too many levels of symbolic links'],
  EACCES: ['permission-denied', 'permission denied'],
  EPERM: ['permission-denied', 'operation not permitted (a verity file cannot be opened for writing)'],
  EISDIR: ['is-a-directory', 'is a directory'],
  EROFS: ['read-only-filesystem', 'read-only file system'],
  EIO: ['io-error', 'input/output error (for a verity file: data does not match its Merkle tree)'],
  ENXIO: ['not-a-regular-file', 'no such device or address (a special file)'],
  ETXTBSY: ['file-open-for-writing', 'file is busy'],
};

/** What `op` failing with `errno` means, as a code and a one-line reason (`known`: from the table). */
export function meaningOf(op: KernelOp, errno: number | string): { code: KernelErrorCode; reason: string; errno: string; known: boolean } {
  const name = typeof errno === 'string' ? errno : errnoName(errno);
  const canonical = name === 'ENOTSUP' ? 'EOPNOTSUPP' : name;
  const hit = BY_OP[op]?.[canonical] ?? GENERIC[canonical];
  // `%E` marks where the errno name reads best; otherwise it goes at the end.
  if (hit) return { code: hit[0], reason: hit[1].includes('%E') ? hit[1].replace('%E', `(${canonical})`) : `${hit[1]} (${canonical})`, errno: canonical, known: true };
  return { code: op === 'write' ? 'write-failed' : 'io-error', reason: `${op} failed: ${describeErrno(canonical)} (${canonical})`, errno: canonical, known: false };
}

function describeErrno(name: string): string {
  const n = (ERRNO as Record<string, number>)[name];
  // libuv's error map is keyed by negative errno; it holds a strerror-like message.
  return (n !== undefined ? getSystemErrorMap().get(-n)?.[1] : undefined) ?? 'system error';
}

/** A VeritreeError for `op` on `path` failing with `errno` (`reason` overrides the table's words). */
export function kernelErrnoError(op: KernelOp, errno: number | string, path: string | undefined, reason?: string): VeritreeError {
  const m = meaningOf(op, errno);
  return kernelError(m.code, reason ?? m.reason, { ...(path !== undefined ? { path } : {}), errno: m.errno });
}

/**
 * Maps a Node system error (fs.*) to a VeritreeError naming the path and the reason, through the
 * same table: `action` is what was being done. Anything that is not a system error passes
 * through `asVeritreeError`-style as io-error / write-failed with its message.
 */
export function fromSystemError(err: unknown, path: string, action: 'read' | 'write' | 'open' | 'stat' = 'read'): VeritreeError {
  if (err instanceof VeritreeError) return err;
  const e = err as NodeJS.ErrnoException | undefined;
  const errno = typeof e?.code === 'string' && /^E[A-Z0-9]+$/.test(e.code) ? e.code : undefined;
  if (errno === undefined) {
    return new VeritreeError(action === 'write' ? 'write-failed' : 'io-error', `${action} failed: ${e?.message ?? String(err)}`, { path, cause: err });
  }
  const m = meaningOf(action, errno);
  const reason = m.known ? m.reason.replace(` (${m.errno})`, '') : `${action} failed: ${e?.message ?? errno}`;
  return new VeritreeError(m.code, action === 'write' ? `cannot write: ${reason}` : reason, { path, errno: m.errno, cause: err });
}

/**
 * The same for the file-system primitives of src/fs: the reason without the errno name appended
 * (the errno stays in the `errno` field), as Node's own file errors read.
 */
export function fsErrnoError(op: KernelOp, errno: number | string, path: string, reason?: string): VeritreeError {
  const m = meaningOf(op, errno);
  return kernelError(m.code, reason ?? m.reason.replace(` (${m.errno})`, ''), { path, errno: m.errno });
}
