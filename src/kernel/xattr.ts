/**
 * Extended attributes with binary values, not following symlinks (lgetxattr/llistxattr/
 * lsetxattr/lremovexattr). Sizes are probed with a zero-size call, then the read is retried if the
 * value grew in between (ERANGE). Used by `enable --copy` to carry xattrs over, and by the
 * overlay/composefs code for `trusted.overlay.*` / `user.overlay.*` (docs/FORMATS.md §3.2).
 *
 * Spec: xattr(7), getxattr(2), listxattr(2), setxattr(2) — ERANGE, ENODATA, ENOTSUP semantics.
 */
import { ERRNO, kernelErrnoError } from '../report/errno.js';
import { stableBytes } from './structs.js';
import { checkPath, runSync, type SysProgram } from './sys.js';
import type { PathLike } from '../fs/path.js';

/** `XATTR_CREATE` / `XATTR_REPLACE` from `<sys/xattr.h>`. */
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;
/** Linux XATTR_SIZE_MAX: no value can be larger, so a bigger probe answer is nonsense. */
export const XATTR_SIZE_MAX = 65536;
/** Linux XATTR_LIST_MAX. */
export const XATTR_LIST_MAX = 65536;

const GROW_RETRIES = 4;

export type SetMode = 'create' | 'replace' | 'either';

function checkName(name: unknown): string {
  if (typeof name !== 'string') throw new TypeError(`xattr name must be a string, got ${typeof name}`);
  if (name.length === 0 || name.includes('\0')) throw new TypeError(`bad xattr name: ${JSON.stringify(name)}`);
  return name;
}

/**
 * First read with a buffer this large, before asking the size: the values and name lists veritree
 * reads (overlay metacopy ≤ 68 bytes, redirects, a file's few names) fit, so one call usually
 * does where a size probe would make two. Larger ones come back ERANGE and take the probe path.
 */
const FIRST_TRY_BYTES = 1024;

/** The value of `name`, or `undefined` when the file has no such attribute. */
export function* getXattrProgram(path: PathLike, name: string): SysProgram<Uint8Array | undefined> {
  const shown = checkPath(path);
  checkName(name);
  const first = stableBytes(FIRST_TRY_BYTES);
  const direct = yield { call: 'lgetxattr', path, name, buf: first };
  if (direct.rc >= 0) return first.slice(0, direct.rc);
  if (direct.errno === ERRNO.ENODATA) return undefined;
  if (direct.errno !== ERRNO.ERANGE) throw kernelErrnoError('getxattr', direct.errno, shown);
  for (let attempt = 0; ; attempt++) {
    const probe = yield { call: 'lgetxattr', path, name, buf: null };
    if (probe.rc < 0) {
      if (probe.errno === ERRNO.ENODATA) return undefined;
      throw kernelErrnoError('getxattr', probe.errno, shown);
    }
    if (probe.rc === 0) return new Uint8Array(0);
    const buf = stableBytes(Math.min(probe.rc, XATTR_SIZE_MAX));
    const r = yield { call: 'lgetxattr', path, name, buf };
    if (r.rc >= 0) return buf.slice(0, r.rc);
    if (r.errno === ERRNO.ENODATA) return undefined; // removed between the two calls
    if (r.errno !== ERRNO.ERANGE || attempt >= GROW_RETRIES) throw kernelErrnoError('getxattr', r.errno, shown);
  }
}

/** Attribute names, in the order the filesystem lists them. */
export function* listXattrProgram(path: PathLike, first: Uint8Array = stableBytes(FIRST_TRY_BYTES)): SysProgram<string[]> {
  const shown = checkPath(path);
  const direct = yield { call: 'llistxattr', path, buf: first };
  if (direct.rc >= 0) return splitNames(first.subarray(0, direct.rc));
  if (direct.errno !== ERRNO.ERANGE) throw kernelErrnoError('listxattr', direct.errno, shown);
  for (let attempt = 0; ; attempt++) {
    const probe = yield { call: 'llistxattr', path, buf: null };
    if (probe.rc < 0) throw kernelErrnoError('listxattr', probe.errno, shown);
    if (probe.rc === 0) return [];
    const buf = stableBytes(Math.min(probe.rc, XATTR_LIST_MAX));
    const r = yield { call: 'llistxattr', path, buf };
    if (r.rc >= 0) return splitNames(buf.subarray(0, r.rc));
    if (r.errno !== ERRNO.ERANGE || attempt >= GROW_RETRIES) throw kernelErrnoError('listxattr', r.errno, shown);
  }
}

/** Splits the NUL-terminated name list llistxattr returns. */
export function splitNames(list: Uint8Array): string[] {
  const names: string[] = [];
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    if (list[i] !== 0) continue;
    if (i > start) names.push(Buffer.from(list.subarray(start, i)).toString('utf8'));
    start = i + 1;
  }
  if (start < list.length) names.push(Buffer.from(list.subarray(start)).toString('utf8'));
  return names;
}

export function* setXattrProgram(path: PathLike, name: string, value: Uint8Array, mode: SetMode = 'either'): SysProgram<void> {
  const shown = checkPath(path);
  checkName(name);
  if (!(value instanceof Uint8Array)) throw new TypeError(`xattr value must be a Uint8Array, got ${typeof value}`);
  if (value.length > XATTR_SIZE_MAX) throw new RangeError(`xattr value is ${value.length} bytes; at most ${XATTR_SIZE_MAX}`);
  const flags = mode === 'create' ? XATTR_CREATE : mode === 'replace' ? XATTR_REPLACE : 0;
  if (mode !== 'create' && mode !== 'replace' && mode !== 'either') throw new RangeError(`bad xattr set mode: ${String(mode)}`);
  const r = yield { call: 'lsetxattr', path, name, value, flags };
  if (r.rc < 0) throw kernelErrnoError('setxattr', r.errno, shown);
}

export function* removeXattrProgram(path: PathLike, name: string): SysProgram<void> {
  const shown = checkPath(path);
  checkName(name);
  const r = yield { call: 'lremovexattr', path, name };
  if (r.rc < 0) throw kernelErrnoError('removexattr', r.errno, shown);
}

/** All attributes as name → value (values may vanish between list and get; those are left out). */
export function* getAllXattrsProgram(path: PathLike): SysProgram<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const name of yield* listXattrProgram(path)) {
    const v = yield* getXattrProgram(path, name);
    if (v !== undefined) out.set(name, v);
  }
  return out;
}

// ---- synchronous API ----

export function getXattrSync(path: PathLike, name: string): Uint8Array | undefined {
  return runSync(getXattrProgram(path, name));
}
/**
 * The first try of synchronous listings: one buffer reused (a synchronous run cannot overlap
 * another), since builders list every entry of a tree and most have no xattrs.
 */
const SYNC_LIST_FIRST = stableBytes(4 * FIRST_TRY_BYTES);

export function listXattrSync(path: PathLike): string[] {
  return runSync(listXattrProgram(path, SYNC_LIST_FIRST));
}
export function setXattrSync(path: PathLike, name: string, value: Uint8Array, mode: SetMode = 'either'): void {
  runSync(setXattrProgram(path, name, value, mode));
}
export function removeXattrSync(path: PathLike, name: string): void {
  runSync(removeXattrProgram(path, name));
}
export function getAllXattrsSync(path: PathLike): Map<string, Uint8Array> {
  return runSync(getAllXattrsProgram(path));
}
