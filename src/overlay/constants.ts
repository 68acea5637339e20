/**
 * Numbers and names overlayfs uses for verity and redirects, each with where it comes from.
 *
 * Spec: docs/FORMATS.md §3.2 (xattr names and prefixes), §3.3 (`struct ovl_metacopy`), §3.4
 * (redirects), §3.6 (legacy `overlay.verity`); kernel fs/overlayfs/overlayfs.h.
 */

/** `sizeof(struct ovl_metacopy)` minus the digest: version, len, flags, digest_algo. */
export const OVL_METACOPY_MIN_SIZE = 4;
/** `FS_VERITY_MAX_DIGEST_SIZE` (SHA-512). */
export const FS_VERITY_MAX_DIGEST_SIZE = 64;
/** `OVL_METACOPY_MAX_SIZE = sizeof(struct ovl_metacopy)`: the kernel reads at most this much. */
export const OVL_METACOPY_MAX_SIZE = OVL_METACOPY_MIN_SIZE + FS_VERITY_MAX_DIGEST_SIZE;
/** The only `ovl_metacopy.version` the kernel accepts. */
export const OVL_METACOPY_VERSION = 0;

/** `FS_VERITY_HASH_ALG_*` (include/uapi/linux/fsverity.h) → digest size in bytes. */
export const FS_VERITY_HASH_ALG_SHA256 = 1;
export const FS_VERITY_HASH_ALG_SHA512 = 2;
export const VERITY_ALGS: ReadonlyMap<number, { readonly name: 'sha256' | 'sha512'; readonly digestSize: number }> = new Map([
  [FS_VERITY_HASH_ALG_SHA256, { name: 'sha256', digestSize: 32 }],
  [FS_VERITY_HASH_ALG_SHA512, { name: 'sha512', digestSize: 64 }],
] as const);

/** Merkle block size composefs enables objects with (`lcfs_fd_enable_fsverity`, docs/FORMATS.md §4.1). */
export const COMPOSEFS_VERITY_BLOCK_SIZE = 4096;

/** `include/uapi/linux/limits.h` PATH_MAX: `getname_kernel` refuses a redirect this long (ENAMETOOLONG). */
export const PATH_MAX = 4096;
/** NAME_MAX: longest path component ext4/erofs/xfs accept (ENAMETOOLONG beyond). */
export const NAME_MAX = 255;

/** `OVL_XATTR_TRUSTED_PREFIX` / `OVL_XATTR_USER_PREFIX` (overlayfs.h). */
export const XATTR_PREFIXES = { trusted: 'trusted.overlay.', user: 'user.overlay.' } as const;
export type XattrPrefixName = keyof typeof XATTR_PREFIXES;

/** Postfixes used here (`ovl_xattr_table`). */
export const POSTFIX_METACOPY = 'metacopy';
export const POSTFIX_REDIRECT = 'redirect';
export const POSTFIX_OPAQUE = 'opaque';
/** Never merged; written by composefs v0.1 … v0.1.3 (docs/FORMATS.md §3.6). */
export const POSTFIX_LEGACY_VERITY = 'verity';
/** An escaped xattr inserts one more `overlay.` (docs/FORMATS.md §3.7). */
export const ESCAPE_INFIX = 'overlay.';
