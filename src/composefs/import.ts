/**
 * Source tree → object store + composefs-dump(5) text (docs/FORMATS.md §4.1, §4.4, §4.6; §5.5 for
 * directory sizes): the builder backend of `veritree import`, doing what `mkcomposefs
 * --digest-store=DIR SRC` does before it writes an image, so that `mkcomposefs --from-file` can
 * write the image from the dump.
 *
 * The tree is read as mkcomposefs reads a directory (`lcfs_build`): symlinks never followed,
 * xattrs with llistxattr/lgetxattr, hard links not detected (every path is its own inode with
 * nlink 1, sharing the object). Regular files of 1..64 bytes are inlined in the dump, larger ones
 * are stored in the object store by fs-verity digest (computed on the worker pool), empty ones
 * have neither.
 *
 * The dump is written the way `composefs-info dump` prints the image mkcomposefs would build, so
 * it compares line by line with one: directory SIZE is the EROFS directory size composefs would
 * give it (dirents packed in 4096-byte blocks, root whiteouts `00`..`ff` included), directory
 * NLINK is 2 + subdirectories, and a directory holding a whiteout (char 0/0) carries
 * `trusted.overlay.opaque=x user.overlay.opaque=x`, which composefs-info shows for format
 * version 1 images (§4.4 quirk; mkcomposefs accepts them and derives the same image). xattrs are
 * sorted by name; composefs-info lists an image's shared xattrs after the inline ones, so a line
 * may order them differently from it.
 */
import { formatDumpLine, type DumpRecord } from './dump.js';
import { INLINE_CONTENT_MAX, listed, preorder, walkSourceTree, type SourceNode, type SourceWalk } from './source.js';
import { ObjectStore, ObjectTally, identityOf, objectPayload, type StoredObject } from './store.js';
import { digestFiles, type BulkDigestOptions } from '../pool/scheduler.js';
import { fileChanged } from '../report/errors.js';

export { INLINE_CONTENT_MAX };
/** composefs EROFS block size and its directory packing (docs/FORMATS.md §5.5). */
const EROFS_BLOCK_SIZE = 4096;
const EROFS_DIRENT_SIZE = 12;
const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
/** composefs-info's view of a whiteout's parent in a format-1 image (§4.4 quirk, §4.6 item 3). */
const WHITEOUT_PARENT_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque'] as const;

export interface ImportOptions extends Pick<BulkDigestOptions, 'threads' | 'pool' | 'backend' | 'signal'> {
  /** fsync new objects (default true). */
  readonly fsync?: boolean;
}

export interface ImportResult {
  readonly dump: string;
  /** Regular files seen / stored by digest / inlined / empty. */
  readonly files: { readonly total: number; readonly stored: number; readonly inline: number; readonly empty: number };
  /** Distinct objects referenced, and how many were newly written. */
  readonly objects: { readonly referenced: number; readonly added: number; readonly existing: number };
  /** Paths of the distinct objects, for enabling fs-verity on them. */
  readonly objectPaths: readonly string[];
}

const fileType = (mode: number) => mode & S_IFMT;

const isWhiteout = (n: SourceNode) => fileType(n.st.mode) === S_IFCHR && n.st.rdev === 0;

/**
 * Size composefs gives a directory (docs/FORMATS.md §5.5): `.`, `..` and the children as 12-byte dirents
 * plus names, sorted, packed greedily into 4096-byte blocks; a last partial block over half a block
 * becomes a full one. The root also holds the whiteouts `00`..`ff` not taken by a child (§4.6).
 */
export function composefsDirSize(childNames: readonly Uint8Array[], isRoot: boolean): number {
  const names: Buffer[] = [Buffer.from('.'), Buffer.from('..'), ...childNames.map((n) => Buffer.from(n))];
  if (isRoot) {
    const taken = new Set(childNames.map((n) => Buffer.from(n).toString('latin1')));
    for (let i = 0; i < 256; i++) {
      const hex = i.toString(16).padStart(2, '0');
      if (!taken.has(hex)) names.push(Buffer.from(hex));
    }
  }
  names.sort(Buffer.compare);
  let blocks = 0;
  let used = 0;
  for (const n of names) {
    const need = EROFS_DIRENT_SIZE + n.length;
    if (used + need > EROFS_BLOCK_SIZE) {
      blocks++;
      used = 0;
    }
    used += need;
  }
  return blocks * EROFS_BLOCK_SIZE + (used > EROFS_BLOCK_SIZE / 2 ? EROFS_BLOCK_SIZE : used);
}

function dumpRecordOf(n: SourceNode, object: StoredObject | undefined, isRoot: boolean, treeHasWhiteout: boolean): DumpRecord {
  const mode = n.st.mode;
  const type = fileType(mode);
  const xattrs = [...n.xattrs];
  let size = 0;
  let nlink = 1;
  if (type === S_IFDIR) {
    size = composefsDirSize(n.children.map((c) => c.name), isRoot);
    nlink = 2 + n.children.filter((c) => c.st.kind === 'directory').length;
    if (treeHasWhiteout && n.children.some(isWhiteout)) {
      for (const name of WHITEOUT_PARENT_XATTRS) {
        if (!xattrs.some((x) => Buffer.from(x.rawName).toString() === name)) xattrs.push({ rawName: Buffer.from(name), value: Buffer.from('x') });
      }
      xattrs.sort((a, b) => Buffer.compare(Buffer.from(a.rawName), Buffer.from(b.rawName)));
    }
  } else if (type === S_IFREG) {
    size = n.st.size;
  } else if (type === S_IFLNK) {
    size = n.target!.length;
  }
  const rdev = type === S_IFCHR || type === S_IFBLK ? n.st.rdev : 0;
  const sec = n.st.mtimeNs / 1_000_000_000n;
  const nsec = Number(n.st.mtimeNs % 1_000_000_000n);
  return {
    path: n.rel,
    size,
    mode,
    nlink,
    uid: n.st.uid,
    gid: n.st.gid,
    rdev,
    mtimeSec: sec,
    mtimeNsec: nsec,
    payload: type === S_IFLNK ? n.target! : object ? Buffer.from(object.payload) : null,
    content: n.content ?? null,
    digest: object ? Buffer.from(object.digest, 'hex') : null,
    xattrs,
    hardlink: false,
  };
}

/** Imports `src` into `store`; returns the dump text and counts. Throws on the first failure. */
export async function importTree(src: string, store: ObjectStore, options: ImportOptions = {}): Promise<ImportResult> {
  if (typeof src !== 'string' || src.length === 0) throw new TypeError(`source must be a non-empty path, got ${JSON.stringify(src)}`);
  if (!(store instanceof ObjectStore)) throw new TypeError('importTree needs an ObjectStore');
  const walk = walkSourceTree(src);
  try {
    return await importWalk(walk, store, options);
  } finally {
    walk.close();
    store.close();
  }
}

async function importWalk(walk: SourceWalk, store: ObjectStore, options: ImportOptions): Promise<ImportResult> {
  // Each file over 64 bytes is digested on the pool as soon as the walk lists it (reopened beneath
  // the source root, the inode listed); the workers store the files they hash from memory, the
  // rest is stored here, each digest once.
  const big: SourceNode[] = [];
  const digests: string[] = [];
  const opts: BulkDigestOptions = {
    hashAlg: store.hashAlg, blockSize: 4096, store: store.sink(),
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(options.pool !== undefined ? { pool: options.pool } : {}),
    ...(options.backend !== undefined ? { backend: options.backend } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  };
  const tally = new ObjectTally(store);
  try {
    for await (const d of digestFiles(listed(walk.files, big), opts)) {
      if (!d.ok) throw d.error;
      const n = big[d.index]!;
      if (d.size !== n.st.size) throw fileChanged(n.path, `size ${n.st.size} when listed, ${d.size} bytes digested`);
      digests[d.index] = d.hex;
      tally.note(d, n.ref!, identityOf(n.st));
    }
  } catch (err) {
    // Copies still running read through the walk's directory: let them end before it closes.
    await tally.settle();
    throw err;
  }
  await tally.finish();
  const objectOf = new Map<SourceNode, StoredObject>();
  big.forEach((n, i) => objectOf.set(n, tally.get(digests[i]!)!));

  const root = walk.root;
  const nodes = [...preorder(root)];
  const regular = nodes.filter((n) => n.st.kind === 'file');
  const small = regular.filter((n) => n.content !== undefined);
  const treeHasWhiteout = nodes.some(isWhiteout);
  let dump = '';
  for (const n of nodes) dump += `${formatDumpLine(dumpRecordOf(n, objectOf.get(n), n === root, treeHasWhiteout))}\n`;
  const objs = tally.objects();
  return {
    dump,
    files: { total: regular.length, stored: big.length, inline: small.length, empty: regular.length - big.length - small.length },
    objects: tally.counts(),
    objectPaths: objs.map((o) => o.objectPath).sort(),
  };
}

export { objectPayload };
