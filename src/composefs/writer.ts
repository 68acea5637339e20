/**
 * composefs image writer: a source directory or a composefs-dump(5) text → an EROFS composefs
 * image byte-identical to what `mkcomposefs` 1.0.8 writes from the same input and options.
 *
 * Implements docs/FORMATS.md §4.1 (object naming and the digest store), §4.2 (mkcomposefs
 * options and format-version rules), §4.4 (reading dump lines into a tree: hard links, inline
 * content, payloads), §4.6/§4.7 and §5.1–§5.6 through writer-erofs.ts (the on-disk layout).
 *
 * Directory input (`lcfs_build` + mkcomposefs' digest pass): symlinks are never followed; hard
 * links are not detected (each path is its own inode with nlink 1); xattrs come from
 * llistxattr/lgetxattr (`userXattrs`: only `user.*`; `skipXattrs`: none); `useEpoch` sets every
 * mtime to 0; `skipDevices` drops char and block devices (the whiteout included, so the version
 * stays at min). Regular files of 1..64 bytes are inlined, larger ones are referenced by their
 * fs-verity SHA-256 digest (computed on the worker pool), stored in `digestStore` if one is given
 * (through ObjectStore, as `veritree import` does), empty ones have neither. A socket is refused
 * (`import-unsupported`): it cannot be reproduced from an image (mkcomposefs would keep it).
 *
 * Dump input (`mkcomposefs --from-file`): lines are parsed with dump.ts; parents must come
 * before children; for an `@` (hard-link) line only PAYLOAD, the target path, is used; inline
 * content of up to 5000 bytes is kept. The directory-only options (`userXattrs`, `skipXattrs`,
 * `useEpoch`, `skipDevices`, `digestStore`) do not apply, as with mkcomposefs.
 *
 * Versions: with neither bound given the range is 0..1; giving one makes the other default to 0;
 * max below min is raised to min; a whiteout (char 0/0) raises the version to max.
 *
 * Errors are VeritreeErrors: `dump-invalid` ("dump line N: reason") for a bad line or a tree the
 * dump cannot describe, `import-unsupported` for a source entry that cannot be stored, the
 * system error codes (`permission-denied`, `not-found`, …) for an unreadable source, `usage`
 * for conflicting options. `writeImage` writes through a temporary file renamed into place: on
 * any failure nothing is left under the output name.
 */
import { parseDumpLine } from './dump.js';
import { ObjectStore, ObjectTally, identityOf, objectPayload } from './store.js';
import {
  DUMP_INLINE_CONTENT_MAX, FORMAT_VERSION_MAX, INLINE_CONTENT_MAX, PATH_MAX, S_IFBLK, S_IFCHR, S_IFDIR, S_IFLNK,
  S_IFSOCK, addChild, fileType, followLinks, isDir, lookupChild, newNode, serializeErofs, setXattr, validMode,
  type CfsNode, type TreeErrorFactory, type VersionRange,
} from './writer-erofs.js';
import { listed, walkSourceTree, type SourceNode, type SourceTree, type SourceWalk } from './source.js';
import { digestBytes } from '../merkle/file.js';
import { digestFiles, type BulkDigestOptions, type FileDigest } from '../pool/scheduler.js';
import { writeFileAtomic } from '../report/atomic-write.js';
import { dumpInvalid, fileChanged, importUnsupported, usageError } from '../report/errors.js';

export { INLINE_CONTENT_MAX, FORMAT_VERSION_MAX } from './writer-erofs.js';

export interface ImageOptions extends Pick<BulkDigestOptions, 'threads' | 'pool' | 'backend' | 'signal'> {
  /** Lowest format version (mkcomposefs --min-version). */
  readonly minVersion?: number;
  /** Highest format version (mkcomposefs --max-version). */
  readonly maxVersion?: number;
  /** Directory input: keep only `user.*` xattrs. */
  readonly userXattrs?: boolean;
  /** Directory input: keep no xattrs from the source. */
  readonly skipXattrs?: boolean;
  /** Directory input: every mtime 0. */
  readonly useEpoch?: boolean;
  /** Directory input: leave out char and block devices. */
  readonly skipDevices?: boolean;
  /** Directory input: copy the files referenced by digest into this object store. */
  readonly digestStore?: string;
  /**
   * Directory input: the objects' fs-verity hash (default sha256, what mkcomposefs writes; sha512
   * for composefs-rs SHA-512 repositories: 128-hex names, metacopy algorithm 2).
   */
  readonly objectHashAlg?: 'sha256' | 'sha512';
  /** fsync new objects before renaming them into place (default true; the image is always fsynced). */
  readonly fsync?: boolean;
}

export type ImageSource =
  | { readonly kind: 'directory'; readonly path: string }
  /** `text`: the dump bytes (a string is taken as latin1, one char per byte); `path` is informational. */
  | { readonly kind: 'dump'; readonly text: string | Uint8Array; readonly path?: string };

export interface ImageResult {
  readonly image: Buffer;
  /** fs-verity SHA-256 digest of the image (mkcomposefs --print-digest), lowercase hex. */
  readonly digest: string;
  /** composefs format version written. */
  readonly version: number;
  readonly inodes: number;
  /** Directory input: regular files seen / referenced by digest / inlined / empty. */
  readonly files: { readonly total: number; readonly external: number; readonly inline: number; readonly empty: number } | null;
  /** Directory input with a digest store: distinct objects, newly written, already present. */
  readonly objects: { readonly referenced: number; readonly added: number; readonly existing: number } | null;
}

const IMAGE_VERITY = { hashAlg: 'sha256', blockSize: 4096 } as const;
const NS_PER_S = 1_000_000_000n;

const u32 = (n: number) => Number(BigInt.asUintN(32, BigInt(n)));

/** The version range mkcomposefs uses for these options. */
export function versionRange(options: Pick<ImageOptions, 'minVersion' | 'maxVersion'>): VersionRange {
  if (options.minVersion === undefined && options.maxVersion === undefined) return { min: 0, max: FORMAT_VERSION_MAX };
  const min = options.minVersion ?? 0;
  const max = options.maxVersion ?? 0;
  for (const [what, v] of [['min', min], ['max', max]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > FORMAT_VERSION_MAX) throw usageError(`--${what}-version must be 0..${FORMAT_VERSION_MAX}, got ${v}`);
  }
  return { min, max: Math.max(min, max) };
}

function failFor(sourcePath: string | undefined): TreeErrorFactory {
  return (node, reason) => {
    const origin = node?.origin ?? null;
    if (origin !== null && 'line' in origin) return dumpInvalid(origin.line, reason);
    if (origin !== null && 'path' in origin) return importUnsupported(origin.path, reason);
    return sourcePath !== undefined ? importUnsupported(sourcePath, reason) : dumpInvalid(1, reason);
  };
}

// --- dump input ---------------------------------------------------------------------------------

interface HardlinkFixup {
  readonly node: CfsNode;
  readonly target: Buffer | null;
  readonly line: number;
}

/** Splits a path into its parent's components and its own name (leading and doubled `/` ignored). */
function splitDumpPath(p: Buffer): { dirs: Buffer[]; name: Buffer } {
  let start = 0;
  while (start < p.length && p[start] === 0x2f) start++;
  const rest = p.subarray(start);
  const slash = rest.lastIndexOf(0x2f);
  if (slash < 0) return { dirs: [], name: rest };
  const dirs: Buffer[] = [];
  let from = 0;
  for (let i = 0; i <= slash; i++) {
    if (rest[i] === 0x2f) {
      if (i > from) dirs.push(rest.subarray(from, i));
      from = i + 1;
    }
  }
  return { dirs, name: rest.subarray(slash + 1) };
}

function lookupPath(root: CfsNode, p: Buffer): CfsNode | undefined {
  let node: CfsNode | undefined = root;
  for (const part of p.toString('latin1').split('/')) {
    if (part === '') continue;
    node = lookupChild(node, Buffer.from(part, 'latin1'));
    if (node === undefined) return undefined;
  }
  return node;
}

function shown(p: Buffer): string {
  return JSON.stringify(p.toString('utf8'));
}

/**
 * The tree a composefs dump describes, built the way `mkcomposefs --from-file` builds it
 * (`tree_from_dump`): lines in any order as long as parents come first, hard links resolved at
 * the end (last line first).
 *
 * Long on purpose: one pass over the dump lines with the checks mkcomposefs makes, in its order.
 */
export function treeFromDump(text: string | Uint8Array): CfsNode {
  const data = typeof text === 'string' ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('latin1');
  const lines = data.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  let root: CfsNode | null = null;
  const fixups: HardlinkFixup[] = [];
  lines.forEach((line, i) => {
    const lineNo = i + 1;
    const nul = line.indexOf('\0');
    if (nul >= 0) throw dumpInvalid(lineNo, `embedded NUL byte at position ${nul}`);
    if (line.startsWith(' ') || line === '') throw dumpInvalid(lineNo, 'empty path');
    const rec = parseDumpLine(line, lineNo);
    const p = Buffer.from(rec.path);
    const isRoot = p.length === 0;
    const type = fileType(rec.mode);
    if (!validMode(rec.mode)) throw dumpInvalid(lineNo, `invalid mode ${rec.mode.toString(8)}`);
    const node = newNode(rec.mode, { line: lineNo });
    if (isRoot) {
      if (type !== S_IFDIR) throw dumpInvalid(lineNo, 'the root must be a directory');
      if (root !== null) throw dumpInvalid(lineNo, 'a second root ("/")');
      root = node;
    } else {
      if (root === null) throw dumpInvalid(lineNo, 'the root ("/") must come first');
      const { dirs, name } = splitDumpPath(p);
      let parent: CfsNode | undefined = root;
      for (const d of dirs) {
        parent = lookupChild(parent, d);
        if (parent === undefined) throw dumpInvalid(lineNo, `parent directory missing for ${shown(p)}`);
      }
      if (!isDir(parent) || parent.linkTo !== null) throw dumpInvalid(lineNo, `parent of ${shown(p)} is not a directory`);
      if (name.equals(Buffer.from('.')) || name.equals(Buffer.from('..'))) throw dumpInvalid(lineNo, `invalid . or .. in path ${shown(p)}`);
      const why = addChild(parent, node, name);
      if (why !== null) throw dumpInvalid(lineNo, `cannot add ${shown(p)}: ${why}`);
    }
    if (rec.hardlink) {
      if (type === S_IFDIR) throw dumpInvalid(lineNo, 'directories cannot be hard links');
      fixups.push({ node, target: rec.payload === null ? null : Buffer.from(rec.payload), line: lineNo });
      return;
    }
    if (type !== S_IFLNK) node.size = rec.size;
    node.nlink = u32(rec.nlink);
    node.uid = u32(rec.uid);
    node.gid = u32(rec.gid);
    if (type === S_IFCHR || type === S_IFBLK) node.rdev = u32(rec.rdev);
    node.mtimeSec = BigInt.asIntN(64, rec.mtimeSec);
    node.mtimeNsec = u32(rec.mtimeNsec);
    const content = rec.content === null ? null : Buffer.from(rec.content);
    if (content !== null && content.length !== rec.size) {
      throw dumpInvalid(lineNo, `content is ${content.length} bytes, size says ${rec.size}`);
    }
    const payload = rec.payload === null ? null : Buffer.from(rec.payload);
    if (payload !== null && payload.includes(0)) throw dumpInvalid(lineNo, 'payload contains a NUL byte');
    if (payload !== null && payload.length >= PATH_MAX) throw dumpInvalid(lineNo, `payload longer than ${PATH_MAX - 1} bytes`);
    if (type === S_IFLNK) {
      if (payload === null || payload.length === 0) throw dumpInvalid(lineNo, 'a symlink needs a non-empty target');
      node.payload = payload;
      node.size = payload.length;
    } else {
      node.payload = payload;
      if (content !== null) {
        if (content.length > DUMP_INLINE_CONTENT_MAX) {
          throw dumpInvalid(lineNo, `inline content of ${content.length} bytes exceeds ${DUMP_INLINE_CONTENT_MAX}`);
        }
        node.content = content.length > 0 ? content : null;
        node.size = content.length;
      }
    }
    if (rec.digest !== null) node.digest = rec.digest;
    for (const x of rec.xattrs) {
      const why = setXattr(node, Buffer.from(x.rawName), Buffer.from(x.value));
      if (why !== null) throw dumpInvalid(lineNo, `cannot set xattr ${shown(Buffer.from(x.rawName))}: ${why}`);
    }
  });
  if (root === null) throw dumpInvalid(1, 'no files in the dump');
  for (let i = fixups.length - 1; i >= 0; i--) {
    const f = fixups[i]!;
    if (f.target === null) throw dumpInvalid(f.line, 'a hard link needs its target path as PAYLOAD');
    const target = lookupPath(root, f.target);
    if (target === undefined) throw dumpInvalid(f.line, `no hard-link target at ${shown(f.target)}`);
    if (target === f.node) throw dumpInvalid(f.line, `hard link to itself (${shown(f.target)})`);
    // A target's NLINK is kept as its own line gives it.
    f.node.linkTo = target;
    if (followLinks(f.node) === null) throw dumpInvalid(f.line, `hard-link loop through ${shown(f.target)}`);
  }
  return root;
}

// --- directory input ----------------------------------------------------------------------------

/** A regular file of the source tree, for the content pass (inline bytes, or a digest). */
interface SourceFile {
  readonly node: CfsNode;
  readonly source: SourceNode;
}

/** What no composefs image can hold: a socket, an unknown file type, an empty or overlong symlink target. */
function checkSourceEntry(src: SourceNode): void {
  const { mode } = src.st;
  if (fileType(mode) === S_IFSOCK) throw importUnsupported(src.path, 'socket (cannot be stored in a composefs image)');
  if (!validMode(mode)) throw importUnsupported(src.path, `unknown file type (mode ${mode.toString(8)})`);
  if (src.target !== undefined && (src.target.length === 0 || src.target.length >= PATH_MAX)) throw importUnsupported(src.path, 'symlink target is empty or too long');
}

/**
 * The `CfsNode` of a source entry: type, owner, times and xattrs as mkcomposefs takes them
 * (`lcfs_load_node_from_file`), filtered by the xattr options. The entry was read race-free by
 * src/composefs/source.ts (names as bytes, nothing followed).
 */
function nodeFromSource(src: SourceNode, options: ImageOptions): CfsNode {
  const { mode } = src.st;
  checkSourceEntry(src);
  const node = newNode(mode, { path: src.path });
  node.uid = u32(src.st.uid);
  node.gid = u32(src.st.gid);
  node.rdev = src.st.rdev;
  node.size = src.st.size;
  if (options.useEpoch !== true) {
    let sec = src.st.mtimeNs / NS_PER_S;
    let nsec = src.st.mtimeNs % NS_PER_S;
    if (nsec < 0n) {
      nsec += NS_PER_S;
      sec -= 1n;
    }
    node.mtimeSec = sec;
    node.mtimeNsec = Number(nsec);
  }
  if (options.skipXattrs !== true) {
    for (const x of src.xattrs) {
      const name = Buffer.from(x.rawName);
      if (options.userXattrs === true && !name.toString('latin1').startsWith('user.')) continue;
      const why = setXattr(node, name, Buffer.from(x.value));
      if (why !== null) throw importUnsupported(src.path, `cannot store xattr ${JSON.stringify(name.toString())}: ${why}`);
    }
  }
  if (src.target !== undefined) {
    node.payload = src.target;
    node.size = src.target.length;
  }
  if (src.content !== undefined) node.content = src.content;
  return node;
}

/** A source tree (read like `lcfs_build`) as CfsNodes; regular files listed for the content pass. */
function treeFromSource(tree: SourceTree, options: ImageOptions): { root: CfsNode; files: SourceFile[] } {
  const root = nodeFromSource(tree.root, options);
  const files: SourceFile[] = [];
  const stack: { node: CfsNode; source: SourceNode }[] = [{ node: root, source: tree.root }];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    for (const child of dir.source.children) {
      if (options.skipDevices === true && (child.st.kind === 'char-device' || child.st.kind === 'block-device')) continue;
      const node = nodeFromSource(child, options);
      const why = addChild(dir.node, node, child.name);
      if (why !== null) throw importUnsupported(child.path, why);
      if (child.st.kind === 'directory') stack.push({ node, source: child });
      else if (child.st.kind === 'file') files.push({ node, source: child });
    }
  }
  return { root, files };
}


interface ContentPass {
  files: NonNullable<ImageResult['files']>;
  objects: ImageResult['objects'];
}

/**
 * Digests the files over 64 bytes on the pool as the walk lists them (small ones come inline),
 * storing them when a digest store is given; the results by source node, for `contentPass`.
 */
async function digestContent(walk: SourceWalk, options: ImageOptions): Promise<{ byNode: Map<SourceNode, FileDigestOk>; objects: ImageResult['objects'] }> {
  const store = options.digestStore !== undefined ? new ObjectStore(options.digestStore, { fsync: options.fsync !== false, hashAlg: options.objectHashAlg ?? 'sha256' }) : undefined;
  const tally = store ? new ObjectTally(store) : undefined;
  const big: SourceNode[] = [];
  const byNode = new Map<SourceNode, FileDigestOk>();
  try {
    const opts: BulkDigestOptions = {
      ...IMAGE_VERITY,
      hashAlg: options.objectHashAlg ?? 'sha256',
      // The workers store what they hash from memory; larger files are stored below.
      ...(store ? { store: store.sink() } : {}),
      ...(options.threads !== undefined ? { threads: options.threads } : {}),
      ...(options.pool !== undefined ? { pool: options.pool } : {}),
      ...(options.backend !== undefined ? { backend: options.backend } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    };
    // Each reopened beneath the source root, no symlink followed, the inode listed.
    for await (const d of digestFiles(listed(walk.files, big), opts)) {
      if (!d.ok) throw d.error;
      const n = big[d.index]!;
      if (d.size !== n.st.size) throw fileChanged(n.path, `size ${n.st.size} when listed, ${d.size} bytes digested`);
      byNode.set(n, d);
      tally?.note(d, n.ref!, identityOf(n.st));
    }
    await tally?.finish();
  } catch (err) {
    // Copies still running read through the walk's directory and write into the store: let them end.
    await tally?.settle();
    throw err;
  } finally {
    store?.close();
  }
  return { byNode, objects: tally ? tally.counts() : null };
}

type FileDigestOk = Extract<FileDigest, { ok: true }>;

/** Sets each external file's digest and payload from `byNode`; counts the files by kind. */
function contentPass(files: readonly SourceFile[], byNode: ReadonlyMap<SourceNode, FileDigestOk>, objects: ImageResult['objects']): ContentPass {
  let external = 0;
  let inline = 0;
  for (const f of files) {
    if (f.node.size > INLINE_CONTENT_MAX) {
      const d = byNode.get(f.source);
      if (!d) throw fileChanged(f.source.path, 'listed but never digested');
      f.node.digest = d.digest;
      f.node.payload = Buffer.from(objectPayload(d.hex));
      external++;
    } else if (f.node.size > 0) inline++;
  }
  return { files: { total: files.length, external, inline, empty: files.length - external - inline }, objects };
}

// --- entry points -------------------------------------------------------------------------------

function checkOptions(options: ImageOptions): VersionRange {
  if (options.skipXattrs === true && options.userXattrs === true) throw usageError('--skip-xattrs and --user-xattrs cannot be used together');
  return versionRange(options);
}

/** Builds the image in memory (mkcomposefs --print-digest-only, or before writing it). */
export async function buildImage(source: ImageSource, options: ImageOptions = {}): Promise<ImageResult> {
  const range = checkOptions(options);
  let root: CfsNode;
  let pass: ContentPass | null = null;
  let sourcePath: string | undefined;
  if (source.kind === 'directory') {
    if (typeof source.path !== 'string' || source.path.length === 0) throw usageError('empty source path');
    sourcePath = source.path;
    // What mkcomposefs refuses is refused as the walk lists it, before anything is hashed or stored.
    const walk = walkSourceTree(source.path, { check: (n) => checkSourceEntry(n) });
    try {
      const content = await digestContent(walk, options);
      const cfs = treeFromSource(walk, options);
      root = cfs.root;
      pass = contentPass(cfs.files, content.byNode, content.objects);
    } finally {
      walk.close();
    }
  } else {
    root = treeFromDump(source.text);
  }
  const { image, version, inodes } = serializeErofs(root, { version: range, fail: failFor(sourcePath) });
  const digest = digestBytes(image, IMAGE_VERITY, '<image>').hex;
  return { image, digest, version, inodes, files: pass?.files ?? null, objects: pass?.objects ?? null };
}

/**
 * Builds the image and writes it to `output` atomically (temporary file in the same directory,
 * fsync, rename). On failure no file is left under `output` (an existing one is kept as it was).
 */
export async function writeImage(source: ImageSource, output: string, options: ImageOptions = {}): Promise<ImageResult> {
  if (typeof output !== 'string' || output.length === 0) throw usageError('empty output path');
  const result = await buildImage(source, options);
  await writeFileAtomic(output, result.image);
  return result;
}
