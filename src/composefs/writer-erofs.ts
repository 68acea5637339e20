/**
 * The composefs tree model and its EROFS serialisation, laid out byte for byte the way
 * mkcomposefs 1.0.8 (libcomposefs `lcfs_write_to` / `lcfs_write_erofs_to`) lays it out.
 *
 * Implements: docs/FORMATS.md §4.6 (the overlay xattrs, whiteouts and root entries composefs adds),
 * §4.7 (the 32-byte composefs header and the overall image framing), §5.1 (superblock), §5.3
 * (compact/extended inodes, the compact rule, i_ino numbering), §5.4 (xattr body, shared xattrs,
 * name filter), §5.5 (directory blocks), §5.6 (inline tails, chunk-based external files, fast
 * symlinks and the padding that keeps a tail inside one block).
 *
 * The steps, in upstream's order:
 *  1. pick the format version: min, raised to max (≤ 1) when a non-hard-link node is a whiteout
 *     (char 0/0);
 *  2. rewrite the tree in pre-order: escape `trusted.overlay.*` → `trusted.overlay.overlay.*`,
 *     add metacopy/redirect to external regular files, turn whiteouts into empty regular files
 *     marked with escaped/user whiteout xattrs (and `opaque=x` on the parent from version 1), and
 *     give every directory `.` and `..` hard-link entries; then `trusted.overlay.opaque=y` on the
 *     root and the char-0/0 entries `00`..`ff` the root does not already have;
 *  3. number the inodes breadth-first (children by byte order of their names, hard links
 *     skipped), fix directory nlink to 2 + subdirectories, sort each inode's xattrs by name and
 *     find the smallest mtime (the superblock build time, which compact inodes inherit);
 *  4. an xattr (name and value) used by more than one inode is shared: the shared area is sorted
 *     by name, then value length, then value, all descending; an inode refers to at most 128;
 *  5. place the inodes from byte 1152 on (32-byte slots, padding so that no inline tail crosses a
 *     block), the shared xattrs straight after them, then the data blocks from the next block
 *     boundary on (full directory blocks, inline-content blocks, long symlink targets).
 *
 * Nothing here does I/O: the builders in writer.ts fill a `CfsNode` tree; `serializeErofs`
 * consumes it (the tree is modified) and returns the image bytes.
 */
import { dumpInvalid, importUnsupported, invalidArgument, type VeritreeError } from '../report/errors.js';
import {
  COMPOSEFS_MAGIC,
  COMPOSEFS_HEADER_VERSION,
  COMPOSEFS_FLAG_HAS_ACL,
  EROFS_SUPER_OFFSET,
  EROFS_SUPER_SIZE,
  EROFS_SUPER_MAGIC,
  COMPAT_MTIME as EROFS_COMPAT_MTIME,
  COMPAT_XATTR_FILTER as EROFS_COMPAT_XATTR_FILTER,
  EROFS_INODE_COMPACT_SIZE as COMPACT_SIZE,
  EROFS_INODE_EXTENDED_SIZE as EXTENDED_SIZE,
  EROFS_DIRENT_SIZE as DIRENT_SIZE,
  XATTR_IBODY_HEADER_SIZE as XATTR_HEADER_SIZE,
  XATTR_ENTRY_HEADER_SIZE as XATTR_ENTRY_SIZE,
  CHUNK_FORMAT_BLKBITS_MASK as CHUNK_BLKBITS_MASK,
  EROFS_NULL_ADDR as NULL_ADDR,
  LAYOUT_FLAT_PLAIN,
  LAYOUT_FLAT_INLINE,
  LAYOUT_CHUNK_BASED,
  PATH_MAX,
  COMPOSEFS_INLINE_CONTENT_MAX as DUMP_INLINE_CONTENT_MAX,
  EROFS_NAME_LEN as NAME_MAX,
  S_IFMT,
  S_IFSOCK,
  S_IFLNK,
  S_IFREG,
  S_IFBLK,
  S_IFDIR,
  S_IFCHR,
  S_IFIFO,
} from '../erofs/constants.js';
import { INLINE_CONTENT_MAX } from './source.js';


export { INLINE_CONTENT_MAX };
export { S_IFMT, S_IFSOCK, S_IFLNK, S_IFREG, S_IFBLK, S_IFDIR, S_IFCHR, S_IFIFO, PATH_MAX, DUMP_INLINE_CONTENT_MAX, NAME_MAX };

// --- constants (docs/FORMATS.md §4.7, §5) ------------------------------------------------------

const BLKSZ_BITS = 12;
const BLKSZ = 1 << BLKSZ_BITS;
const SLOT = 32;
const XATTR_FILTER_SEED = 0x25bbe08f;
/** An inode refers to at most this many shared xattrs (EROFS_XATTR_LONG_PREFIX); the rest go inline. */
const MAX_SHARED_REFS = 0x80;
/** LCFS_MAX_NONINLINE_CHUNKS: an external file's chunk table must fit in one block. */
const MAX_NONINLINE_CHUNKS = 1024;


/** LCFS_VERSION_MAX. */
export const FORMAT_VERSION_MAX = 1;
/** LCFS_INLINE_CONTENT_MAX: the most inline content a dump line may carry. */
/** LCFS_MAX_NAME_LENGTH. */
/** XATTR_NAME_MAX. */
export const XATTR_NAME_MAX = 255;
/** PATH_MAX: payloads must be shorter. */
/** LCFS_INODE_EXTERNAL_XATTR_MAX and the accounting libcomposefs uses against it. */
const XATTR_BUDGET = 0xffff >> 1;
const XATTR_ACCOUNT_ENTRY = 2 * 4 - 1;

const OVERLAY_PREFIX = 'trusted.overlay.';
const OVERLAY_ESCAPED_PREFIX = 'trusted.overlay.overlay.';
const XATTR_METACOPY = 'trusted.overlay.metacopy';
const XATTR_REDIRECT = 'trusted.overlay.redirect';
const XATTR_OPAQUE = 'trusted.overlay.opaque';
const XATTR_ESCAPED_WHITEOUT = 'trusted.overlay.overlay.whiteout';
const XATTR_ESCAPED_WHITEOUTS = 'trusted.overlay.overlay.whiteouts';
const XATTR_ESCAPED_OPAQUE = 'trusted.overlay.overlay.opaque';
const XATTR_USER_WHITEOUT = 'user.overlay.whiteout';
const XATTR_USER_WHITEOUTS = 'user.overlay.whiteouts';
const XATTR_USER_OPAQUE = 'user.overlay.opaque';
const XATTR_SELINUX = 'security.selinux';
const ACL_ACCESS = 'system.posix_acl_access';
const ACL_DEFAULT = 'system.posix_acl_default';

/** Short name prefixes, in the order libcomposefs tries them (docs/FORMATS.md §5.4). */
const XATTR_INDEXES: ReadonlyArray<readonly [Buffer, number]> = [
  [Buffer.from('user.'), 1],
  [Buffer.from(ACL_ACCESS), 2],
  [Buffer.from(ACL_DEFAULT), 3],
  [Buffer.from('trusted.'), 4],
  [Buffer.from('security.'), 6],
];

// --- the tree model -----------------------------------------------------------------------------

export interface CfsXattr {
  key: Buffer;
  value: Buffer;
}

/** Where a node came from, for error messages: a dump line or a source path. */
export type NodeOrigin = { readonly line: number } | { readonly path: string } | null;

/** One inode of the tree to write (a hard link is a node with `linkTo` set and nothing else used). */
export interface CfsNode {
  name: Buffer | null;
  parent: CfsNode | null;
  /** st_mode, type bits included (u32). */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  /** Device number as libcomposefs keeps it: the low 32 bits of dev_t. */
  rdev: number;
  size: number;
  mtimeSec: bigint;
  mtimeNsec: number;
  /** Symlink target, or a regular file's backing path `XX/YYYY…`. */
  payload: Buffer | null;
  /** Inline data of a regular file (1..5000 bytes), else null. */
  content: Buffer | null;
  /** 32-byte fs-verity SHA-256 digest of a regular file. */
  digest: Uint8Array | null;
  xattrs: CfsXattr[];
  /** libcomposefs' running xattr size estimate, checked against LCFS_INODE_EXTERNAL_XATTR_MAX. */
  xattrBudget: number;
  /** Sorted by name (byte order). */
  children: CfsNode[];
  linkTo: CfsNode | null;
  origin: NodeOrigin;
}

export function newNode(mode: number, origin: NodeOrigin = null): CfsNode {
  return {
    name: null, parent: null, mode, uid: 0, gid: 0, nlink: 1, rdev: 0, size: 0,
    mtimeSec: 0n, mtimeNsec: 0, payload: null, content: null, digest: null,
    xattrs: [], xattrBudget: 0, children: [], linkTo: null, origin,
  };
}

export const fileType = (mode: number): number => mode & S_IFMT;
export const isDir = (n: CfsNode): boolean => fileType(n.mode) === S_IFDIR;

/** lcfs_validate_mode: one of the seven file types. */
export function validMode(mode: number): boolean {
  switch (fileType(mode)) {
    case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFBLK: case S_IFCHR: case S_IFSOCK: case S_IFIFO:
      return true;
    default:
      return false;
  }
}

/** Index of `name` among `parent`'s children, or the insertion point as `-(pos + 1)`. */
function searchChild(parent: CfsNode, name: Buffer): number {
  let lo = 0;
  let hi = parent.children.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = Buffer.compare(name, parent.children[mid]!.name!);
    if (c === 0) return mid;
    if (c < 0) hi = mid;
    else lo = mid + 1;
  }
  return -(lo + 1);
}

export function lookupChild(parent: CfsNode, name: Buffer): CfsNode | undefined {
  const i = searchChild(parent, name);
  return i >= 0 ? parent.children[i] : undefined;
}

/** Why `addChild` refused, or null when the child was added (kept sorted). */
export function addChild(parent: CfsNode, child: CfsNode, name: Buffer): string | null {
  if (!isDir(parent)) return 'parent is not a directory';
  if (name.length === 0) return 'empty file name';
  if (name.length > NAME_MAX) return `file name longer than ${NAME_MAX} bytes`;
  if (name.includes(0x2f)) return 'file name contains "/"';
  if (name.includes(0)) return 'file name contains a NUL byte';
  const i = searchChild(parent, name);
  if (i >= 0) return 'already exists';
  parent.children.splice(-(i + 1), 0, child);
  child.parent = parent;
  child.name = name;
  return null;
}

function findXattr(node: CfsNode, key: Buffer): number {
  return node.xattrs.findIndex((x) => x.key.equals(key));
}

/**
 * lcfs_node_set_xattr: replaces a value of the same name. Returns why it was refused (name
 * empty or longer than 255 bytes, value over 65535 bytes, or the inode's xattrs over
 * LCFS_INODE_EXTERNAL_XATTR_MAX as libcomposefs counts them), or null.
 *
 * The count is libcomposefs' estimate: 7 + name + value per xattr, 12 more for the first; a
 * replaced xattr is subtracted first. It is not carried over when the writer clones the tree
 * (`serializeErofs` restarts it at 0), so a replacement there can take it below zero: C's
 * unsigned arithmetic then refuses the new value unless it brings the count back to ≥ 0.
 */
export function setXattr(node: CfsNode, key: Buffer, value: Buffer): string | null {
  if (key.length === 0 || key.length > XATTR_NAME_MAX) return `xattr name must be 1..${XATTR_NAME_MAX} bytes`;
  if (key.includes(0)) return 'xattr name contains a NUL byte';
  if (value.length > 0xffff) return 'xattr value longer than 65535 bytes';
  const old = findXattr(node, key);
  if (old >= 0) {
    const removed = node.xattrs[old]!;
    const last = node.xattrs.pop()!;
    if (old < node.xattrs.length) node.xattrs[old] = last;
    node.xattrBudget = node.xattrs.length > 0 ? node.xattrBudget - (XATTR_ACCOUNT_ENTRY + removed.key.length + removed.value.length) : 0;
  }
  let entry = XATTR_ACCOUNT_ENTRY + key.length + value.length;
  if (node.xattrs.length === 0) entry += XATTR_HEADER_SIZE;
  const total = node.xattrBudget + entry;
  if (total < 0) return `cannot replace xattr ${JSON.stringify(key.toString('latin1'))}: mkcomposefs 1.0.8's size accounting underflows here (ERANGE)`;
  if (total > XATTR_BUDGET) return `xattrs of one inode exceed ${XATTR_BUDGET} bytes`;
  node.xattrs.push({ key, value });
  node.xattrBudget = total;
  return null;
}

/** Follows `linkTo` to the inode that owns the data; null on a cycle. */
export function followLinks(node: CfsNode): CfsNode | null {
  let n = node;
  while (n.linkTo !== null) {
    n = n.linkTo;
    if (n === node) return null;
  }
  return n;
}

// --- errors -------------------------------------------------------------------------------------

/** A tree the image format cannot hold; the code names where it came from. */
export type TreeErrorFactory = (node: CfsNode | null, reason: string) => VeritreeError;

/** By origin: a dump line (`dump-invalid`), a source path or no origin (`import-unsupported`). */
const defaultTreeError: TreeErrorFactory = (node, reason) => {
  const origin = node?.origin ?? null;
  if (origin !== null && 'line' in origin) return dumpInvalid(origin.line, reason);
  return importUnsupported(origin !== null ? origin.path : '<tree>', reason);
};

// --- step 1: format version ---------------------------------------------------------------------

export interface VersionRange {
  readonly min: number;
  readonly max: number;
}

const isWhiteout = (n: CfsNode) => fileType(n.mode) === S_IFCHR && n.rdev === 0;

/** lcfs_write_update_version: min, or max (≥ 1) when a non-hard-link node is a whiteout. */
export function chooseVersion(root: CfsNode, range: VersionRange): number {
  let version = range.min;
  const max = Math.max(range.max, range.min);
  if (version >= 1 || max < 1) return version;
  const stack = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (isWhiteout(n)) {
      version = 1;
      break;
    }
    for (const c of n.children) if (c.linkTo === null) stack.push(c);
  }
  return version;
}

// --- step 2: the rewrite for overlayfs ----------------------------------------------------------

const b = (s: string) => Buffer.from(s, 'latin1');
const EMPTY = Buffer.alloc(0);

function mustSetXattr(node: CfsNode, key: string, value: Buffer, fail: TreeErrorFactory): void {
  const why = setXattr(node, b(key), value);
  if (why !== null) throw fail(node, why);
}

/** chunkbits and chunk count of an external file (one chunk whenever the format allows). */
export function chunking(size: number): { chunkBits: number; count: number } {
  // ilog2(size - 1) + 1, with ilog2(0) = 0: the bit length of size - 1 (at least 1).
  let chunkBits = size <= 1 ? 1 : (size - 1).toString(2).length;
  if (chunkBits < BLKSZ_BITS) chunkBits = BLKSZ_BITS;
  if (chunkBits - BLKSZ_BITS > CHUNK_BLKBITS_MASK) chunkBits = CHUNK_BLKBITS_MASK + BLKSZ_BITS;
  return { chunkBits, count: Math.ceil(size / 2 ** chunkBits) };
}

const isExternalFile = (n: CfsNode) => fileType(n.mode) === S_IFREG && n.size > 0 && n.content === null;

function validateNode(node: CfsNode, fail: TreeErrorFactory): void {
  if (node.linkTo === null && !validMode(node.mode)) throw fail(node, `invalid file mode ${node.mode.toString(8)}`);
  if (isExternalFile(node) && chunking(node.size).count > MAX_NONINLINE_CHUNKS) {
    throw fail(node, `file too large for a composefs image (${node.size} bytes)`);
  }
}

function addOverlayXattrs(node: CfsNode, version: number, fail: TreeErrorFactory): void {
  const type = fileType(node.mode);
  const prefix = b(OVERLAY_PREFIX);
  for (const x of node.xattrs) {
    if (x.key.subarray(0, prefix.length).equals(prefix)) {
      // Renamed in place, like libcomposefs (no budget change): every such name moves one level
      // down, so no two can collide.
      x.key = Buffer.concat([b(OVERLAY_ESCAPED_PREFIX), x.key.subarray(prefix.length)]);
    }
  }
  if (type === S_IFREG && node.size > 0 && node.content === null) {
    let metacopy = EMPTY;
    if (node.digest !== null) {
      // version 0, length, flags 0, hash algorithm (1 SHA-256, 36 bytes in all; 2 SHA-512, 68, as
      // composefs-rs writes for SHA-512 repositories), digest (docs/FORMATS.md §3.3).
      metacopy = Buffer.concat([Buffer.from([0, 4 + node.digest.length, 0, node.digest.length === 64 ? 2 : 1]), node.digest]);
    }
    mustSetXattr(node, XATTR_METACOPY, metacopy, fail);
    if (node.payload !== null && node.payload.length > 0) {
      mustSetXattr(node, XATTR_REDIRECT, Buffer.concat([b('/'), node.payload]), fail);
    }
  }
  if (isWhiteout(node)) {
    const parent = node.parent!;
    node.size = 0;
    node.mode = S_IFREG | (node.mode & ~S_IFMT);
    mustSetXattr(node, XATTR_ESCAPED_WHITEOUT, EMPTY, fail);
    mustSetXattr(node, XATTR_USER_WHITEOUT, EMPTY, fail);
    mustSetXattr(parent, XATTR_ESCAPED_WHITEOUTS, EMPTY, fail);
    mustSetXattr(parent, XATTR_USER_WHITEOUTS, EMPTY, fail);
    if (version >= 1) {
      mustSetXattr(parent, XATTR_ESCAPED_OPAQUE, b('x'), fail);
      mustSetXattr(parent, XATTR_USER_OPAQUE, b('x'), fail);
    }
  }
}

function linkNode(target: CfsNode): CfsNode {
  const n = newNode(0);
  n.linkTo = target;
  return n;
}

/** libcomposefs writes a clone of the tree, and its clone starts every xattr count at 0. */
function resetXattrBudgets(root: CfsNode): void {
  const stack = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    n.xattrBudget = 0;
    for (const c of n.children) stack.push(c);
  }
}

/** rewrite_tree_for_erofs: pre-order, so a parent is escaped before its children mark it. */
function rewriteTree(root: CfsNode, version: number, fail: TreeErrorFactory): void {
  const stack: { node: CfsNode; parent: CfsNode }[] = [{ node: root, parent: root }];
  while (stack.length > 0) {
    const { node, parent } = stack.pop()!;
    validateNode(node, fail);
    addOverlayXattrs(node, version, fail);
    if (!isDir(node)) continue;
    if (lookupChild(node, b('.')) === undefined) addChild(node, linkNode(node), b('.'));
    if (lookupChild(node, b('..')) === undefined) addChild(node, linkNode(parent), b('..'));
    for (let i = node.children.length - 1; i >= 0; i--) {
      const child = node.children[i]!;
      if (child.linkTo === null) stack.push({ node: child, parent: node });
    }
  }
  mustSetXattr(root, XATTR_OPAQUE, b('y'), fail);
  // Char 0/0 entries 00..ff hide the XX/ object directories when the basedir is a lower layer.
  const selinux = root.xattrs.find((x) => x.key.equals(b(XATTR_SELINUX)));
  for (let i = 0; i < 256; i++) {
    const name = b(i.toString(16).padStart(2, '0'));
    if (lookupChild(root, name) !== undefined) continue;
    const w = newNode(S_IFCHR | 0o644);
    w.uid = root.uid;
    w.gid = root.gid;
    w.mtimeSec = root.mtimeSec;
    w.mtimeNsec = root.mtimeNsec;
    if (selinux !== undefined) mustSetXattr(w, XATTR_SELINUX, selinux.value, fail);
    addChild(root, w, name);
  }
}

// --- step 3: inode order ------------------------------------------------------------------------

interface TreeInfo {
  nodes: CfsNode[];
  minSec: bigint;
  minNsec: number;
  hasAcl: boolean;
}

function computeTree(root: CfsNode, fail: TreeErrorFactory): TreeInfo {
  const nodes: CfsNode[] = [root];
  let minSec = root.mtimeSec;
  let minNsec = root.mtimeNsec;
  let hasAcl = false;
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i]!;
    if (!isDir(node) && node.children.length > 0) throw fail(node, 'only directories can have children');
    if (isDir(node)) node.nlink = 2 + node.children.filter(isDir).length;
    node.xattrs.sort((x, y) => Buffer.compare(x.key, y.key));
    if (node.mtimeSec < minSec || (node.mtimeSec === minSec && node.mtimeNsec < minNsec)) {
      minSec = node.mtimeSec;
      minNsec = node.mtimeNsec;
    }
    if (node.xattrs.some((x) => x.key.equals(b(ACL_ACCESS)) || x.key.equals(b(ACL_DEFAULT)))) hasAcl = true;
    for (const c of node.children) if (c.linkTo === null) nodes.push(c);
  }
  const inTree = new Set(nodes);
  for (const node of nodes) {
    for (const c of node.children) {
      if (c.linkTo === null) continue;
      const target = followLinks(c);
      if (target === null) throw fail(c, 'hard link loop');
      if (!inTree.has(target)) throw fail(c, 'hard link to a file outside the tree');
      // mkcomposefs means to refuse these ("Directories can't be hardlinked") but its check
      // misses a non-directory name pointing at a directory: refused here.
      if (isDir(target) && !c.name!.equals(b('.')) && !c.name!.equals(b('..'))) throw fail(c, 'hard link to a directory');
    }
  }
  return { nodes, minSec, minNsec, hasAcl };
}

// --- step 4: xattrs -----------------------------------------------------------------------------

function xattrIndex(key: Buffer): { index: number; suffix: Buffer } {
  for (const [prefix, index] of XATTR_INDEXES) {
    if (key.length >= prefix.length && key.subarray(0, prefix.length).equals(prefix)) return { index, suffix: key.subarray(prefix.length) };
  }
  return { index: 0, suffix: key };
}

const align4 = (n: number) => (n + 3) & ~3;

function xattrEntrySize(x: CfsXattr): number {
  return align4(XATTR_ENTRY_SIZE + xattrIndex(x.key).suffix.length + x.value.length);
}

/** xxh32 (used for the xattr name filter, docs/FORMATS.md §5.4). */
export function xxh32(data: Uint8Array, seed: number): number {
  const P1 = 2654435761;
  const P2 = 2246822519;
  const P3 = 3266489917;
  const P4 = 668265263;
  const P5 = 374761393;
  const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;
  const le32 = (i: number) => (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) >>> 0;
  const round = (acc: number, input: number) => Math.imul(rotl((acc + Math.imul(input, P2)) >>> 0, 13), P1) >>> 0;
  const len = data.length;
  let p = 0;
  let h: number;
  if (len >= 16) {
    let v1 = (seed + P1 + P2) >>> 0;
    let v2 = (seed + P2) >>> 0;
    let v3 = seed >>> 0;
    let v4 = (seed - P1) >>> 0;
    const limit = len - 16;
    do {
      v1 = round(v1, le32(p)); p += 4;
      v2 = round(v2, le32(p)); p += 4;
      v3 = round(v3, le32(p)); p += 4;
      v4 = round(v4, le32(p)); p += 4;
    } while (p <= limit);
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) >>> 0;
  } else {
    h = (seed + P5) >>> 0;
  }
  h = (h + len) >>> 0;
  while (p + 4 <= len) {
    h = Math.imul(rotl((h + Math.imul(le32(p), P3)) >>> 0, 17), P4) >>> 0;
    p += 4;
  }
  while (p < len) {
    h = Math.imul(rotl((h + Math.imul(data[p]!, P5)) >>> 0, 11), P1) >>> 0;
    p++;
  }
  h = (h ^ (h >>> 15)) >>> 0;
  h = Math.imul(h, P2) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, P3) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return h;
}

function xattrFilter(node: CfsNode): number {
  let bits = 0;
  for (const x of node.xattrs) {
    const { index, suffix } = xattrIndex(x.key);
    bits |= 1 << (xxh32(suffix, (XATTR_FILTER_SEED + index) >>> 0) & 31);
  }
  return ~bits >>> 0;
}

interface SharedXattrs {
  list: CfsXattr[];
  size: number;
  /** Per node (same order as TreeInfo.nodes), per xattr: byte offset in the shared area or -1. */
  offsets: number[][];
}

const xattrId = (x: CfsXattr) => `${x.key.toString('latin1')}\0${x.value.toString('latin1')}`;

function computeSharedXattrs(nodes: readonly CfsNode[]): SharedXattrs {
  const uses = new Map<string, { x: CfsXattr; count: number; offset: number }>();
  // Each xattr's identity, made once (the offsets pass below needs it again).
  const ids = nodes.map((node) => node.xattrs.map(xattrId));
  nodes.forEach((node, i) => {
    node.xattrs.forEach((x, k) => {
      const id = ids[i]![k]!;
      const e = uses.get(id);
      if (e === undefined) uses.set(id, { x, count: 1, offset: -1 });
      else e.count++;
    });
  });
  // Only xattrs used more than once are shared, so only those are ordered: per-file ones (a
  // metacopy digest, a redirect) are most of them in an image of many files.
  const sorted = [...uses.values()].filter((e) => e.count > 1).sort((p, q) => {
    const byKey = Buffer.compare(q.x.key, p.x.key);
    if (byKey !== 0) return byKey;
    if (p.x.value.length !== q.x.value.length) return q.x.value.length - p.x.value.length;
    return Buffer.compare(q.x.value, p.x.value);
  });
  const list: CfsXattr[] = [];
  let size = 0;
  for (const e of sorted) {
    e.offset = size;
    list.push(e.x);
    size += xattrEntrySize(e.x);
  }
  const offsets = nodes.map((node, i) => {
    let nShared = 0;
    return node.xattrs.map((_, k) => {
      const e = uses.get(ids[i]![k]!)!;
      if (e.offset >= 0 && nShared < MAX_SHARED_REFS) {
        nShared++;
        return e.offset;
      }
      return -1;
    });
  });
  return { list, size, offsets };
}

// --- step 5: layout -----------------------------------------------------------------------------

interface InodeLayout {
  node: CfsNode;
  index: number;
  nid: number;
  compact: boolean;
  /** Padding written before the inode. */
  ipad: number;
  xattrSize: number;
  nBlocks: number;
  tailSize: number;
  /** i_u.raw_blkaddr when nBlocks > 0. */
  blkaddr: number;
}

const roundUp = (n: number, a: number) => Math.ceil(n / a) * a;

/** Full blocks and inline tail of a directory: dirents packed greedily, a tail > half a block is a block. */
function dirBlocks(node: CfsNode): { nBlocks: number; tail: number } {
  let nBlocks = 0;
  let used = 0;
  for (const c of node.children) {
    const len = DIRENT_SIZE + c.name!.length;
    if (used + len > BLKSZ) {
      nBlocks++;
      used = 0;
    }
    used += len;
  }
  if (used > BLKSZ / 2) {
    nBlocks++;
    used = 0;
  }
  return { nBlocks, tail: used };
}

function dataSize(node: CfsNode): { nBlocks: number; tail: number } {
  switch (fileType(node.mode)) {
    case S_IFDIR:
      return dirBlocks(node);
    case S_IFLNK:
      return { nBlocks: 0, tail: node.payload!.length };
    case S_IFREG:
      if (node.size === 0) return { nBlocks: 0, tail: 0 };
      if (node.content !== null) {
        let nBlocks = Math.floor(node.size / BLKSZ);
        let tail = node.size % BLKSZ;
        if (tail > BLKSZ / 2) {
          nBlocks++;
          tail = 0;
        }
        return { nBlocks, tail };
      }
      return { nBlocks: 0, tail: chunking(node.size).count * 4 };
    default:
      return { nBlocks: 0, tail: 0 };
  }
}

function inodeSizeField(node: CfsNode, l: { nBlocks: number; tailSize: number }): number {
  switch (fileType(node.mode)) {
    case S_IFDIR: return l.nBlocks * BLKSZ + l.tailSize;
    case S_IFREG: return node.size;
    case S_IFLNK: return l.nBlocks === 0 ? l.tailSize : node.payload!.length;
    default: return 0;
  }
}

function fitsCompact(node: CfsNode, info: TreeInfo, dirSize: number): boolean {
  if (node.mtimeSec !== info.minSec || node.mtimeNsec !== info.minNsec) return false;
  if (node.nlink > 0xffff || node.uid > 0xffff || node.gid > 0xffff) return false;
  const size = isDir(node) ? dirSize : node.size;
  return size <= 0xffffffff;
}

/** Padding before an inode so that its inline tail stays inside one block (may un-inline the tail). */
function tailPadding(node: CfsNode, l: InodeLayout, pos: number, inodeSize: number): number {
  const nonTail = inodeSize + l.xattrSize;
  const total = nonTail + l.tailSize;
  if (fileType(node.mode) === S_IFLNK) {
    // The target stays with the inode when it fits in a block; otherwise it gets a block of its own.
    const posBlock = Math.floor(pos / BLKSZ);
    const endBlock = Math.floor((pos + total - 1) / BLKSZ);
    if (Math.floor(total / BLKSZ) > 0) {
      l.nBlocks++;
      l.tailSize = 0;
    }
    return posBlock !== endBlock ? roundUp(pos, BLKSZ) - pos : 0;
  }
  let remainder = BLKSZ - ((pos + nonTail) % BLKSZ);
  if (remainder >= l.tailSize) return 0;
  const pad = roundUp(remainder, SLOT);
  remainder = BLKSZ - ((pos + nonTail + pad) % BLKSZ);
  if (l.tailSize <= remainder) return pad;
  l.nBlocks++;
  l.tailSize = 0;
  return roundUp(pos, BLKSZ) - pos;
}

function xattrBodySize(nShared: number, unsharedSize: number): number {
  if (nShared === 0 && unsharedSize === 0) return 0;
  return align4(XATTR_HEADER_SIZE + nShared * 4 + unsharedSize);
}

// --- writing ------------------------------------------------------------------------------------

class Out {
  readonly buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.alloc(size);
  }
  u8(v: number): void { this.buf.writeUInt8(v, this.pos); this.pos += 1; }
  u16(v: number): void { this.buf.writeUInt16LE(v & 0xffff, this.pos); this.pos += 2; }
  u32(v: number): void { this.buf.writeUInt32LE(v >>> 0, this.pos); this.pos += 4; }
  u64(v: bigint): void { this.buf.writeBigUInt64LE(BigInt.asUintN(64, v), this.pos); this.pos += 8; }
  bytes(d: Uint8Array): void { this.buf.set(d, this.pos); this.pos += d.length; }
  skip(n: number): void { this.pos += n; }
  alignTo(a: number): void { this.pos = roundUp(this.pos, a); }
  expect(at: number, what: string): void {
    // An invariant of the layout, not an input error: a bug if it ever fires.
    if (this.pos !== at) throw new Error(`composefs writer: ${what} ends at ${this.pos}, expected ${at}`);
  }
}

function writeXattrEntry(out: Out, x: CfsXattr): void {
  const { index, suffix } = xattrIndex(x.key);
  out.u8(suffix.length);
  out.u8(index);
  out.u16(x.value.length);
  out.bytes(suffix);
  out.bytes(x.value);
  out.alignTo(4);
}

function dtype(node: CfsNode): number {
  switch (fileType(node.mode)) {
    case S_IFREG: return 1;
    case S_IFDIR: return 2;
    case S_IFCHR: return 3;
    case S_IFBLK: return 4;
    case S_IFIFO: return 5;
    case S_IFSOCK: return 6;
    case S_IFLNK: return 7;
    default: return 0;
  }
}

/** One directory block (or the inline tail): dirents, then the names; padded to `align`. */
function writeDirentChunk(out: Out, children: readonly CfsNode[], nids: Map<CfsNode, number>, align: number): void {
  let nameoff = children.length * DIRENT_SIZE;
  for (const c of children) {
    const target = followLinks(c)!;
    out.u64(BigInt(nids.get(target)!));
    out.u16(nameoff);
    out.u8(dtype(target));
    out.u8(0);
    nameoff += c.name!.length;
  }
  for (const c of children) out.bytes(c.name!);
  out.alignTo(align);
}

/** write_erofs_dentries: the full blocks (`blocks`) and/or the inline tail (`tail`). */
function writeDirents(out: Out, l: InodeLayout, nids: Map<CfsNode, number>, blocks: boolean, tail: boolean): void {
  const children = l.node.children;
  let used = 0;
  let written = 0;
  let first = 0;
  for (let i = 0; i < children.length; i++) {
    const len = DIRENT_SIZE + children[i]!.name!.length;
    if (used + len > BLKSZ) {
      if (blocks) writeDirentChunk(out, children.slice(first, i), nids, BLKSZ);
      written++;
      used = 0;
      first = i;
    }
    used += len;
  }
  if (written < l.nBlocks) {
    if (blocks) writeDirentChunk(out, children.slice(first), nids, BLKSZ);
    written++;
    used = 0;
    first = children.length;
  }
  if (tail && used > 0) writeDirentChunk(out, children.slice(first), nids, 1);
}

export interface SerializeOptions {
  /** Format version range (defaults 0..1; a whiteout raises the version to max). */
  readonly version?: VersionRange;
  /** Maps a tree error to a VeritreeError (dump line or source path). */
  readonly fail?: TreeErrorFactory;
}

export interface Serialized {
  readonly image: Buffer;
  /** The composefs format version written (header byte 12). */
  readonly version: number;
  /** Inodes in the image (the superblock's `inos`). */
  readonly inodes: number;
}

/** Builds the image of `root` (the tree is rewritten in place; do not reuse it).
 *
 * Long on purpose: it lays the image out in mkcomposefs' exact order (inodes, shared xattrs, data), one pass whose steps read best in sequence.
 */
export function serializeErofs(root: CfsNode, options: SerializeOptions = {}): Serialized {
  const fail = options.fail ?? defaultTreeError;
  const range = options.version ?? { min: 0, max: FORMAT_VERSION_MAX };
  if (!Number.isInteger(range.min) || !Number.isInteger(range.max) || range.min < 0 || range.max < 0
      || range.min > FORMAT_VERSION_MAX || range.max > FORMAT_VERSION_MAX) {
    throw invalidArgument('usage', `format version must be 0..${FORMAT_VERSION_MAX} (got min ${range.min}, max ${range.max})`);
  }
  if (!isDir(root)) throw fail(root, 'the root must be a directory');
  const version = chooseVersion(root, range);
  resetXattrBudgets(root);
  rewriteTree(root, version, fail);
  const info = computeTree(root, fail);
  const { nodes } = info;
  const shared = computeSharedXattrs(nodes);

  // Place the inodes.
  const layouts: InodeLayout[] = [];
  let pos = EROFS_SUPER_OFFSET + EROFS_SUPER_SIZE;
  const metaStart = Math.floor(pos / BLKSZ) * BLKSZ;
  let nDataBlocks = 0;
  const nids = new Map<CfsNode, number>();
  nodes.forEach((node, index) => {
    const d = dataSize(node);
    const compact = fitsCompact(node, info, d.nBlocks * BLKSZ + d.tail);
    const inodeSize = compact ? COMPACT_SIZE : EXTENDED_SIZE;
    const offs = shared.offsets[index]!;
    let nShared = 0;
    let unshared = 0;
    node.xattrs.forEach((x, i) => {
      if (offs[i]! >= 0) nShared++;
      else unshared += xattrEntrySize(x);
    });
    const l: InodeLayout = {
      node, index, nid: 0, compact, ipad: 0, xattrSize: xattrBodySize(nShared, unshared),
      nBlocks: d.nBlocks, tailSize: d.tail, blkaddr: 0,
    };
    const aligned = roundUp(pos, SLOT);
    l.ipad = aligned - pos;
    pos = aligned;
    const extra = tailPadding(node, l, pos, inodeSize);
    l.ipad += extra;
    pos += extra;
    nDataBlocks += l.nBlocks;
    l.nid = (pos - metaStart) / SLOT;
    nids.set(node, l.nid);
    pos += inodeSize + l.xattrSize + l.tailSize;
    layouts.push(l);
  });
  const inodesEnd = roundUp(pos, SLOT);
  const dataStart = roundUp(inodesEnd + shared.size, BLKSZ);
  let blockCursor = dataStart / BLKSZ;
  for (const l of layouts) {
    if (l.nBlocks > 0) {
      l.blkaddr = blockCursor;
      blockCursor += l.nBlocks;
    }
  }
  const totalBlocks = dataStart / BLKSZ + nDataBlocks;
  if (totalBlocks > 0xffffffff) throw fail(null, 'image too large');
  const out = new Out(totalBlocks * BLKSZ);

  // composefs header, then the superblock at 1024.
  out.u32(COMPOSEFS_MAGIC);
  out.u32(COMPOSEFS_HEADER_VERSION);
  out.u32(info.hasAcl ? COMPOSEFS_FLAG_HAS_ACL : 0);
  out.u32(version);
  out.pos = EROFS_SUPER_OFFSET;
  out.u32(EROFS_SUPER_MAGIC);
  out.u32(0); // checksum
  out.u32(EROFS_COMPAT_MTIME | EROFS_COMPAT_XATTR_FILTER);
  out.u8(BLKSZ_BITS);
  out.u8(0); // sb_extslots
  out.u16(layouts[0]!.nid);
  out.u64(BigInt(nodes.length));
  out.u64(info.minSec);
  out.u32(info.minNsec);
  out.u32(totalBlocks);
  out.u32(metaStart / BLKSZ); // meta_blkaddr
  out.u32(Math.floor(inodesEnd / BLKSZ)); // xattr_blkaddr
  out.pos = EROFS_SUPER_OFFSET + EROFS_SUPER_SIZE; // uuid, volume name, incompat… all zero

  // Inodes.
  const sharedBase = inodesEnd % BLKSZ;
  for (const l of layouts) {
    const { node } = l;
    const type = fileType(node.mode);
    out.skip(l.ipad);
    const start = out.pos;
    let layout = l.tailSize > 0 ? LAYOUT_FLAT_INLINE : LAYOUT_FLAT_PLAIN;
    let chunkFormat = -1;
    let chunkCount = 0;
    if (isExternalFile(node)) {
      const c = chunking(node.size);
      layout = LAYOUT_CHUNK_BASED;
      chunkFormat = c.chunkBits - BLKSZ_BITS;
      chunkCount = c.count;
    }
    const format = (layout << 1) | (l.compact ? 0 : 1);
    const icount = l.xattrSize === 0 ? 0 : (l.xattrSize - XATTR_HEADER_SIZE) / 4 + 1;
    if (icount > 0xffff) throw fail(node, 'too many xattrs');
    const size = inodeSizeField(node, l);
    // i_u: block address, device number, or chunk format (which overwrites the low half).
    const iu = Buffer.alloc(4);
    if (type === S_IFCHR || type === S_IFBLK) {
      iu.writeUInt32LE(node.rdev >>> 0);
    } else if (type === S_IFDIR || type === S_IFREG || type === S_IFLNK) {
      if (l.nBlocks > 0) iu.writeUInt32LE(l.blkaddr);
      if (chunkFormat >= 0) iu.writeUInt16LE(chunkFormat);
    }
    out.u16(format);
    out.u16(icount);
    out.u16(node.mode);
    if (l.compact) {
      out.u16(node.nlink);
      out.u32(size);
      out.u32(0);
      out.bytes(iu);
      out.u32(l.index);
      out.u16(node.uid);
      out.u16(node.gid);
      out.u32(0);
    } else {
      out.u16(0);
      out.u64(BigInt(size));
      out.bytes(iu);
      out.u32(l.index);
      out.u32(node.uid);
      out.u32(node.gid);
      out.u64(node.mtimeSec);
      out.u32(node.mtimeNsec);
      out.u32(node.nlink);
      out.skip(16);
    }
    if (l.xattrSize > 0) {
      const xStart = out.pos;
      const offs = shared.offsets[l.index]!;
      out.u32(xattrFilter(node));
      out.u8(offs.filter((o) => o >= 0).length);
      out.skip(7);
      for (const o of offs) if (o >= 0) out.u32((sharedBase + o) / 4);
      node.xattrs.forEach((x, i) => {
        if (offs[i]! < 0) writeXattrEntry(out, x);
      });
      out.expect(xStart + l.xattrSize, 'xattr body');
    }
    if (type === S_IFDIR) {
      writeDirents(out, l, nids, false, true);
    } else if (type === S_IFLNK) {
      if (l.nBlocks === 0) out.bytes(node.payload!);
    } else if (type === S_IFREG && l.tailSize > 0) {
      if (node.content !== null) out.bytes(node.content.subarray(node.size - l.tailSize));
      else for (let i = 0; i < chunkCount; i++) out.u32(NULL_ADDR); // holes: the data comes via the redirect
    }
    out.expect(start + (l.compact ? COMPACT_SIZE : EXTENDED_SIZE) + l.xattrSize + l.tailSize, 'inode');
  }
  out.alignTo(SLOT);
  out.expect(inodesEnd, 'inode table');
  for (const x of shared.list) writeXattrEntry(out, x);
  out.expect(inodesEnd + shared.size, 'shared xattrs');
  out.alignTo(BLKSZ);
  out.expect(dataStart, 'metadata');

  // Data blocks, in inode order.
  for (const l of layouts) {
    const { node } = l;
    const type = fileType(node.mode);
    if (type === S_IFDIR) {
      writeDirents(out, l, nids, true, false);
    } else if (l.nBlocks > 0 && type === S_IFREG) {
      if (node.content === null) {
        // A chunk table that did not fit inline: a block of NULL_ADDR entries.
        for (let i = 0; i < BLKSZ / 4; i++) out.u32(NULL_ADDR);
      } else {
        out.bytes(node.content.subarray(0, l.nBlocks * BLKSZ));
        out.alignTo(BLKSZ);
      }
    } else if (l.nBlocks > 0 && type === S_IFLNK) {
      out.bytes(node.payload!);
      out.alignTo(BLKSZ);
    }
  }
  out.expect(totalBlocks * BLKSZ, 'data blocks');
  return { image: out.buf, version, inodes: nodes.length };
}
