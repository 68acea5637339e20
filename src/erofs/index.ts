/**
 * EROFS / composefs image reader (docs/FORMATS.md §4.7, §5). `openImage` gives the composefs view
 * composefs-info prints (§5.8); `openErofs` the raw filesystem.
 */
export { openImage, readImage, ComposefsImage, collectPayloads, nodeType, uniqueSorted } from './composefs.js';
export type { ComposefsNode, ComposefsXattr, ComposefsOptions, ImageEntry } from './composefs.js';
export { openErofs, ErofsImage, MAX_IMAGE_BYTES } from './image.js';
export type { ErofsEntry, ErofsOptions } from './image.js';
export { decodeDev } from './inode.js';
export type { ErofsInode, FileType, ChunkTable, DataLayout } from './inode.js';
export type { RawXattr } from './xattr.js';
export type { Dirent } from './dir.js';
export type { Superblock } from './superblock.js';
export type { ComposefsHeader } from './header.js';
export type { LongPrefix } from './prefixes.js';
