/**
 * Inline and shared xattrs of an inode (docs/FORMATS.md §5.4; §5.8 step 4): the 12-byte ibody
 * header, `h_shared_count` ids into the shared area at `xattr_blkaddr`, then 4-byte aligned
 * `erofs_xattr_entry` records up to the end of the `i_xattr_icount` area. Names are rebuilt from
 * the short name index (or the long-prefix table when bit 7 is set) plus the stored suffix.
 * Entries come back as stored (escaped overlay names included): inline ones first, then shared,
 * the order the kernel's listxattr and composefs' reader use.
 */
import type { ImageBytes } from './bytes.js';
import { alignUp, asciiBytes, concatBytes, decodeName } from './bytes.js';
import type { ErofsInode } from './inode.js';
import type { LongPrefix } from './prefixes.js';
import type { Superblock } from './superblock.js';
import {
  XATTR_ALIGN, XATTR_ENTRY_HEADER_SIZE, XATTR_IBODY_HEADER_SIZE, XATTR_LONG_PREFIX_BIT, XATTR_LONG_PREFIX_MASK,
  XATTR_PREFIXES,
} from './constants.js';

export interface RawXattr {
  /** e_name_index as stored (bit 7 set for a long prefix). */
  readonly index: number;
  /** Full name for display (UTF-8; use rawName for exact bytes). */
  readonly name: string;
  readonly rawName: Uint8Array;
  readonly value: Uint8Array;
  /** Lives in the shared xattr area rather than in the inode. */
  readonly shared: boolean;
  /** Byte offset of the entry in the image. */
  readonly offset: number;
}

const SHORT_PREFIX_BYTES = XATTR_PREFIXES.map(asciiBytes);

/** Parses one `erofs_xattr_entry` at `at`; returns it and its padded size. */
export function readXattrEntry(
  bytes: ImageBytes, at: number, prefixes: readonly LongPrefix[], shared: boolean, owner: string,
): { xattr: RawXattr; size: number } {
  const nameLen = bytes.u8(at, 'xattr e_name_len');
  const index = bytes.u8(at + 1, 'xattr e_name_index');
  const valueSize = bytes.u16(at + 2, 'xattr e_value_size');
  bytes.need(at + XATTR_ENTRY_HEADER_SIZE, nameLen + valueSize, `${owner}: xattr entry of ${nameLen}+${valueSize} bytes`);
  const suffix = bytes.slice(at + XATTR_ENTRY_HEADER_SIZE, nameLen, 'xattr name');
  const value = bytes.slice(at + XATTR_ENTRY_HEADER_SIZE + nameLen, valueSize, 'xattr value');
  let prefix: Uint8Array;
  if ((index & XATTR_LONG_PREFIX_BIT) !== 0) {
    const long = prefixes[index & XATTR_LONG_PREFIX_MASK];
    if (long === undefined) {
      bytes.fail(at + 1, `${owner}: long xattr prefix ${index & XATTR_LONG_PREFIX_MASK} is not in the prefix table (${prefixes.length} entries)`);
    }
    prefix = long.prefix;
  } else {
    const short = SHORT_PREFIX_BYTES[index];
    if (short === undefined) bytes.fail(at + 1, `${owner}: unknown xattr name index ${index}`);
    prefix = short;
  }
  const rawName = concatBytes(prefix, suffix);
  if (rawName.length === 0) bytes.fail(at, `${owner}: xattr with an empty name`);
  if (suffix.includes(0)) bytes.fail(at + XATTR_ENTRY_HEADER_SIZE, `${owner}: xattr name contains a NUL byte`);
  const xattr: RawXattr = { index, name: decodeName(rawName), rawName, value, shared, offset: at };
  return { xattr, size: alignUp(XATTR_ENTRY_HEADER_SIZE + nameLen + valueSize, XATTR_ALIGN) };
}

export function readInodeXattrs(bytes: ImageBytes, sb: Superblock, inode: ErofsInode, prefixes: readonly LongPrefix[]): RawXattr[] {
  if (inode.xattrCount === 0) return [];
  const owner = `inode ${inode.nid}`;
  const base = inode.offset + inode.inodeSize;
  const end = base + inode.xattrSize;
  const sharedCount = bytes.u8(base + 4, 'h_shared_count');
  const inlineStart = base + XATTR_IBODY_HEADER_SIZE + 4 * sharedCount;
  if (inlineStart > end) {
    bytes.fail(base + 4, `${owner}: ${sharedCount} shared xattr ids do not fit in the ${inode.xattrSize}-byte xattr area`);
  }
  const out: RawXattr[] = [];
  for (let at = inlineStart; at < end;) {
    const { xattr, size } = readXattrEntry(bytes, at, prefixes, false, owner);
    if (at + size > end) bytes.fail(at, `${owner}: xattr entry extends beyond the inline xattr area`);
    out.push(xattr);
    at += size;
  }
  for (let i = 0; i < sharedCount; i++) {
    const id = bytes.u32(base + XATTR_IBODY_HEADER_SIZE + 4 * i, 'shared xattr id');
    const at = sb.xattrOffset + id * 4;
    if (!bytes.contains(at, XATTR_ENTRY_HEADER_SIZE)) {
      bytes.fail(base + XATTR_IBODY_HEADER_SIZE + 4 * i, `${owner}: shared xattr id ${id} points beyond the end of the image`);
    }
    out.push(readXattrEntry(bytes, at, prefixes, true, owner).xattr);
  }
  return out;
}
