/**
 * Directory blocks (docs/FORMATS.md §5.5; §5.8 step 5): an array of 12-byte `erofs_dirent`s at the
 * start of each block, then the names back to back. The entry count is `nameoff[0] / 12`; name
 * i spans [nameoff_i, nameoff_{i+1}), and the last one ends at the first NUL or at the end of the
 * block's data. Checks follow the kernel's `erofs_fill_dentries`: a sane first name offset,
 * names of 1..255 bytes inside the block; names with NUL or '/' are refused as well.
 */
import type { ImageBytes } from './bytes.js';
import { EROFS_DIRENT_SIZE, EROFS_NAME_LEN } from './constants.js';

export interface Dirent {
  readonly name: Uint8Array;
  readonly nid: number;
  /** EROFS_FT_*: 0 unknown, 1 reg, 2 dir, 3 chr, 4 blk, 5 fifo, 6 sock, 7 symlink (advisory). */
  readonly fileType: number;
  /** Byte offset of the dirent in the image (of the directory inode when the block is a hole). */
  readonly offset: number;
}

function le16(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8);
}

function le32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/**
 * Parses one directory block. `block` holds exactly the block's data (its last block may be
 * shorter); `blockOffset` is where it lies in the image, for error messages.
 */
export function parseDirBlock(bytes: ImageBytes, block: Uint8Array, blockOffset: number, dirNid: number): Dirent[] {
  const owner = `directory inode ${dirNid}`;
  const size = block.length;
  if (size < EROFS_DIRENT_SIZE) bytes.fail(blockOffset, `${owner}: ${size}-byte directory block is too short for a dirent`);
  const first = le16(block, 8);
  if (first < EROFS_DIRENT_SIZE || first >= size || first % EROFS_DIRENT_SIZE !== 0) {
    bytes.fail(blockOffset + 8, `${owner}: invalid first name offset ${first} in a ${size}-byte directory block`);
  }
  const count = first / EROFS_DIRENT_SIZE;
  const out: Dirent[] = [];
  for (let i = 0; i < count; i++) {
    const at = i * EROFS_DIRENT_SIZE;
    const nameoff = le16(block, at + 8);
    let end: number;
    if (i + 1 < count) {
      end = le16(block, at + EROFS_DIRENT_SIZE + 8);
    } else {
      const nul = nameoff < size ? block.indexOf(0, nameoff) : -1;
      end = nul === -1 ? size : nul;
    }
    const len = end - nameoff;
    if (nameoff < first || end > size || len < 1 || len > EROFS_NAME_LEN) {
      bytes.fail(blockOffset + at, `${owner}: dirent ${i} has a bogus name (offset ${nameoff}, length ${len})`);
    }
    const name = block.subarray(nameoff, end);
    if (name.includes(0)) bytes.fail(blockOffset + nameoff, `${owner}: dirent ${i} name contains a NUL byte`);
    // No VFS lookup can produce a name with '/'; accepting one would make paths ambiguous.
    if (name.includes(0x2f)) bytes.fail(blockOffset + nameoff, `${owner}: dirent ${i} name contains '/'`);
    const lo = le32(block, at);
    const hi = le32(block, at + 4);
    // Bit 63 (metabox nids) and anything past 2^53 cannot name an inode in an image we can load.
    if (hi >= 0x200000) bytes.fail(blockOffset + at, `${owner}: dirent ${i} has an absurd nid`);
    out.push({ name, nid: hi * 0x100000000 + lo, fileType: block[at + 10]!, offset: blockOffset + at });
  }
  return out;
}
