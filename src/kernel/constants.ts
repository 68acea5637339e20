/**
 * fs-verity ioctl request numbers, struct sizes and flag bits (Linux, x86_64 / arm64 LP64).
 *
 * Spec: docs/FORMATS.md §2.1 (values computed against the host's `<linux/fsverity.h>` /
 * `<linux/fs.h>`, identical to fsverity-utils `common/fsverity_uapi.h`) and §2.2 (layouts).
 * The request numbers encode the argument size (`_IOW/_IOWR`), so they only hold where the
 * structs have the sizes below; test/kernel-structs.test.ts re-derives them with `ioc()`.
 */

/** `_IOC()` from `<asm-generic/ioctl.h>`: dir:2 | size:14 | type:8 | nr:8 (x86_64, arm64). */
export const IOC_WRITE = 1;
export const IOC_READ = 2;
export function ioc(dir: number, type: string, nr: number, size: number): number {
  if (size < 0 || size >= 1 << 14) throw new RangeError(`ioctl argument size out of range: ${size}`);
  // >>> 0: the top bit is set for _IOR/_IOWR, keep it an unsigned 32-bit number.
  return ((dir << 30) | (size << 16) | (type.charCodeAt(0) << 8) | nr) >>> 0;
}

/** `_IOW('f', 133, struct fsverity_enable_arg)` (§2.1). */
export const FS_IOC_ENABLE_VERITY = 0x40806685;
/** `_IOWR('f', 134, struct fsverity_digest)` (§2.1; header size 4). */
export const FS_IOC_MEASURE_VERITY = 0xc0046686;
/** `_IOWR('f', 135, struct fsverity_read_metadata_arg)` (§2.1). */
export const FS_IOC_READ_VERITY_METADATA = 0xc0286687;
/** `_IOR('f', 1, long)` (§2.1): the kernel writes only 32 bits. */
export const FS_IOC_GETFLAGS = 0x80086601;

/** `sizeof(struct fsverity_enable_arg)` (§2.2). */
export const ENABLE_ARG_SIZE = 128;
/** `sizeof(struct fsverity_digest)` without the flexible `digest[]` (§2.2). */
export const DIGEST_HEADER_SIZE = 4;
/** Digest capacity we offer FS_IOC_MEASURE_VERITY: the largest digest (SHA-512), so no EOVERFLOW. */
export const MAX_DIGEST_SIZE = 64;
/** `sizeof(struct fsverity_read_metadata_arg)` (§2.2). */
export const READ_METADATA_ARG_SIZE = 40;

/** `fsverity_enable_arg.version` must be 1 (§2.2). */
export const ENABLE_ARG_VERSION = 1;
/** `sizeof(fsverity_descriptor.salt)`: larger salts give EMSGSIZE (§2.2, §2.3). */
export const MAX_SALT_SIZE = 32;
/** FS_VERITY_MAX_DESCRIPTOR_SIZE (16384) − sizeof(struct fsverity_descriptor) (256) (§2.2). */
export const MAX_SIGNATURE_SIZE = 16128;

/** `fsverity_read_metadata_arg.metadata_type` values (§2.2). */
export const FS_VERITY_METADATA_TYPE_MERKLE_TREE = 1;
export const FS_VERITY_METADATA_TYPE_DESCRIPTOR = 2;
export const FS_VERITY_METADATA_TYPE_SIGNATURE = 3;

/** Inode flag reported by FS_IOC_GETFLAGS (§2.1, §2.5). */
export const FS_VERITY_FL = 0x00100000;
/** `statx.stx_attributes` bit (§2.1, §2.5; Linux ≥ 5.5). */
export const STATX_ATTR_VERITY = 0x00100000;

/** `<linux/stat.h>`: offsets inside `struct statx` (256 bytes) that we read. */
export const STATX_SIZE = 256;
export const STATX_OFF_MASK = 0; // __u32 stx_mask
export const STATX_OFF_ATTRIBUTES = 8; // __u64 stx_attributes
export const STATX_OFF_MODE = 28; // __u16 stx_mode
export const STATX_OFF_SIZE = 40; // __u64 stx_size
export const STATX_OFF_ATTRIBUTES_MASK = 56; // __u64 stx_attributes_mask
/** `<linux/stat.h>` / `<fcntl.h>`: request the basic stats; do not follow a final symlink. */
export const STATX_BASIC_STATS = 0x7ff;
export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
