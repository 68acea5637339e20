/**
 * The EROFS superblock at byte 1024 (docs/FORMATS.md §5.1; §5.8 step 2): magic, block size, features,
 * root nid and the metadata / shared-xattr areas. Unknown or unsupported incompat features are
 * refused, as the kernel does; compat features never are (the superblock checksum, a compat
 * feature, is therefore reported but not verified).
 */
import type { ImageBytes } from './bytes.js';
import { hex } from './bytes.js';
import { describeMagic } from './header.js';
import {
  EROFS_MAX_BLKSZBITS, EROFS_MIN_BLKSZBITS, EROFS_SB_EXTSLOT_SIZE, EROFS_SUPER_MAGIC, EROFS_SUPER_OFFSET,
  EROFS_SUPER_SIZE, INCOMPAT_NAMES, INCOMPAT_SUPPORTED,
} from './constants.js';

export interface Superblock {
  readonly checksum: number;
  readonly featureCompat: number;
  readonly featureIncompat: number;
  readonly blockSizeBits: number;
  readonly blockSize: number;
  readonly extSlots: number;
  readonly rootNid: number;
  /** Number of inodes (`inos`). */
  readonly inodeCount: bigint;
  /** `build_time`/`epoch` and `build_time_nsec`: the mtime of compact inodes (plus their i_mtime). */
  readonly buildTime: bigint;
  readonly buildTimeNsec: number;
  readonly blocks: number;
  readonly metaBlockAddr: number;
  readonly xattrBlockAddr: number;
  readonly uuid: Uint8Array;
  readonly volumeName: Uint8Array;
  readonly xattrPrefixCount: number;
  readonly xattrPrefixStart: number;
  readonly packedNid: bigint;
  /** Byte offsets derived from the block addresses. */
  readonly metaOffset: number;
  readonly xattrOffset: number;
}

function featureNames(bits: number): string {
  const names = INCOMPAT_NAMES.filter(([bit]) => (bits & bit) !== 0).map(([, name]) => name);
  let rest = bits;
  for (const [bit] of INCOMPAT_NAMES) rest &= ~bit;
  if (rest !== 0) names.push(`unknown ${hex(rest >>> 0)}`);
  return names.join(', ');
}

export function readSuperblock(bytes: ImageBytes): Superblock {
  const at = EROFS_SUPER_OFFSET;
  if (!bytes.contains(at, EROFS_SUPER_SIZE)) {
    if (bytes.contains(at, 4) && bytes.u32(at, 'superblock magic') !== EROFS_SUPER_MAGIC) {
      bytes.fail(at, `not an EROFS image (bad magic ${describeMagic(bytes, at)}, expected ${hex(EROFS_SUPER_MAGIC)})`);
    }
    bytes.fail(at, `not an EROFS image: truncated to ${bytes.length} bytes, the superblock ends at byte ${at + EROFS_SUPER_SIZE}`);
  }
  const magic = bytes.u32(at, 'superblock magic');
  if (magic !== EROFS_SUPER_MAGIC) {
    bytes.fail(at, `not an EROFS image (bad magic ${hex(magic)}, expected ${hex(EROFS_SUPER_MAGIC)})`);
  }
  const checksum = bytes.u32(at + 4, 'superblock checksum');
  const featureCompat = bytes.u32(at + 8, 'feature_compat');
  const blockSizeBits = bytes.u8(at + 12, 'blkszbits');
  if (blockSizeBits < EROFS_MIN_BLKSZBITS || blockSizeBits > EROFS_MAX_BLKSZBITS) {
    bytes.fail(at + 12, `block size bits ${blockSizeBits} out of range ${EROFS_MIN_BLKSZBITS}..${EROFS_MAX_BLKSZBITS}`);
  }
  const blockSize = 2 ** blockSizeBits;
  const extSlots = bytes.u8(at + 13, 'sb_extslots');
  bytes.need(at, EROFS_SUPER_SIZE + extSlots * EROFS_SB_EXTSLOT_SIZE, `superblock with ${extSlots} extension slots`);
  const featureIncompat = bytes.u32(at + 80, 'feature_incompat');
  if ((featureIncompat & ~INCOMPAT_SUPPORTED) !== 0) {
    bytes.fail(at + 80, `unsupported EROFS incompatible features ${hex(featureIncompat)} (${featureNames(featureIncompat & ~INCOMPAT_SUPPORTED)})`);
  }
  const rootNid = bytes.u16(at + 14, 'root_nid');
  const inodeCount = bytes.u64(at + 16, 'inos');
  const buildTime = bytes.u64(at + 24, 'build_time');
  const buildTimeNsec = bytes.u32(at + 32, 'build_time_nsec');
  const blocks = bytes.u32(at + 36, 'blocks');
  const metaBlockAddr = bytes.u32(at + 40, 'meta_blkaddr');
  const xattrBlockAddr = bytes.u32(at + 44, 'xattr_blkaddr');
  const uuid = bytes.slice(at + 48, 16, 'uuid');
  const volumeName = bytes.slice(at + 64, 16, 'volume_name');
  const xattrPrefixCount = bytes.u8(at + 91, 'xattr_prefix_count');
  const xattrPrefixStart = bytes.u32(at + 92, 'xattr_prefix_start');
  const packedNid = bytes.u64(at + 96, 'packed_nid');

  const metaOffset = metaBlockAddr * blockSize;
  if (metaOffset >= bytes.length) {
    bytes.fail(at + 40, `inode metadata start block ${metaBlockAddr} is beyond the end of the image`);
  }
  // The shared-xattr area may be empty and then start right at the end of the image.
  const xattrOffset = xattrBlockAddr * blockSize;
  if (xattrOffset > bytes.length) {
    bytes.fail(at + 44, `shared xattr start block ${xattrBlockAddr} is beyond the end of the image`);
  }
  return {
    checksum, featureCompat, featureIncompat, blockSizeBits, blockSize, extSlots, rootNid, inodeCount,
    buildTime, buildTimeNsec, blocks, metaBlockAddr, xattrBlockAddr, uuid, volumeName, xattrPrefixCount,
    xattrPrefixStart, packedNid, metaOffset, xattrOffset,
  };
}
