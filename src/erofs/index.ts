/**
 * EROFS image reader (docs/FORMATS.md §4.7, §5): `openErofs` gives the raw filesystem; the
 * composefs view of an image (what composefs-info prints, §5.8) is src/composefs/image.ts.
 */
export { openErofs, ErofsImage, MAX_IMAGE_BYTES } from './image.js';
export type { ErofsEntry, ErofsOptions } from './image.js';
export { decodeDev } from './inode.js';
export type { ErofsInode, FileType, ChunkTable, DataLayout } from './inode.js';
export type { RawXattr } from './xattr.js';
export type { Dirent } from './dir.js';
export type { Superblock } from './superblock.js';
export type { ComposefsHeader } from './header.js';
export type { LongPrefix } from './prefixes.js';
