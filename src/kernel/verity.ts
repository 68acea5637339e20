/**
 * fs-verity kernel operations as syscall programs (see ./sys.ts), with synchronous wrappers:
 * enable, measure, read metadata, inode flags, statx.
 *
 * Spec: docs/FORMATS.md §2.1–§2.5: FS_IOC_ENABLE_VERITY (fd must be O_RDONLY, ETXTBSY
 * while anyone writes), FS_IOC_MEASURE_VERITY, FS_IOC_READ_VERITY_METADATA (pread-like; 0 at end),
 * FS_IOC_GETFLAGS (32-bit result), statx STATX_ATTR_VERITY.
 */
import { hashAlgById, resolveParams, type VerityParams, type VerityParamsInput } from '../params.js';
import { kernelError, type VeritreeError } from '../report/errors.js';
import {
  AT_FDCWD,
  AT_SYMLINK_NOFOLLOW,
  FS_IOC_ENABLE_VERITY,
  FS_IOC_GETFLAGS,
  FS_IOC_MEASURE_VERITY,
  FS_IOC_READ_VERITY_METADATA,
  FS_VERITY_FL,
  FS_VERITY_METADATA_TYPE_DESCRIPTOR,
  FS_VERITY_METADATA_TYPE_MERKLE_TREE,
  FS_VERITY_METADATA_TYPE_SIGNATURE,
  STATX_ATTR_VERITY,
  STATX_BASIC_STATS,
  STATX_OFF_ATTRIBUTES,
  STATX_OFF_ATTRIBUTES_MASK,
  STATX_OFF_MODE,
  STATX_OFF_SIZE,
  STATX_SIZE,
} from './constants.js';
import { ERRNO, kernelErrnoError, type KernelOp } from '../report/errno.js';
import { libc } from '../fs/libc.js';
import { packDigestBuffer, packEnableArg, packReadMetadataArg, stableBytes, unpackDigest, type AddressOf } from './structs.js';
import { checkPath, openCall, runSync, type FileKind, type SysProgram, type SysResult } from './sys.js';
import type { FileRef } from '../fs/open.js';

export type MetadataType = 'merkle_tree' | 'descriptor' | 'signature';

/** `fsverity dump_metadata` type names → FS_VERITY_METADATA_TYPE_* (§2.2). */
export const METADATA_TYPES: Readonly<Record<MetadataType, number>> = Object.freeze({
  merkle_tree: FS_VERITY_METADATA_TYPE_MERKLE_TREE,
  descriptor: FS_VERITY_METADATA_TYPE_DESCRIPTOR,
  signature: FS_VERITY_METADATA_TYPE_SIGNATURE,
});

export interface EnableOptions extends VerityParamsInput {
  /** Already-resolved parameters (wins over hashAlg/blockSize/salt). */
  params?: VerityParams;
  /** PKCS#7 DER builtin signature of the file digest (`fsverity sign` output). */
  signature?: Uint8Array;
  /** How often to retry ETXTBSY before giving up (default 3; writers often close quickly). */
  busyRetries?: number;
}

export interface Measurement {
  readonly path: string;
  /** `sha256`, `sha512`, or `ALG_<n>` for a number veritree does not know (as fsverity prints). */
  readonly hashAlg: string;
  readonly hashAlgorithm: number;
  readonly digest: Uint8Array;
  readonly hex: string;
}

export interface VerityStat {
  readonly path: string;
  /** True when the kernel reports STATX_ATTR_VERITY. */
  readonly verity: boolean;
  /** False when the filesystem does not say whether it supports the attribute at all. */
  readonly attributeKnown: boolean;
  readonly size: number;
  readonly kind: FileKind;
}

const BUSY_DELAYS_MS = [20, 60, 150, 300];
/** Read the Merkle tree in 256 KiB ioctls: big enough to be few calls, small enough to not matter. */
const READ_CHUNK = 256 * 1024;

function fail(op: KernelOp, r: SysResult, path: string): VeritreeError {
  return kernelErrnoError(op, r.errno, path);
}

function addressOf(): AddressOf {
  const lib = libc();
  return (buf) => lib.address(buf);
}

/** Opens `path` read-only, runs `body(fd, kind)`, and closes the fd whatever happens. */
export function* withReadOnlyFd<T>(target: string | FileRef, body: (fd: number, kind: FileKind) => SysProgram<T>): SysProgram<T> {
  const path = checkPath(target);
  const opened = yield openCall(target);
  if (opened.rc < 0) throw kernelErrnoError('open', opened.errno, path);
  try {
    return yield* body(opened.rc, opened.kind ?? 'unknown');
  } finally {
    yield { call: 'close', fd: opened.rc };
  }
}

function paramsOf(opts: EnableOptions): VerityParams {
  return opts.params ?? resolveParams({
    ...(opts.hashAlg !== undefined ? { hashAlg: opts.hashAlg } : {}),
    ...(opts.blockSize !== undefined ? { blockSize: opts.blockSize } : {}),
    ...(opts.salt !== undefined ? { salt: opts.salt } : {}),
  });
}

/** FS_IOC_ENABLE_VERITY on an open O_RDONLY fd, retrying ETXTBSY `busyRetries` times. */
export function* enableOnFd(fd: number, path: string, opts: EnableOptions = {}): SysProgram<void> {
  const params = paramsOf(opts);
  const arg = packEnableArg(
    { hashAlgorithm: params.alg.id, blockSize: params.blockSize, salt: params.salt, signature: opts.signature },
    addressOf(),
  );
  const retries = Math.max(0, Math.min(opts.busyRetries ?? 3, BUSY_DELAYS_MS.length));
  for (let attempt = 0; ; attempt++) {
    const r = yield { call: 'ioctl', fd, request: FS_IOC_ENABLE_VERITY, arg };
    if (r.rc >= 0) return;
    if (r.errno === ERRNO.ETXTBSY && attempt < retries) {
      yield { call: 'sleep', ms: BUSY_DELAYS_MS[attempt]! };
      continue;
    }
    throw fail('enable', r, path);
  }
}

export function* enableProgram(target: string | FileRef, opts: EnableOptions = {}): SysProgram<void> {
  const path = checkPath(target);
  paramsOf(opts); // parameter errors before touching the file
  return yield* withReadOnlyFd(target, function* (fd, kind) {
    if (kind === 'directory') throw kernelError('is-a-directory', 'is a directory; fs-verity applies to regular files only', { path });
    if (kind !== 'file') throw kernelError('not-a-regular-file', `not a regular file (${kind}); fs-verity applies to regular files only`, { path });
    yield* enableOnFd(fd, path, opts);
  });
}

export function* measureOnFd(fd: number, path: string): SysProgram<Measurement> {
  const buf = packDigestBuffer();
  const r = yield { call: 'ioctl', fd, request: FS_IOC_MEASURE_VERITY, arg: buf };
  if (r.rc < 0) throw fail('measure', r, path);
  const { hashAlgorithm, digest } = unpackDigest(buf);
  const hex = Buffer.from(digest).toString('hex');
  return { path, hashAlg: hashAlgById(hashAlgorithm)?.name ?? `ALG_${hashAlgorithm}`, hashAlgorithm, digest, hex };
}

export function* measureProgram(target: string | FileRef): SysProgram<Measurement> {
  const path = checkPath(target);
  return yield* withReadOnlyFd(target, (fd) => measureOnFd(fd, path));
}

export interface ReadRange {
  offset?: number;
  /** Bytes wanted; default: to the end. */
  length?: number;
}

/** FS_IOC_READ_VERITY_METADATA in a loop until `length` bytes or the end (a 0 return). */
export function* readMetadataOnFd(fd: number, path: string, type: MetadataType, range: ReadRange = {}): SysProgram<Uint8Array> {
  const typeNo = METADATA_TYPES[type];
  if (typeNo === undefined) throw new RangeError(`unknown metadata type: ${String(type)}`);
  const start = range.offset ?? 0;
  const want = range.length ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(start) || start < 0) throw new RangeError(`bad offset: ${String(range.offset)}`);
  if (!Number.isSafeInteger(want) || want < 0) throw new RangeError(`bad length: ${String(range.length)}`);
  const lib = libc();
  const chunk = stableBytes(Math.min(READ_CHUNK, Math.max(want, 1)));
  const addr = lib.address(chunk);
  const parts: Uint8Array[] = [];
  let got = 0;
  while (got < want) {
    const n = Math.min(chunk.length, want - got);
    const arg = packReadMetadataArg(typeNo, start + got, n, addr);
    const r = yield { call: 'ioctl', fd, request: FS_IOC_READ_VERITY_METADATA, arg };
    if (r.rc < 0) {
      if (type === 'signature' && r.errno === ERRNO.ENODATA && got === 0)
        throw kernelError('no-signature', 'the file has no builtin signature (ENODATA)', { path, errno: 'ENODATA' });
      throw fail('read-metadata', r, path);
    }
    if (r.rc === 0) break;
    parts.push(chunk.slice(0, r.rc));
    got += r.rc;
  }
  if (parts.length === 1) return parts[0]!;
  const all = Buffer.concat(parts, got);
  return new Uint8Array(all.buffer, all.byteOffset, all.length);
}

export function* readMetadataProgram(target: string | FileRef, type: MetadataType, range: ReadRange = {}): SysProgram<Uint8Array> {
  const path = checkPath(target);
  return yield* withReadOnlyFd(target, (fd) => readMetadataOnFd(fd, path, type, range));
}

/** FS_IOC_GETFLAGS: the inode flags (FS_*_FL); 4-byte result in an 8-byte zeroed buffer (§2.1). */
export function* getFlagsProgram(target: string | FileRef): SysProgram<number> {
  const path = checkPath(target);
  return yield* withReadOnlyFd(target, function* (fd) {
    const buf = stableBytes(8);
    const r = yield { call: 'ioctl', fd, request: FS_IOC_GETFLAGS, arg: buf };
    if (r.rc < 0) throw fail('getflags', r, path);
    return new DataView(buf.buffer).getUint32(0, true);
  });
}

export function* isVerityByFlagsProgram(path: string): SysProgram<boolean> {
  return ((yield* getFlagsProgram(path)) & FS_VERITY_FL) !== 0;
}

/** statx() without following a final symlink: STATX_ATTR_VERITY without opening the file (§2.5). */
export function* statxProgram(path: string): SysProgram<VerityStat> {
  checkPath(path);
  const buf = stableBytes(STATX_SIZE);
  const r = yield { call: 'statx', dirfd: AT_FDCWD, path, flags: AT_SYMLINK_NOFOLLOW, mask: STATX_BASIC_STATS, buf };
  if (r.rc < 0) throw fail('statx', r, path);
  const view = new DataView(buf.buffer);
  const attrs = view.getBigUint64(STATX_OFF_ATTRIBUTES, true);
  const mask = view.getBigUint64(STATX_OFF_ATTRIBUTES_MASK, true);
  const bit = BigInt(STATX_ATTR_VERITY);
  return {
    path,
    verity: (attrs & bit) !== 0n,
    attributeKnown: (mask & bit) !== 0n,
    size: Number(view.getBigUint64(STATX_OFF_SIZE, true)),
    kind: kindFromMode(view.getUint16(STATX_OFF_MODE, true)),
  };
}

function kindFromMode(mode: number): FileKind {
  switch (mode & 0o170000) {
    case 0o100000: return 'file';
    case 0o040000: return 'directory';
    case 0o120000: return 'symlink';
    case 0o010000: return 'fifo';
    case 0o140000: return 'socket';
    case 0o020000: return 'char-device';
    case 0o060000: return 'block-device';
    default: return 'unknown';
  }
}


// ---- synchronous API (worker threads, short CLI paths) ----

export function enableVeritySync(path: string | FileRef, opts: EnableOptions = {}): void {
  runSync(enableProgram(path, opts));
}
export function measureVeritySync(path: string | FileRef): Measurement {
  return runSync(measureProgram(path));
}
export function readVerityMetadataSync(path: string | FileRef, type: MetadataType, range: ReadRange = {}): Uint8Array {
  return runSync(readMetadataProgram(path, type, range));
}
export function getFlagsSync(path: string): number {
  return runSync(getFlagsProgram(path));
}
export function statxVeritySync(path: string): VerityStat {
  return runSync(statxProgram(path));
}
