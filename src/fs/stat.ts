/**
 * File identity and kind from statx(2), on an open descriptor or on a name relative to a
 * directory descriptor without following it. One fixed struct layout on every architecture
 * (unlike `struct stat`), and no Stats object per call.
 *
 * Spec: statx(2), `<linux/stat.h>` struct statx; docs/FORMATS.md §2.5.
 */
import { kindOfMode, type FileKind } from './kind.js';
import { libc, type CPath } from './libc.js';
import { cPath } from './path.js';

/** What veritree needs to know of a file: its kind, and enough to tell one version from another. */
export interface FileStat {
  readonly kind: FileKind;
  readonly mode: number;
  readonly size: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  /** st_rdev of a device node as glibc's makedev() encodes it, low 32 bits (0 otherwise). */
  readonly rdev: number;
  /** st_dev as `major:minor`, st_ino: together, which file this is. */
  readonly dev: string;
  readonly ino: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  /** STATX_ATTR_VERITY is set (the kernel says fs-verity is on). */
  readonly verity: boolean;
}

// <linux/stat.h>, <fcntl.h>
const STATX_BASIC_STATS = 0x7ff;
const AT_EMPTY_PATH = 0x1000;
const AT_SYMLINK_NOFOLLOW = 0x100;
const STATX_ATTR_VERITY = 0x00100000;
const STATX_BYTES = 256;

/** One buffer per thread: statx fills it and it is decoded at once. */
const buf = new Uint8Array(STATX_BYTES);
const view = new DataView(buf.buffer);
const EMPTY = Buffer.from([0]);

function timeNs(at: number): bigint {
  return view.getBigInt64(at, true) * 1_000_000_000n + BigInt(view.getUint32(at + 8, true));
}

function decode(): FileStat {
  const mode = view.getUint16(28, true);
  return {
    kind: kindOfMode(mode),
    mode,
    nlink: view.getUint32(16, true),
    uid: view.getUint32(20, true),
    gid: view.getUint32(24, true),
    rdev: makedev32(view.getUint32(128, true), view.getUint32(132, true)),
    ino: view.getBigUint64(32, true),
    size: Number(view.getBigUint64(40, true)),
    mtimeNs: timeNs(112),
    ctimeNs: timeNs(96),
    dev: `${view.getUint32(136, true)}:${view.getUint32(140, true)}`,
    verity: (Number(view.getBigUint64(8, true) & BigInt(STATX_ATTR_VERITY)) !== 0),
  };
}

/** glibc `makedev(major, minor)`, truncated to 32 bits (what composefs dumps carry). */
export function makedev32(major: number, minor: number): number {
  return (((major & 0xfff) << 8) | (minor & 0xff) | ((minor & 0xfff00) << 12)) >>> 0;
}

/** fstat of an open descriptor; a negative errno on failure. */
export function statFd(fd: number): FileStat | number {
  const lib = libc();
  if (lib.statx(fd, EMPTY, AT_EMPTY_PATH, STATX_BASIC_STATS, buf) < 0) return -lib.errno();
  return decode();
}

/** lstat (or stat with `follow`) of `name` relative to `dirfd`; a negative errno on failure. */
export function statAt(dirfd: number, name: CPath, follow = false): FileStat | number {
  const lib = libc();
  if (lib.statx(dirfd, typeof name === 'string' ? name : cPath(name), follow ? 0 : AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, buf) < 0) return -lib.errno();
  return decode();
}

/** Same file, same version: what a hash of it describes. */
export function sameVersion(a: FileStat, b: FileStat): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}
