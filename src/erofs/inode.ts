/**
 * Compact (32-byte) and extended (64-byte) EROFS inodes (docs/FORMATS.md §5.2 locating an inode,
 * §5.3 inode formats, §5.6 data layouts). Parsing validates everything that later reads rely
 * on: the file type, the layout, that the inline xattr area and the data the layout names lie
 * inside the image, and that an inline tail does not cross a block boundary.
 */
import type { ImageBytes } from './bytes.js';
import { alignUp } from './bytes.js';
import type { Superblock } from './superblock.js';
import {
  CHUNK_ADDR_SIZE, CHUNK_FORMAT_48BIT, CHUNK_FORMAT_BLKBITS_MASK, CHUNK_FORMAT_INDEXES, CHUNK_INDEX_SIZE,
  EROFS_INODE_COMPACT_SIZE, EROFS_INODE_EXTENDED_SIZE, EROFS_ISLOT_BITS, I_FORMAT_KNOWN_BITS, I_FORMAT_LAYOUT_MASK,
  I_FORMAT_LAYOUT_SHIFT, I_FORMAT_VERSION_MASK, LAYOUT_CHUNK_BASED, LAYOUT_COMPRESSED_COMPACT,
  LAYOUT_COMPRESSED_FULL, LAYOUT_FLAT_INLINE, LAYOUT_FLAT_PLAIN, LAYOUT_NAMES, PATH_MAX, S_IFBLK, S_IFCHR, S_IFDIR,
  S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, XATTR_IBODY_HEADER_SIZE,
} from './constants.js';

export type FileType = 'file' | 'directory' | 'symlink' | 'char-device' | 'block-device' | 'fifo' | 'socket';

const FILE_TYPES: ReadonlyMap<number, FileType> = new Map([
  [S_IFREG, 'file'], [S_IFDIR, 'directory'], [S_IFLNK, 'symlink'], [S_IFCHR, 'char-device'],
  [S_IFBLK, 'block-device'], [S_IFIFO, 'fifo'], [S_IFSOCK, 'socket'],
] as const);

export type DataLayout = (typeof LAYOUT_NAMES)[number];

/** Where a chunk-based inode keeps its chunk table (docs/FORMATS.md §5.6). */
export interface ChunkTable {
  /** log2 of the chunk size in bytes. */
  readonly chunkBits: number;
  /** 8-byte `erofs_inode_chunk_index` entries rather than 4-byte block addresses. */
  readonly indexes: boolean;
  readonly entrySize: number;
  readonly count: number;
  /** Byte offset of the first entry in the image. */
  readonly offset: number;
}

export interface ErofsInode {
  readonly nid: number;
  /** Byte offset of the inode in the image. */
  readonly offset: number;
  readonly compact: boolean;
  /** 32 (compact) or 64 (extended). */
  readonly inodeSize: number;
  readonly layout: number;
  readonly layoutName: DataLayout;
  readonly mode: number;
  readonly type: FileType;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** Seconds as stored (signed 64-bit, as composefs-info prints them) and nanoseconds. */
  readonly mtime: { readonly sec: bigint; readonly nsec: number };
  /** Device number in the kernel's "new" encoding for char/block devices, else 0. */
  readonly rdev: number;
  /** i_ino: composefs' inode number (breadth-first index). */
  readonly ino: number;
  /** The raw i_u union (block address, rdev, or chunk format in the low 16 bits). */
  readonly rawBlockAddr: number;
  /** i_xattr_icount and the inline xattr area size it implies (0 or 12 + 4*(icount-1)). */
  readonly xattrCount: number;
  readonly xattrSize: number;
  /** FLAT_INLINE: offset and length of the inline tail (after the xattr area); otherwise length 0. */
  readonly tailOffset: number;
  readonly tailSize: number;
  readonly chunks: ChunkTable | null;
}

/** Linux `new_decode_dev` (docs/FORMATS.md §5.6): major and minor of an rdev. */
export function decodeDev(rdev: number): { major: number; minor: number } {
  return { major: (rdev & 0xfff00) >>> 8, minor: (rdev & 0xff) | ((rdev >>> 12) & 0xfff00) };
}

/** Byte offset of inode `nid` (docs/FORMATS.md §5.2). */
export function inodeOffset(sb: Superblock, nid: number): number {
  return sb.metaOffset + nid * 2 ** EROFS_ISLOT_BITS;
}

/** Long on purpose: one inode's fields are checked in on-disk order, each with its own bounds message. */
export function readInode(bytes: ImageBytes, sb: Superblock, nid: number): ErofsInode {
  if (!Number.isSafeInteger(nid) || nid < 0) bytes.fail(sb.metaOffset, `inode number ${nid} is absurd`);
  const at = inodeOffset(sb, nid);
  if (!bytes.contains(at, EROFS_INODE_COMPACT_SIZE)) {
    bytes.fail(at, `inode ${nid} lies beyond the end of the image (${bytes.length} bytes)`);
  }
  const format = bytes.u16(at, 'i_format');
  if ((format & ~I_FORMAT_KNOWN_BITS) !== 0) {
    bytes.fail(at, `inode ${nid}: unsupported i_format 0x${format.toString(16)}`);
  }
  const compact = (format & I_FORMAT_VERSION_MASK) === 0;
  const inodeSize = compact ? EROFS_INODE_COMPACT_SIZE : EROFS_INODE_EXTENDED_SIZE;
  bytes.need(at, inodeSize, `inode ${nid}`);
  const layout = (format >>> I_FORMAT_LAYOUT_SHIFT) & I_FORMAT_LAYOUT_MASK;
  if (layout === LAYOUT_COMPRESSED_FULL || layout === LAYOUT_COMPRESSED_COMPACT) {
    bytes.fail(at, `inode ${nid}: compressed data layout ${layout} is not supported`);
  }
  if (layout > LAYOUT_CHUNK_BASED) bytes.fail(at, `inode ${nid}: unknown data layout ${layout}`);

  const xattrCount = bytes.u16(at + 2, 'i_xattr_icount');
  const mode = bytes.u16(at + 4, 'i_mode');
  const type = FILE_TYPES.get(mode & S_IFMT);
  if (type === undefined) bytes.fail(at + 4, `inode ${nid}: bad file type in mode 0o${mode.toString(8)}`);
  const rawBlockAddr = bytes.u32(at + 16, 'i_u');
  const ino = bytes.u32(at + 20, 'i_ino');

  let nlink: number, size: number, uid: number, gid: number, mtime: { sec: bigint; nsec: number };
  if (compact) {
    nlink = bytes.u16(at + 6, 'i_nlink');
    size = bytes.u32(at + 8, 'i_size');
    // Newer formats add the compact i_mtime (formerly reserved, 0 in composefs) to the epoch.
    const delta = BigInt(bytes.u32(at + 12, 'i_mtime'));
    mtime = { sec: BigInt.asIntN(64, sb.buildTime + delta), nsec: sb.buildTimeNsec };
    uid = bytes.u16(at + 24, 'i_uid');
    gid = bytes.u16(at + 26, 'i_gid');
  } else {
    size = bytes.u64Safe(at + 8, `inode ${nid} size`);
    uid = bytes.u32(at + 24, 'i_uid');
    gid = bytes.u32(at + 28, 'i_gid');
    mtime = { sec: BigInt.asIntN(64, bytes.u64(at + 32, 'i_mtime')), nsec: bytes.u32(at + 40, 'i_mtime_nsec') };
    nlink = bytes.u32(at + 44, 'i_nlink');
  }
  const rdev = type === 'char-device' || type === 'block-device' ? rawBlockAddr : 0;

  const xattrSize = xattrCount === 0 ? 0 : XATTR_IBODY_HEADER_SIZE + 4 * (xattrCount - 1);
  const bodyEnd = at + inodeSize + xattrSize;
  bytes.need(at + inodeSize, xattrSize, `inode ${nid}: inline xattr area of ${xattrCount} slots`);

  let tailOffset = bodyEnd;
  let tailSize = 0;
  let chunks: ChunkTable | null = null;
  const blk = sb.blockSize;
  const hasData = type === 'file' || type === 'directory' || type === 'symlink';
  if (type === 'directory' && size > bytes.length) {
    bytes.fail(at + 8, `inode ${nid}: directory size ${size} exceeds the image size`);
  }
  if (type === 'symlink' && size >= PATH_MAX) {
    bytes.fail(at + 8, `inode ${nid}: symlink target length ${size} is not below PATH_MAX (${PATH_MAX})`);
  }
  if (hasData && layout === LAYOUT_FLAT_PLAIN && size > 0) {
    bytes.need(rawBlockAddr * blk, size, `inode ${nid}: data blocks from block ${rawBlockAddr}`);
  } else if (hasData && layout === LAYOUT_FLAT_INLINE) {
    const plain = Math.floor(size / blk) * blk;
    tailSize = size - plain;
    if (plain > 0) bytes.need(rawBlockAddr * blk, plain, `inode ${nid}: data blocks from block ${rawBlockAddr}`);
    if (tailSize > 0) {
      bytes.need(tailOffset, tailSize, `inode ${nid}: inline data`);
      if ((tailOffset % blk) + tailSize > blk) {
        bytes.fail(tailOffset, `inode ${nid}: inline data of ${tailSize} bytes crosses a block boundary`);
      }
    }
  } else if (hasData && layout === LAYOUT_CHUNK_BASED) {
    const chunkFormat = rawBlockAddr & 0xffff;
    if ((chunkFormat & ~(CHUNK_FORMAT_BLKBITS_MASK | CHUNK_FORMAT_INDEXES)) !== 0) {
      bytes.fail(at + 16, `inode ${nid}: unsupported chunk format 0x${chunkFormat.toString(16)}${chunkFormat & CHUNK_FORMAT_48BIT ? ' (48-bit)' : ''}`);
    }
    const chunkBits = sb.blockSizeBits + (chunkFormat & CHUNK_FORMAT_BLKBITS_MASK);
    const indexes = (chunkFormat & CHUNK_FORMAT_INDEXES) !== 0;
    const entrySize = indexes ? CHUNK_INDEX_SIZE : CHUNK_ADDR_SIZE;
    const count = Math.ceil(size / 2 ** chunkBits);
    const tableOffset = alignUp(bodyEnd, entrySize);
    if (count > (bytes.length - Math.min(tableOffset, bytes.length)) / entrySize) {
      bytes.fail(tableOffset, `inode ${nid}: chunk table of ${count} entries for size ${size} extends beyond the end of the image`);
    }
    chunks = { chunkBits, indexes, entrySize, count, offset: tableOffset };
  }
  return {
    nid, offset: at, compact, inodeSize, layout, layoutName: LAYOUT_NAMES[layout]!, mode, type, nlink, uid, gid,
    size, mtime, rdev, ino, rawBlockAddr, xattrCount, xattrSize, tailOffset, tailSize, chunks,
  };
}

/** Is `layout` one of the flat ones (data stored plainly, possibly with an inline tail)? */
export function isFlat(inode: ErofsInode): boolean {
  return inode.layout === LAYOUT_FLAT_PLAIN || inode.layout === LAYOUT_FLAT_INLINE;
}
