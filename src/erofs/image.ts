/**
 * A whole EROFS image in memory, with or without the composefs header (docs/FORMATS.md §4.7, §5):
 * the raw filesystem view — inodes by nid, xattrs as stored, directory entries in on-disk order
 * (`.` and `..` included), file data, and a raw walk. Everything is bounds-checked; malformed
 * images fail with `image-invalid`. Directory walks refuse loops and directories reachable by
 * two paths, and stop at a budget of directory entries no valid image can exceed.
 */
import { readFile, stat } from 'node:fs/promises';
import { imageInvalid, notRegularFile } from '../report/errors.js';
import { fromSystemError } from '../report/errno.js';
import { ImageBytes, asciiBytes, bytesEqual, concatBytes, decodeName } from './bytes.js';
import { EROFS_DIRENT_SIZE } from './constants.js';
import { readData, mapPosition } from './data.js';
import type { Dirent } from './dir.js';
import { parseDirBlock } from './dir.js';
import type { ComposefsHeader } from './header.js';
import { readComposefsHeader } from './header.js';
import type { ErofsInode } from './inode.js';
import { readInode } from './inode.js';
import type { LongPrefix } from './prefixes.js';
import { readLongPrefixes } from './prefixes.js';
import type { Superblock } from './superblock.js';
import { readSuperblock } from './superblock.js';
import type { RawXattr } from './xattr.js';
import { readInodeXattrs } from './xattr.js';

/** Images are read whole; anything larger is not a metadata image. */
export const MAX_IMAGE_BYTES = 1024 * 1024 * 1024;

export interface ErofsEntry {
  /** Absolute path for display ("/" for the root). */
  readonly path: string;
  readonly rawPath: Uint8Array;
  readonly inode: ErofsInode;
  /** The dirent that led here (null for the root). */
  readonly dirent: Dirent | null;
}

const DOT = asciiBytes('.');
const DOTDOT = asciiBytes('..');
const SLASH = asciiBytes('/');

export function isDotOrDotDot(name: Uint8Array): boolean {
  return bytesEqual(name, DOT) || bytesEqual(name, DOTDOT);
}

/** Joins a parent's raw path and a name ("/" + name under the root). */
export function joinPath(parent: Uint8Array, name: Uint8Array): Uint8Array {
  return parent.length === 1 && parent[0] === 0x2f ? concatBytes(SLASH, name) : concatBytes(parent, SLASH, name);
}

/** Splits a lookup path into raw components (empty components and "." dropped). */
export function splitPath(path: string | Uint8Array): Uint8Array[] {
  const raw = typeof path === 'string' ? new TextEncoder().encode(path) : path;
  const parts: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i <= raw.length; i++) {
    if (i === raw.length || raw[i] === 0x2f) {
      const part = raw.subarray(start, i);
      if (part.length > 0 && !bytesEqual(part, DOT)) parts.push(part);
      start = i + 1;
    }
  }
  return parts;
}

export class ErofsImage {
  readonly path: string;
  readonly bytes: ImageBytes;
  /** The composefs header, or null for a plain EROFS image. */
  readonly header: ComposefsHeader | null;
  readonly superblock: Superblock;
  private readonly inodes = new Map<number, ErofsInode>();
  private readonly xattrCache = new Map<number, readonly RawXattr[]>();
  private readonly dirCache = new Map<number, readonly Dirent[]>();
  private prefixTable: readonly LongPrefix[] | undefined;
  /** Keep parsed inodes, xattrs and listings (random access); a single streamed walk needs none. */
  private readonly cacheEntries: boolean;
  /**
   * Without the caches: inodes met once so far. One met again (hard links, or a hostile image
   * pointing many dirents at one inode with large xattrs) is cached from then on, so no inode is
   * ever parsed more than twice.
   */
  private readonly metOnce = new Set<number>();

  constructor(data: Uint8Array, path: string, options: ErofsOptions = {}) {
    this.path = path;
    this.cacheEntries = options.cacheEntries ?? true;
    this.bytes = new ImageBytes(data, path);
    // The EROFS magic is checked first so that a random file reads "not an EROFS image".
    this.superblock = readSuperblock(this.bytes);
    this.header = readComposefsHeader(this.bytes);
  }

  get rootNid(): number {
    return this.superblock.rootNid;
  }

  #keep(nid: number): boolean {
    if (this.cacheEntries || this.metOnce.has(nid)) return true;
    this.metOnce.add(nid);
    return false;
  }

  /** The root directory inode. */
  root(): ErofsInode {
    const root = this.inode(this.superblock.rootNid);
    if (root.type !== 'directory') this.bytes.fail(root.offset, `root inode ${root.nid} is not a directory`);
    return root;
  }

  inode(nid: number): ErofsInode {
    let inode = this.inodes.get(nid);
    if (inode === undefined) {
      inode = readInode(this.bytes, this.superblock, nid);
      if (this.#keep(nid)) this.inodes.set(nid, inode);
    }
    return inode;
  }

  /** The long xattr name-prefix table (empty unless the image uses long prefixes). */
  longPrefixes(): readonly LongPrefix[] {
    if (this.prefixTable === undefined) {
      const sb = this.superblock;
      if (sb.xattrPrefixCount === 0) {
        this.prefixTable = [];
      } else if (sb.packedNid !== 0n) {
        if (sb.packedNid > BigInt(Number.MAX_SAFE_INTEGER)) this.bytes.fail(1024 + 96, 'absurd packed_nid');
        const packed = this.inode(Number(sb.packedNid));
        this.prefixTable = readLongPrefixes(this.bytes, sb.xattrPrefixCount, sb.xattrPrefixStart,
          (offset, length) => {
            if (offset + length > packed.size) this.bytes.fail(packed.offset, 'long xattr prefix table extends beyond the packed inode');
            return readData(this.bytes, sb, packed, offset, length);
          }, packed.offset);
      } else {
        this.prefixTable = readLongPrefixes(this.bytes, sb.xattrPrefixCount, sb.xattrPrefixStart,
          (offset, length, what) => this.bytes.slice(offset, length, what), 0);
      }
    }
    return this.prefixTable;
  }

  /** The inode's xattrs as stored: inline first, then shared; escaped overlay names unchanged. */
  xattrs(inode: ErofsInode): readonly RawXattr[] {
    let list = this.xattrCache.get(inode.nid);
    if (list === undefined) {
      list = readInodeXattrs(this.bytes, this.superblock, inode, inode.xattrCount > 0 ? this.longPrefixes() : []);
      // Cached with the inode: its second parse (see metOnce) is the last.
      if (this.cacheEntries || this.inodes.has(inode.nid)) this.xattrCache.set(inode.nid, list);
    }
    return list;
  }

  /** First xattr with exactly this name (the kernel's getxattr answer), or undefined. */
  getXattr(inode: ErofsInode, name: string | Uint8Array): Uint8Array | undefined {
    const want = typeof name === 'string' ? new TextEncoder().encode(name) : name;
    return this.xattrs(inode).find((x) => bytesEqual(x.rawName, want))?.value;
  }

  /** File data [start, start+length), holes as zeros. */
  readData(inode: ErofsInode, start = 0, length = inode.size - start): Uint8Array {
    return readData(this.bytes, this.superblock, inode, start, length);
  }

  /** A symlink's target bytes (inline or in a data block). */
  symlinkTarget(inode: ErofsInode): Uint8Array {
    if (inode.type !== 'symlink') this.bytes.fail(inode.offset, `inode ${inode.nid} is not a symlink`);
    return this.readData(inode);
  }

  /** All dirents of a directory in on-disk order, `.` and `..` included. */
  readdir(inode: ErofsInode): readonly Dirent[] {
    if (inode.type !== 'directory') this.bytes.fail(inode.offset, `inode ${inode.nid} is not a directory`);
    let list = this.dirCache.get(inode.nid);
    if (list === undefined) {
      const blk = this.superblock.blockSize;
      const out: Dirent[] = [];
      for (let pos = 0; pos < inode.size; pos += blk) {
        const length = Math.min(blk, inode.size - pos);
        const block = this.readData(inode, pos, length);
        const where = mapPosition(this.bytes, this.superblock, inode, pos).imageOffset ?? inode.offset;
        for (const d of parseDirBlock(this.bytes, block, where, inode.nid)) out.push(d);
      }
      list = out;
      if (this.cacheEntries) this.dirCache.set(inode.nid, list);
    }
    return list;
  }

  /** Raw lookup of an absolute path (no symlinks followed; `..` follows the stored dirent). */
  lookup(path: string | Uint8Array): ErofsInode | undefined {
    let inode = this.root();
    for (const part of splitPath(path)) {
      if (inode.type !== 'directory') return undefined;
      const hit = this.readdir(inode).find((d) => bytesEqual(d.name, part));
      if (hit === undefined) return undefined;
      inode = this.inode(hit.nid);
    }
    return inode;
  }

  /**
   * Pre-order walk of the raw tree in dirent order, without `.`/`..`. Every path is yielded,
   * so a hard-linked inode appears once per name. Fails on a directory loop or a directory
   * reachable by two paths.
   */
  *walk(): Generator<ErofsEntry> {
    const root = this.root();
    const guard = new DirectoryGuard(this);
    guard.enter(root, null);
    yield { path: '/', rawPath: SLASH, inode: root, dirent: null };
    const stack: { dir: ErofsInode; path: Uint8Array; entries: readonly Dirent[]; next: number }[] = [
      { dir: root, path: SLASH, entries: this.readdir(root), next: 0 },
    ];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.next >= top.entries.length) {
        guard.leave(top.dir);
        stack.pop();
        continue;
      }
      const d = top.entries[top.next++]!;
      if (isDotOrDotDot(d.name)) continue;
      guard.count(d);
      const inode = this.inode(d.nid);
      const rawPath = joinPath(top.path, d.name);
      if (inode.type === 'directory') guard.enter(inode, d);
      yield { path: decodeName(rawPath), rawPath, inode, dirent: d };
      if (inode.type === 'directory') stack.push({ dir: inode, path: rawPath, entries: this.readdir(inode), next: 0 });
    }
  }
}

/**
 * Keeps tree walks finite: a directory may be entered once, never while it is its own
 * ancestor, and the number of dirents visited may not exceed what the image could store
 * (each dirent takes at least 13 bytes of directory data), which stops images whose
 * directories share data blocks from multiplying work.
 */
export class DirectoryGuard {
  private readonly onPath = new Set<number>();
  private readonly entered = new Set<number>();
  private visited = 0;
  private readonly budget: number;

  constructor(private readonly image: ErofsImage) {
    this.budget = Math.ceil(image.bytes.length / (EROFS_DIRENT_SIZE + 1)) + 16;
  }

  enter(dir: ErofsInode, via: Dirent | null): void {
    const at = via?.offset ?? dir.offset;
    if (this.onPath.has(dir.nid)) throw imageInvalid(this.image.path, at, `directory loop: directory inode ${dir.nid} contains itself`);
    if (this.entered.has(dir.nid)) throw imageInvalid(this.image.path, at, `directory inode ${dir.nid} is reachable by two paths (directory hard link)`);
    this.onPath.add(dir.nid);
    this.entered.add(dir.nid);
  }

  leave(dir: ErofsInode): void {
    this.onPath.delete(dir.nid);
  }

  count(d: Dirent): void {
    if (++this.visited > this.budget) {
      throw imageInvalid(this.image.path, d.offset, `more directory entries than a ${this.image.bytes.length}-byte image can hold (directories share data?)`);
    }
  }
}

/** Reads a whole image file (regular files only, bounded) into memory. */
export async function readImageFile(path: string): Promise<Uint8Array> {
  try {
    const st = await stat(path);
    // Reading a device or FIFO whole could block or never end.
    if (!st.isFile()) throw notRegularFile(path, st.isDirectory() ? 'directory' : 'special file');
    if (st.size > MAX_IMAGE_BYTES) {
      throw imageInvalid(path, 0, `image is ${st.size} bytes, more than the ${MAX_IMAGE_BYTES} this reader loads`);
    }
    return await readFile(path);
  } catch (err) {
    throw fromSystemError(err, path, 'read');
  }
}

export interface ErofsOptions {
  /**
   * Keep every inode, xattr list and directory listing once parsed (default true). A single pass
   * over a large image (`walk()` feeding a check) is lighter without: what it has passed does not
   * stay on the heap (about 7% of a 5,000-object check-image run, in garbage collection).
   */
  readonly cacheEntries?: boolean;
}

export async function openErofs(path: string, options: ErofsOptions = {}): Promise<ErofsImage> {
  return new ErofsImage(await readImageFile(path), path, options);
}
