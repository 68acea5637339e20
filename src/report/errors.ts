/**
 * The error vocabulary: every failure veritree reports carries a kebab-case code (compatible with
 * `cfsctl fsck --json` where they overlap), the path it concerns, and a one-line reason.
 * Errors are made by the named factories below, never ad hoc, so the codes live in one place;
 * what an errno means for each operation is in ./errno.ts (the one errno table).
 */

/** Codes for failures the kernel reports through the fs-verity ioctls and xattr calls (docs/FORMATS.md §2.3/§2.4). */
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
  | 'write-failed'
  | 'kernel-interface-unavailable';

/** Every code a VeritreeError can carry: a closed set, each made by a factory below. */
export const ERROR_CODES = [
  // usage and parameters
  'usage', 'unknown-hash-alg', 'invalid-block-size', 'invalid-salt', 'unknown-backend',
  // files (src/fs, the pool)
  'not-found', 'is-a-directory', 'not-a-directory', 'permission-denied', 'not-a-regular-file',
  'read-failed', 'write-failed', 'file-changed', 'read-only-filesystem', 'io-error',
  // the kernel's fs-verity and xattr interface (src/kernel)
  'verity-already-enabled', 'verity-not-supported', 'file-open-for-writing', 'not-verity', 'no-signature',
  'invalid-verity-params', 'salt-or-signature-too-large', 'file-too-large', 'hash-alg-not-in-kernel',
  'bad-signature', 'signature-key-unknown', 'signature-rejected', 'verity-busy', 'no-such-xattr',
  'xattrs-not-supported', 'xattr-too-large', 'kernel-interface-unavailable',
  // images, dumps and stores (src/erofs, src/composefs, src/cas, src/overlay)
  'image-invalid', 'image-unsupported', 'not-composefs', 'dump-invalid', 'unknown-layout',
  'unsupported-repository', 'data-layer-unusable', 'import-unsupported',
  // running
  'interrupted', 'worker-failed', 'bench-failed', 'internal-error',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const ERROR_CODE_SET: ReadonlySet<string> = new Set(ERROR_CODES);

/** Whether `code` is one of ours (codes crossing a thread boundary are checked on arrival). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && ERROR_CODE_SET.has(code);
}

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

/** A parameter that cannot be used (hash algorithm, block size, salt, backend, image option). */
export function invalidArgument(code: 'usage' | 'unknown-hash-alg' | 'invalid-block-size' | 'invalid-salt' | 'unknown-backend' | 'image-unsupported', message: string): VeritreeError {
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

export function notADirectory(path: string, reason = 'not a directory'): VeritreeError {
  return new VeritreeError('not-a-directory', reason, { path });
}

export function readFailed(path: string, reason: string, cause?: unknown): VeritreeError {
  return new VeritreeError('read-failed', reason, { path, ...(cause !== undefined ? { cause } : {}) });
}

export function writeFailed(path: string, reason: string, cause?: unknown): VeritreeError {
  return new VeritreeError('write-failed', reason, { path, ...(cause !== undefined ? { cause } : {}) });
}

/** Work on `path` that was cut short by SIGINT (not judged, not an error of the file). */
export function interrupted(path: string, what: string): VeritreeError {
  return new VeritreeError('interrupted', what, { path });
}

/** A pool worker died on the same task twice (or could not start). */
export function workerFailed(message: string, cause?: unknown): VeritreeError {
  return new VeritreeError('worker-failed', message, cause !== undefined ? { cause } : {});
}

/** A broken invariant of veritree itself: a bug, reported as one. */
export function internalError(message: string): VeritreeError {
  return new VeritreeError('internal-error', message);
}

/**
 * Anything thrown, as a VeritreeError: ours pass through; anything else (a bug, a library's own
 * error) becomes `fallback` with its message, naming `path` when there is one.
 */
export function asVeritreeError(err: unknown, path?: string, fallback: 'io-error' | 'read-failed' | 'worker-failed' | 'bench-failed' = 'io-error'): VeritreeError {
  if (err instanceof VeritreeError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new VeritreeError(fallback, message, { ...(path !== undefined ? { path } : {}), cause: err });
}

/** `e` about `path` (keeping code, errno and cause), e.g. a worker's error told about the file it hit. */
export function withPath(e: VeritreeError, path: string, prefix = ''): VeritreeError {
  if (e.path === path && prefix === '') return e;
  return new VeritreeError(e.code, `${prefix}${e.message}`, { path, ...(e.errno !== undefined ? { errno: e.errno } : {}), cause: e.cause ?? e });
}

/** An error that crossed a thread boundary as plain data; an unknown code becomes io-error. */
export function errorFromParts(code: string, message: string, path: string | undefined, errno?: string): VeritreeError {
  return new VeritreeError(isErrorCode(code) ? code : 'io-error', message, { ...(path !== undefined ? { path } : {}), ...(errno !== undefined ? { errno } : {}) });
}

// --- kernel interface (src/kernel/): fs-verity ioctl, statx and xattr failures, docs/FORMATS.md §2.3/§2.4 ---

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

// --- content-addressed object stores (src/cas/layout.ts, src/cas) --------------------------

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
