/**
 * The 32-byte composefs header in front of the EROFS superblock (docs/FORMATS.md §4.7,
 * composefs libcomposefs/lcfs-erofs.h `struct lcfs_erofs_header_s`; §5.8 step 1).
 */
import type { ImageBytes } from './bytes.js';
import { hex } from './bytes.js';
import { COMPOSEFS_FLAG_HAS_ACL, COMPOSEFS_HEADER_SIZE, COMPOSEFS_HEADER_VERSION, COMPOSEFS_MAGIC } from './constants.js';

export interface ComposefsHeader {
  readonly magic: number;
  /** Header version, always 1 (LCFS_EROFS_VERSION). */
  readonly version: number;
  readonly flags: number;
  /** Set when the image carries POSIX ACL xattrs (mount.composefs then omits `noacl`). */
  readonly hasAcl: boolean;
  /** Image format version: 0 initial, 1 = whiteouts with the `opaque=x` parent marker. */
  readonly composefsVersion: number;
}

/**
 * The composefs header, or null when bytes 0..3 are not the composefs magic (a plain EROFS
 * image). A composefs magic with another header version is refused, as composefs itself does.
 */
export function readComposefsHeader(bytes: ImageBytes): ComposefsHeader | null {
  if (!bytes.contains(0, COMPOSEFS_HEADER_SIZE)) return null;
  const magic = bytes.u32(0, 'composefs header magic');
  if (magic !== COMPOSEFS_MAGIC) return null;
  const version = bytes.u32(4, 'composefs header version');
  if (version !== COMPOSEFS_HEADER_VERSION) {
    bytes.fail(4, `unsupported composefs header version ${version} (expected ${COMPOSEFS_HEADER_VERSION})`);
  }
  const flags = bytes.u32(8, 'composefs header flags');
  const composefsVersion = bytes.u32(12, 'composefs format version');
  return { magic, version, flags, hasAcl: (flags & COMPOSEFS_FLAG_HAS_ACL) !== 0, composefsVersion };
}

/** For messages: what the first four bytes were. */
export function describeMagic(bytes: ImageBytes, offset: number): string {
  return bytes.contains(offset, 4) ? hex(bytes.u32(offset, 'magic')) : 'missing';
}
