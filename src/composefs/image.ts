/**
 * The composefs view of an image (docs/FORMATS.md §5.8, §4.6), the tree composefs-info 1.0.8 prints:
 *
 * - `.`/`..` skipped; char devices 0/0 skipped wherever they appear (composefs' reader refuses
 *   them, which hides the synthetic root whiteouts `00`..`ff`);
 * - children sorted byte-wise by name; a duplicate name makes the image invalid;
 * - the first path reached depth-first in dirent order owns an inode, later paths become hard
 *   links to it; a directory reached twice is invalid (loop or directory hard link);
 * - xattrs processed in stored order (inline, then shared) exactly like composefs'
 *   `lcfs_build_node_erofs_xattr`: `trusted.overlay.redirect` on a regular file gives the
 *   payload (leading `/` removed), a 36-byte `trusted.overlay.metacopy` gives the digest,
 *   `trusted.overlay.overlay.whiteout` turns a regular file into a char 0/0 whiteout,
 *   `…overlay.whiteouts` and `user.overlay.whiteout(s)` are dropped, other `trusted.overlay.*`
 *   are dropped unless escaped (`trusted.overlay.overlay.X` → `trusted.overlay.X`);
 * - the remaining xattrs keep composefs' limits: names up to 255 bytes, 32767 bytes per inode;
 * - a flat regular file of 1..5000 bytes has inline content; symlinks have their target as
 *   payload (C-string semantics: cut at the first NUL).
 *
 * Where composefs-info has undefined behaviour or fails on an image the kernel accepts, this
 * view differs, deliberately: long xattr prefixes and symlinks stored in data blocks are read
 * (composefs-info refuses both); the redirect payload is cut at its stored length (composefs
 * reads one byte past it); malformed images fail with `image-invalid` instead of crashing.
 *
 * The raw inode and its stored xattrs stay reachable on every node (`inode`, `rawXattrs`), and
 * regular files expose `redirect` and `metacopy` as the kernel's getxattr would return them, for
 * the overlay validator.
 */
import { notComposefs } from '../report/errors.js';
import { asciiBytes, bytesEqual, compareBytes, concatBytes, decodeName, isAscii, startsWithAscii } from '../erofs/bytes.js';
import { COMPOSEFS_INLINE_CONTENT_MAX, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from '../erofs/constants.js';
import type { Dirent } from '../erofs/dir.js';
import type { ComposefsHeader } from '../erofs/header.js';
import { DirectoryGuard, ErofsImage, isDotOrDotDot, joinPath, readImageFile, splitPath } from '../erofs/image.js';
import type { ErofsInode } from '../erofs/inode.js';
import { isFlat } from '../erofs/inode.js';
import type { RawXattr } from '../erofs/xattr.js';

// Overlay xattr names composefs writes and interprets (docs/FORMATS.md §3.2, §3.7, §4.6).
const OVERLAY_PREFIX = 'trusted.overlay.';
const OVERLAY_ESCAPE_PREFIX = 'trusted.overlay.overlay.';
const TRUSTED_PREFIX = 'trusted.';
const XATTR_REDIRECT = 'trusted.overlay.redirect';
const XATTR_METACOPY = 'trusted.overlay.metacopy';
const XATTR_ESCAPED_WHITEOUT = 'trusted.overlay.overlay.whiteout';
const DROPPED_XATTRS = ['trusted.overlay.overlay.whiteouts', 'user.overlay.whiteout', 'user.overlay.whiteouts'];
/** 4-byte metacopy header + SHA-256 digest: the only metacopy composefs takes a digest from. */
const METACOPY_WITH_SHA256_SIZE = 36;
const METACOPY_HEADER_SIZE = 4;

export interface ComposefsXattr {
  /** Name as composefs shows it (unescaped); display form, use rawName for exact bytes. */
  readonly name: string;
  readonly rawName: Uint8Array;
  readonly value: Uint8Array;
}

export interface ComposefsNode {
  /** Raw name bytes (empty for the root). */
  readonly name: Uint8Array;
  readonly parent: ComposefsNode | null;
  readonly nid: number;
  /** The raw EROFS inode (shared with the hard-link target for a hard link). */
  readonly inode: ErofsInode;
  /** Set on the second and later paths of a hard-linked inode: the node that owns it. */
  readonly hardlinkTarget: ComposefsNode | null;
  /** st_mode after composefs' rewrite (a whiteout regular file becomes char 0/0). */
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly rdev: number;
  readonly mtime: { readonly sec: bigint; readonly nsec: number };
  /** Stored as an xwhiteout (regular file with trusted.overlay.overlay.whiteout). */
  readonly whiteout: boolean;
  /** Symlink target, or backing-object path `XX/YYYY…` of a regular file; null if none. */
  readonly payload: Uint8Array | null;
  /** Inline file content (flat regular files of 1..5000 bytes). */
  readonly content: Uint8Array | null;
  /** fs-verity digest from a 36-byte trusted.overlay.metacopy. */
  readonly digest: Uint8Array | null;
  /** xattrs as composefs shows them: unescaped, composefs-internal ones hidden. */
  readonly xattrs: readonly ComposefsXattr[];
  /** xattrs as stored in the image (escaped names included). */
  readonly rawXattrs: readonly RawXattr[];
  /** Regular files: the stored trusted.overlay.redirect value (first one, as getxattr sees it). */
  readonly redirect: string | null;
  readonly rawRedirect: Uint8Array | null;
  /** Regular files: the stored trusted.overlay.metacopy bytes. */
  readonly metacopy: Uint8Array | null;
  /** Children sorted by name (empty for non-directories and hard links). */
  readonly children: readonly ComposefsNode[];
  /** Where the dirent naming this node lies in the image (the inode offset for the root). */
  readonly direntOffset: number;
}

export interface ImageEntry {
  /** Absolute path for display ("/" for the root); use rawPath for exact bytes. */
  readonly path: string;
  readonly rawPath: Uint8Array;
  readonly node: ComposefsNode;
  readonly inode: ErofsInode;
}

export interface ComposefsOptions {
  /** Refuse an EROFS image without the composefs header (`not-composefs`). Default false. */
  readonly requireComposefs?: boolean;
  /** Load only these top-level names (composefs-info --filter). */
  readonly filter?: readonly string[];
}

type MutableNode = { -readonly [K in keyof ComposefsNode]: ComposefsNode[K] } & { children: ComposefsNode[] };

/** C-string view: the bytes before the first NUL (composefs stores payloads with strdup). */
function cString(bytes: Uint8Array): Uint8Array {
  const nul = bytes.indexOf(0);
  return nul === -1 ? bytes : bytes.subarray(0, nul);
}

/** XATTR_NAME_MAX: composefs refuses longer names (lcfs_node_set_xattr, ERANGE). */
const XATTR_NAME_MAX = 255;
/**
 * LCFS_INODE_EXTERNAL_XATTR_MAX (UINT16_MAX / 2): composefs' budget for one inode's xattrs when
 * loading, counted as 2*4-1 + name + value per xattr plus a 12-byte header for the first.
 */
const INODE_XATTR_BUDGET = 32767;
const XATTR_ACCOUNT_ENTRY = 2 * 4 - 1;
const XATTR_ACCOUNT_HEADER = 12;

/**
 * composefs' lcfs_node_set_xattr: an existing name is removed (the last entry moves into its
 * slot), then the new one appended, within the per-inode budget. Returns the new budget use.
 */
function setXattr(image: ErofsImage, inode: ErofsInode, list: ComposefsXattr[], used: number, x: ComposefsXattr): number {
  if (x.rawName.length > XATTR_NAME_MAX) {
    image.bytes.fail(inode.offset, `inode ${inode.nid}: xattr name of ${x.rawName.length} bytes is longer than ${XATTR_NAME_MAX}`);
  }
  const i = list.findIndex((e) => bytesEqual(e.rawName, x.rawName));
  if (i >= 0) {
    const old = list[i]!;
    const last = list.pop()!;
    if (i < list.length) list[i] = last;
    used = list.length === 0 ? 0 : used - (XATTR_ACCOUNT_ENTRY + old.rawName.length + old.value.length);
  }
  used += XATTR_ACCOUNT_ENTRY + x.rawName.length + x.value.length + (list.length === 0 ? XATTR_ACCOUNT_HEADER : 0);
  if (used > INODE_XATTR_BUDGET) {
    image.bytes.fail(inode.offset, `inode ${inode.nid}: xattrs exceed composefs' per-inode limit of ${INODE_XATTR_BUDGET} bytes`);
  }
  list.push(x);
  return used;
}

function makeNode(image: ErofsImage, inode: ErofsInode, name: Uint8Array, parent: ComposefsNode | null, direntOffset: number): MutableNode {
  let mode = inode.mode;
  let size = inode.size;
  let rdev = inode.rdev;
  let payload: Uint8Array | null = null;
  let content: Uint8Array | null = null;
  let digest: Uint8Array | null = null;
  let whiteout = false;
  if (inode.type === 'symlink') {
    payload = cString(image.symlinkTarget(inode));
  } else if (inode.type === 'file' && size !== 0 && isFlat(inode) && size <= COMPOSEFS_INLINE_CONTENT_MAX) {
    content = image.readData(inode);
  }
  const rawXattrs = image.xattrs(inode);
  const xattrs: ComposefsXattr[] = [];
  let budget = 0;
  for (const x of rawXattrs) {
    const isReg = (mode & S_IFMT) === S_IFREG;
    if (isAscii(x.rawName, XATTR_REDIRECT)) {
      if (isReg) {
        const v = x.value.length > 1 && x.value[0] === 0x2f ? x.value.subarray(1) : x.value;
        payload = cString(v);
      }
      continue;
    }
    if (isAscii(x.rawName, XATTR_METACOPY)) {
      if (isReg && x.value.length === METACOPY_WITH_SHA256_SIZE) digest = x.value.slice(METACOPY_HEADER_SIZE);
      continue;
    }
    if (isReg && isAscii(x.rawName, XATTR_ESCAPED_WHITEOUT)) {
      mode = (mode & ~S_IFMT) | S_IFCHR;
      rdev = 0;
      size = 0;
      whiteout = true;
      continue;
    }
    if (DROPPED_XATTRS.some((n) => isAscii(x.rawName, n))) continue;
    let rawName = x.rawName;
    if (startsWithAscii(rawName, OVERLAY_PREFIX)) {
      if (!startsWithAscii(rawName, OVERLAY_ESCAPE_PREFIX)) continue;
      rawName = concatBytes(asciiBytes(TRUSTED_PREFIX), rawName.subarray(OVERLAY_PREFIX.length));
    }
    budget = setXattr(image, inode, xattrs, budget, { name: decodeName(rawName), rawName, value: x.value });
  }
  let rawRedirect: Uint8Array | null = null;
  let metacopy: Uint8Array | null = null;
  if (inode.type === 'file') {
    rawRedirect = rawXattrs.find((x) => isAscii(x.rawName, XATTR_REDIRECT))?.value ?? null;
    metacopy = rawXattrs.find((x) => isAscii(x.rawName, XATTR_METACOPY))?.value ?? null;
  }
  return {
    name, parent, nid: inode.nid, inode, hardlinkTarget: null, mode, nlink: inode.nlink, uid: inode.uid,
    gid: inode.gid, size, rdev, mtime: inode.mtime, whiteout, payload, content, digest, xattrs, rawXattrs,
    redirect: rawRedirect === null ? null : decodeName(rawRedirect), rawRedirect, metacopy, children: [], direntOffset,
  };
}

function makeHardlink(target: ComposefsNode, name: Uint8Array, parent: ComposefsNode, direntOffset: number): MutableNode {
  return { ...target, name, parent, hardlinkTarget: target, children: [], direntOffset };
}

/** Builds the composefs tree: depth-first in dirent order (which decides hard-link owners). */
function buildTree(image: ErofsImage, filter: readonly Uint8Array[] | undefined): ComposefsNode {
  const rootInode = image.root();
  const root = makeNode(image, rootInode, new Uint8Array(0), null, rootInode.offset);
  const owners = new Map<number, ComposefsNode>([[rootInode.nid, root]]);
  const guard = new DirectoryGuard(image);
  guard.enter(rootInode, null);
  const stack: { node: MutableNode; entries: readonly Dirent[]; next: number }[] = [
    { node: root, entries: image.readdir(rootInode), next: 0 },
  ];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next >= top.entries.length) {
      sortChildren(image, top.node);
      guard.leave(top.node.inode);
      stack.pop();
      continue;
    }
    const d = top.entries[top.next++]!;
    if (isDotOrDotDot(d.name)) continue;
    if (filter !== undefined && top.node === root && !filter.some((f) => bytesEqual(f, d.name))) continue;
    guard.count(d);
    const inode = image.inode(d.nid);
    if (inode.type === 'char-device' && inode.rdev === 0) continue;
    // A directory may be reached once: again while open is a loop, later a directory hard link.
    if (inode.type === 'directory') guard.enter(inode, d);
    const owner = owners.get(d.nid);
    if (owner !== undefined) {
      top.node.children.push(makeHardlink(owner, d.name, top.node, d.offset));
      continue;
    }
    const child = makeNode(image, inode, d.name, top.node, d.offset);
    owners.set(d.nid, child);
    top.node.children.push(child);
    if (inode.type === 'directory') stack.push({ node: child, entries: image.readdir(inode), next: 0 });
  }
  return root;
}

function sortChildren(image: ErofsImage, node: MutableNode): void {
  node.children.sort((a, b) => compareBytes(a.name, b.name));
  for (let i = 1; i < node.children.length; i++) {
    const c = node.children[i]!;
    if (bytesEqual(node.children[i - 1]!.name, c.name)) {
      image.bytes.fail(c.direntOffset, `duplicate name ${JSON.stringify(decodeName(c.name))} in directory inode ${node.nid}`);
    }
  }
}

export class ComposefsImage {
  readonly erofs: ErofsImage;
  readonly path: string;
  readonly header: ComposefsHeader | null;
  readonly root: ComposefsNode;

  constructor(erofs: ErofsImage, options: ComposefsOptions = {}) {
    this.erofs = erofs;
    this.path = erofs.path;
    this.header = erofs.header;
    if (options.requireComposefs === true && erofs.header === null) {
      throw notComposefs(erofs.path, 'EROFS image without a composefs header (not a composefs image)');
    }
    const filter = options.filter?.map((f) => new TextEncoder().encode(f));
    this.root = buildTree(erofs, filter);
  }

  /** The node at an absolute path, or undefined. Hard links resolve to their own node. */
  lookup(path: string | Uint8Array): ComposefsNode | undefined {
    let node: ComposefsNode = this.root;
    for (const part of splitPath(path)) {
      if (part.length === 2 && part[0] === 0x2e && part[1] === 0x2e) {
        node = node.parent ?? node;
        continue;
      }
      const next = node.children.find((c) => bytesEqual(c.name, part));
      if (next === undefined) return undefined;
      node = next;
    }
    return node;
  }

  readdir(node: ComposefsNode): readonly ComposefsNode[] {
    return node.children;
  }

  /** Pre-order, children sorted: composefs-info's order. The root comes first as "/". */
  *walk(): Generator<ImageEntry> {
    const stack: { node: ComposefsNode; path: Uint8Array }[] = [{ node: this.root, path: asciiBytes('/') }];
    while (stack.length > 0) {
      const { node, path } = stack.pop()!;
      yield { path: decodeName(path), rawPath: path, node, inode: node.inode };
      for (let i = node.children.length - 1; i >= 0; i--) {
        const child = node.children[i]!;
        stack.push({ node: child, path: joinPath(path, child.name) });
      }
    }
  }

  [Symbol.iterator](): Generator<ImageEntry> {
    return this.walk();
  }

  /** The same walk for `for await` consumers (the image is already in memory). */
  async *[Symbol.asyncIterator](): AsyncGenerator<ImageEntry> {
    yield* this.walk();
  }

  /** Sorted, de-duplicated backing-object payloads (`XX/YYYY…`) of the regular files. */
  objects(): Uint8Array[] {
    return uniqueSorted(collectPayloads(this.root));
  }
}

/** Payloads of regular files (hard links counted once, through their owner). */
export function collectPayloads(root: ComposefsNode): Uint8Array[] {
  const out: Uint8Array[] = [];
  const stack: ComposefsNode[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.hardlinkTarget === null && (node.mode & S_IFMT) === S_IFREG && node.payload !== null) out.push(node.payload);
    for (const c of node.children) stack.push(c);
  }
  return out;
}

export function uniqueSorted(items: Iterable<Uint8Array>): Uint8Array[] {
  const sorted = [...items].sort(compareBytes);
  return sorted.filter((p, i) => i === 0 || !bytesEqual(sorted[i - 1]!, p));
}

/** File-type test on a composefs node's (possibly rewritten) mode. */
export function nodeType(node: ComposefsNode): 'directory' | 'symlink' | 'file' | 'other' {
  switch (node.mode & S_IFMT) {
    case S_IFDIR: return 'directory';
    case S_IFLNK: return 'symlink';
    case S_IFREG: return 'file';
    default: return 'other';
  }
}

/** Parses an image held in memory into its composefs view. */
export function readImage(data: Uint8Array, path: string, options: ComposefsOptions = {}): ComposefsImage {
  return new ComposefsImage(new ErofsImage(data, path), options);
}

/** Opens an image file (read whole, bounded) and builds its composefs view. */
export async function openImage(path: string, options: ComposefsOptions = {}): Promise<ComposefsImage> {
  return readImage(await readImageFile(path), path, options);
}
