/**
 * The error vocabulary: every failure veritree reports carries a kebab-case code (compatible with
 * `cfsctl fsck --json` where they overlap), the path it concerns, and a one-line reason.
 * Errors are made by the named factories below, never ad hoc, so the codes live in one place.
 */

export type ErrorCode =
  // usage / parameters
  | 'usage'
  | 'unknown-hash-alg'
  | 'invalid-block-size'
  | 'invalid-salt'
  | 'unknown-backend'
  // files
  | 'not-found'
  | 'is-a-directory'
  | 'permission-denied'
  | 'not-a-regular-file'
  | 'not-a-directory'
  | 'read-failed'
  | 'write-failed'
  | 'file-changed'
  // everything else the OS reports
  | 'io-error'
  | (string & {});

export class VeritreeError extends Error {
  readonly code: ErrorCode;
  readonly path: string | undefined;
  readonly errno: string | undefined;
  constructor(code: ErrorCode, message: string, opts: { path?: string; errno?: string; cause?: unknown } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'VeritreeError';
    this.code = code;
    this.path = opts.path;
    this.errno = opts.errno;
  }
  /** `path: reason` when there is a path, as fsverity-utils prints it. */
  describe(): string {
    return this.path !== undefined ? `${this.path}: ${this.message}` : this.message;
  }
  toJSON(): { code: string; path?: string; message: string; errno?: string } {
    return {
      code: this.code,
      ...(this.path !== undefined ? { path: this.path } : {}),
      message: this.message,
      ...(this.errno !== undefined ? { errno: this.errno } : {}),
    };
  }
}

export function invalidArgument(code: ErrorCode, message: string): VeritreeError {
  return new VeritreeError(code, message);
}

export function usageError(message: string): VeritreeError {
  return new VeritreeError('usage', message);
}

export function notRegularFile(path: string, kind: string): VeritreeError {
  return new VeritreeError(kind === 'directory' ? 'is-a-directory' : 'not-a-regular-file',
    kind === 'directory' ? 'is a directory' : `not a regular file (${kind})`, { path });
}

export function fileChanged(path: string, what: string): VeritreeError {
  return new VeritreeError('file-changed', `file changed while it was hashed (${what})`, { path });
}

const ERRNO_CODES: Record<string, [ErrorCode, string]> = {
  ENOENT: ['not-found', 'no such file or directory'],
  ENOTDIR: ['not-a-directory', 'a path component is not a directory'],
  EISDIR: ['is-a-directory', 'is a directory'],
  EACCES: ['permission-denied', 'permission denied'],
  EPERM: ['permission-denied', 'operation not permitted'],
  ELOOP: ['not-a-regular-file', 'too many levels of symbolic links'],
  EROFS: ['write-failed', 'read-only file system'],
  ENOSPC: ['write-failed', 'no space left on device'],
  EIO: ['io-error', 'input/output error'],
};

/** Maps a Node system error to a VeritreeError naming the path and the reason. */
export function fromSystemError(err: unknown, path: string, action: 'read' | 'write' | 'open' | 'stat' = 'read'): VeritreeError {
  if (err instanceof VeritreeError) return err;
  const e = err as NodeJS.ErrnoException;
  const errno = typeof e?.code === 'string' ? e.code : undefined;
  const known = errno !== undefined ? ERRNO_CODES[errno] : undefined;
  if (known) {
    let [code, reason] = known;
    if (action === 'write' && code !== 'permission-denied' && code !== 'not-found' && code !== 'is-a-directory') code = 'write-failed';
    return new VeritreeError(code, action === 'write' ? `cannot write: ${reason}` : reason, { path, errno, cause: err });
  }
  const msg = e?.message ?? String(err);
  return new VeritreeError(action === 'write' ? 'write-failed' : 'io-error', `${action} failed: ${msg}`, { path, ...(errno ? { errno } : {}), cause: err });
}

// --- kernel interface (src/kernel/): fs-verity ioctl, statx and xattr failures, docs/FORMATS.md §2.3/§2.4 ---

/** Codes for failures the kernel reports through the fs-verity ioctls and xattr calls. */
export type KernelErrorCode =
  | 'verity-already-enabled'
  | 'verity-not-supported'
  | 'file-open-for-writing'
  | 'not-verity'
  | 'no-signature'
  | 'invalid-verity-params'
  | 'salt-or-signature-too-large'
  | 'file-too-large'
  | 'hash-alg-not-in-kernel'
  | 'read-only-filesystem'
  | 'permission-denied'
  | 'is-a-directory'
  | 'not-a-regular-file'
  | 'bad-signature'
  | 'signature-key-unknown'
  | 'signature-rejected'
  | 'verity-busy'
  | 'interrupted'
  | 'no-such-xattr'
  | 'xattrs-not-supported'
  | 'xattr-too-large'
  | 'not-found'
  | 'not-a-directory'
  | 'file-changed'
  | 'io-error'
  | 'kernel-interface-unavailable';

/** A failure with kernel meaning: `errno` is the symbolic name (e.g. `EOPNOTSUPP`). */
export function kernelError(code: KernelErrorCode, message: string, opts: { path?: string; errno?: string; cause?: unknown } = {}): VeritreeError {
  return new VeritreeError(code, message, opts);
}

// --- EROFS / composefs images (src/erofs) -------------------------------------------------------

/** A malformed EROFS/composefs image: which image, the byte offset where it went wrong, and why. */
export class ImageInvalidError extends VeritreeError {
  /** Byte offset in the image file of the structure that failed its check. */
  readonly offset: number;
  readonly reason: string;
  constructor(path: string, offset: number, reason: string) {
    super('image-invalid', `${reason}, at byte ${offset}`, { path });
    this.offset = offset;
    this.reason = reason;
  }
}

/** The image is malformed (bounds, magic, loops, absurd sizes): never a crash, always this. */
export function imageInvalid(path: string, offset: number, reason: string): ImageInvalidError {
  return new ImageInvalidError(path, offset, reason);
}

/** A readable EROFS image that is not a composefs image (no composefs header). */
export function notComposefs(path: string, reason: string): VeritreeError {
  return new VeritreeError('not-composefs', reason, { path });
}

/** A composefs-dump(5) line that does not parse (src/composefs/dump.ts). */
export function dumpInvalid(line: number, reason: string): VeritreeError {
  return new VeritreeError('dump-invalid', `dump line ${line}: ${reason}`);
}

// --- content-addressed object stores (src/walk/cas-layout.ts, src/cas) --------------------------

/** The directory is not a store layout veritree knows (or `--layout` names none). */
export function unknownLayout(path: string, reason: string): VeritreeError {
  return new VeritreeError('unknown-layout', reason, { path });
}

/** A composefs-rs repository this version cannot check (newer format, incompatible features). */
export function unsupportedRepository(path: string, reason: string): VeritreeError {
  return new VeritreeError('unsupported-repository', reason, { path });
}

// --- overlay verity validation (src/overlay) and the composefs builder (src/composefs/store.ts, import.ts) ---

/** Codes of the findings `check-image` / `check-overlay` report (docs/FORMATS.md §3.3–§3.6). */
export type OverlayFindingCode =
  | 'missing-object'
  | 'object-digest-mismatch'
  | 'object-not-verity'
  | 'object-not-regular'
  | 'object-open-failed'
  | 'metacopy-invalid'
  | 'metacopy-no-digest'
  | 'metacopy-unknown-flags'
  | 'redirect-invalid'
  | 'redirect-escapes-layer'
  | 'legacy-verity-xattr'
  | 'lower-read-failed';

/** A data layer / object directory that cannot be used at all (exit 2). */
export function dataLayerUnusable(path: string, reason: string): VeritreeError {
  return new VeritreeError('data-layer-unusable', reason, { path });
}

/** A source tree entry `import` cannot represent faithfully (e.g. a file name that is not UTF-8). */
export function importUnsupported(path: string, reason: string): VeritreeError {
  return new VeritreeError('import-unsupported', reason, { path });
}
