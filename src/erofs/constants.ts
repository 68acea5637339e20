/**
 * EROFS and composefs on-disk constants (docs/FORMATS.md §4.7 composefs framing, §5 EROFS).
 * Each value cites where it comes from; nothing here is computed.
 */

// --- composefs header (docs/FORMATS.md §4.7; composefs libcomposefs/lcfs-erofs.h) ---
export const COMPOSEFS_MAGIC = 0xd078629a;
/** LCFS_EROFS_VERSION: the only header version composefs' own reader accepts. */
export const COMPOSEFS_HEADER_VERSION = 1;
export const COMPOSEFS_HEADER_SIZE = 32;
/** LCFS_EROFS_FLAGS_HAS_ACL: set when any system.posix_acl_* xattr is present. */
export const COMPOSEFS_FLAG_HAS_ACL = 0x1;

// --- superblock (docs/FORMATS.md §5.1; erofs_fs.h struct erofs_super_block) ---
export const EROFS_SUPER_OFFSET = 1024;
export const EROFS_SUPER_MAGIC = 0xe0f5e1e2;
export const EROFS_SUPER_SIZE = 128;
/** Each `sb_extslots` unit adds 16 bytes to the superblock. */
export const EROFS_SB_EXTSLOT_SIZE = 16;
/** erofs-utils lib/super.c accepts 9 <= blkszbits; 64 KiB is the largest block any tool writes. */
export const EROFS_MIN_BLKSZBITS = 9;
export const EROFS_MAX_BLKSZBITS = 16;

/** feature_compat bits (erofs-utils 1.9.3 include/erofs_fs.h). Compat bits never stop a reader. */
export const COMPAT_SB_CHKSUM = 0x1;
export const COMPAT_MTIME = 0x2;
export const COMPAT_XATTR_FILTER = 0x4;

/** feature_incompat bits (erofs-utils 1.9.3 include/erofs_fs.h). */
export const INCOMPAT_ZERO_PADDING = 0x1;
export const INCOMPAT_COMPR_CFGS = 0x2;
export const INCOMPAT_CHUNKED_FILE = 0x4;
export const INCOMPAT_DEVICE_TABLE = 0x8;
export const INCOMPAT_ZTAILPACKING = 0x10;
export const INCOMPAT_FRAGMENTS = 0x20;
export const INCOMPAT_XATTR_PREFIXES = 0x40;
export const INCOMPAT_48BIT = 0x80;
export const INCOMPAT_METABOX = 0x100;
/**
 * What this reader implements. ZERO_PADDING only changes compressed data, and compressed inodes
 * are refused one by one, so an image that merely carries the bit is still readable.
 */
export const INCOMPAT_SUPPORTED = INCOMPAT_ZERO_PADDING | INCOMPAT_CHUNKED_FILE | INCOMPAT_XATTR_PREFIXES;
export const INCOMPAT_NAMES: ReadonlyArray<readonly [number, string]> = [
  [INCOMPAT_ZERO_PADDING, 'zero_padding'],
  [INCOMPAT_COMPR_CFGS, 'compr_cfgs'],
  [INCOMPAT_CHUNKED_FILE, 'chunked_file'],
  [INCOMPAT_DEVICE_TABLE, 'device_table'],
  [INCOMPAT_ZTAILPACKING, 'ztailpacking'],
  [INCOMPAT_FRAGMENTS, 'fragments'],
  [INCOMPAT_XATTR_PREFIXES, 'xattr_prefixes'],
  [INCOMPAT_48BIT, '48bit'],
  [INCOMPAT_METABOX, 'metabox'],
];

// --- inodes (docs/FORMATS.md §5.2, §5.3) ---
/** EROFS_ISLOTBITS: nids count 32-byte slots from meta_blkaddr. */
export const EROFS_ISLOT_BITS = 5;
export const EROFS_INODE_COMPACT_SIZE = 32;
export const EROFS_INODE_EXTENDED_SIZE = 64;
/** i_format bit 0 = version, bits 1..3 = data layout; bit 4 and up belong to newer formats (48-bit). */
export const I_FORMAT_VERSION_MASK = 0x1;
export const I_FORMAT_LAYOUT_SHIFT = 1;
export const I_FORMAT_LAYOUT_MASK = 0x7;
export const I_FORMAT_KNOWN_BITS = 0xf;

/** Data layouts (EROFS_INODE_*). */
export const LAYOUT_FLAT_PLAIN = 0;
export const LAYOUT_COMPRESSED_FULL = 1;
export const LAYOUT_FLAT_INLINE = 2;
export const LAYOUT_COMPRESSED_COMPACT = 3;
export const LAYOUT_CHUNK_BASED = 4;
export const LAYOUT_NAMES = ['flat-plain', 'compressed-full', 'flat-inline', 'compressed-compact', 'chunk-based'] as const;

/** Chunk format (i_u.c.format) bits (docs/FORMATS.md §5.6). */
export const CHUNK_FORMAT_BLKBITS_MASK = 0x1f;
export const CHUNK_FORMAT_INDEXES = 0x20;
export const CHUNK_FORMAT_48BIT = 0x40;
/** EROFS_NULL_ADDR: a chunk with this block address is a hole that reads as zeros. */
export const EROFS_NULL_ADDR = 0xffffffff;
/** Sizes of one chunk-table entry: plain __le32 block address, or struct erofs_inode_chunk_index. */
export const CHUNK_ADDR_SIZE = 4;
export const CHUNK_INDEX_SIZE = 8;

// --- POSIX file types in i_mode (linux/stat.h) ---
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

// --- xattrs (docs/FORMATS.md §5.4) ---
/** sizeof(struct erofs_xattr_ibody_header). */
export const XATTR_IBODY_HEADER_SIZE = 12;
/** sizeof(struct erofs_xattr_entry) before the name; entries are padded to EROFS_XATTR_ALIGN. */
export const XATTR_ENTRY_HEADER_SIZE = 4;
export const XATTR_ALIGN = 4;
/** e_name_index bit 7: the low 7 bits index the long-prefix table. */
export const XATTR_LONG_PREFIX_BIT = 0x80;
export const XATTR_LONG_PREFIX_MASK = 0x7f;
/**
 * Short name-index prefixes. Index 0 stores the full name (how composefs writes names without a
 * known prefix); 2 and 3 are whole names with an empty suffix; 5 (lustre.) is not wired up in the
 * kernel but is part of the format.
 */
export const XATTR_PREFIXES: readonly string[] = [
  '',
  'user.',
  'system.posix_acl_access',
  'system.posix_acl_default',
  'trusted.',
  'lustre.',
  'security.',
];

// --- directories (docs/FORMATS.md §5.5) ---
/** sizeof(struct erofs_dirent): __le64 nid, __le16 nameoff, u8 file_type, u8 reserved. */
export const EROFS_DIRENT_SIZE = 12;
/** EROFS_NAME_LEN. */
export const EROFS_NAME_LEN = 255;

/** PATH_MAX: composefs refuses symlink targets and payloads this long. */
export const PATH_MAX = 4096;

/**
 * LCFS_INLINE_CONTENT_MAX: composefs' reader keeps the data of a flat regular file as inline
 * content only up to this size (lcfs_node_set_content refuses more and the reader ignores that).
 */
export const COMPOSEFS_INLINE_CONTENT_MAX = 5000;
