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
import fs from 'node:fs';
import path from 'node:path';
import { formatDumpLine, type DumpRecord } from './dump.js';
import { ObjectStore, identityOf, objectPayload, type StoredObject } from './store.js';
import { getXattrSync, listXattrSync } from '../kernel/index.js';
import { digestFiles, type BulkDigestOptions } from '../pool/scheduler.js';
import { fileChanged, fromSystemError, importUnsupported, VeritreeError } from '../report/errors.js';

/** `LCFS_RECOMMENDED_INLINE_CONTENT_MAX`: files up to this size are inlined, never stored. */
export const INLINE_CONTENT_MAX = 64;
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
const STORE_CONCURRENCY = 4;

export interface ImportOptions extends Pick<BulkDigestOptions, 'threads' | 'pool' | 'backend' | 'signal'> {
  /** fsync new objects (default true). */
  readonly fsync?: boolean;
}

interface SourceNode {
  readonly name: Buffer;
  /** Absolute path inside the tree, raw bytes (`/` for the root is the empty buffer). */
  readonly rel: Buffer;
  readonly fsPath: string;
  readonly st: fs.BigIntStats;
  readonly xattrs: { rawName: Uint8Array; value: Uint8Array }[];
  readonly children: SourceNode[];
  target?: Buffer;
  content?: Buffer;
  object?: StoredObject;
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

function utf8Path(raw: Buffer, where: string): string {
  const s = raw.toString('utf8');
  if (!Buffer.from(s, 'utf8').equals(raw)) throw importUnsupported(where, 'file name is not valid UTF-8 (not supported)');
  return s;
}

function readXattrs(p: string): { rawName: Uint8Array; value: Uint8Array }[] {
  let names: string[];
  try {
    names = listXattrSync(p);
  } catch (err) {
    if (err instanceof VeritreeError && err.code === 'xattrs-not-supported') return [];
    throw err;
  }
  const out: { rawName: Uint8Array; value: Uint8Array }[] = [];
  for (const name of names) {
    const value = getXattrSync(p, name);
    if (value !== undefined) out.push({ rawName: Buffer.from(name, 'utf8'), value });
  }
  return out.sort((a, b) => Buffer.compare(a.rawName as Buffer, b.rawName as Buffer));
}

async function readTree(root: string): Promise<SourceNode> {
  const st = await fs.promises.lstat(root, { bigint: true }).catch((err: unknown) => {
    throw fromSystemError(err, root, 'stat');
  });
  if (!st.isDirectory()) throw new VeritreeError('not-a-directory', 'not a directory', { path: root });
  const top: SourceNode = { name: Buffer.alloc(0), rel: Buffer.alloc(0), fsPath: root, st, xattrs: readXattrs(root), children: [] };
  const stack = [top];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let names: Buffer[];
    try {
      names = await fs.promises.readdir(dir.fsPath, { encoding: 'buffer' });
    } catch (err) {
      throw fromSystemError(err, dir.fsPath, 'read');
    }
    names.sort(Buffer.compare);
    for (const name of names) {
      const rel = Buffer.concat([dir.rel, Buffer.from('/'), name]);
      const fsPath = path.join(dir.fsPath, utf8Path(name, path.join(dir.fsPath, name.toString('utf8'))));
      const cst = await fs.promises.lstat(fsPath, { bigint: true }).catch((err: unknown) => {
        throw fromSystemError(err, fsPath, 'stat');
      });
      const node: SourceNode = { name, rel, fsPath, st: cst, xattrs: readXattrs(fsPath), children: [] };
      if (cst.isSymbolicLink()) node.target = await fs.promises.readlink(fsPath, { encoding: 'buffer' });
      dir.children.push(node);
      if (cst.isDirectory()) stack.push(node);
    }
  }
  return top;
}

function* preorder(root: SourceNode): Generator<SourceNode> {
  const stack = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    yield n;
    for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]!);
  }
}

const isWhiteout = (n: SourceNode) => fileType(Number(n.st.mode)) === S_IFCHR && n.st.rdev === 0n;

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

function dumpRecordOf(n: SourceNode, isRoot: boolean, treeHasWhiteout: boolean): DumpRecord {
  const mode = Number(n.st.mode);
  const type = fileType(mode);
  const xattrs = [...n.xattrs];
  let size = 0;
  let nlink = 1;
  if (type === S_IFDIR) {
    size = composefsDirSize(n.children.map((c) => c.name), isRoot);
    nlink = 2 + n.children.filter((c) => c.st.isDirectory()).length;
    if (treeHasWhiteout && n.children.some(isWhiteout)) {
      for (const name of WHITEOUT_PARENT_XATTRS) {
        if (!xattrs.some((x) => Buffer.from(x.rawName).toString() === name)) xattrs.push({ rawName: Buffer.from(name), value: Buffer.from('x') });
      }
      xattrs.sort((a, b) => Buffer.compare(Buffer.from(a.rawName), Buffer.from(b.rawName)));
    }
  } else if (type === S_IFREG) {
    size = Number(n.st.size);
  } else if (type === S_IFLNK) {
    size = n.target!.length;
  }
  const rdev = type === S_IFCHR || type === S_IFBLK ? Number(BigInt.asUintN(32, n.st.rdev)) : 0;
  const sec = n.st.mtimeNs / 1_000_000_000n;
  const nsec = Number(n.st.mtimeNs % 1_000_000_000n);
  return {
    path: n.rel,
    size,
    mode,
    nlink,
    uid: Number(n.st.uid),
    gid: Number(n.st.gid),
    rdev,
    mtimeSec: sec,
    mtimeNsec: nsec,
    payload: type === S_IFLNK ? n.target! : n.object ? Buffer.from(n.object.payload) : null,
    content: n.content ?? null,
    digest: n.object ? Buffer.from(n.object.digest, 'hex') : null,
    xattrs,
    hardlink: false,
  };
}

async function readInline(n: SourceNode): Promise<Buffer> {
  const data = await fs.promises.readFile(n.fsPath, { flag: fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW }).catch((err: unknown) => {
    throw fromSystemError(err, n.fsPath, 'read');
  });
  if (data.length !== Number(n.st.size)) throw fileChanged(n.fsPath, `size ${n.st.size} when listed, ${data.length} bytes read`);
  return data;
}

async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Imports `src` into `store`; returns the dump text and counts. Throws on the first failure. */
export async function importTree(src: string, store: ObjectStore, options: ImportOptions = {}): Promise<ImportResult> {
  if (typeof src !== 'string' || src.length === 0) throw new TypeError(`source must be a non-empty path, got ${JSON.stringify(src)}`);
  if (!(store instanceof ObjectStore)) throw new TypeError('importTree needs an ObjectStore');
  const root = await readTree(src);
  const nodes = [...preorder(root)];
  const regular = nodes.filter((n) => n.st.isFile());
  const big = regular.filter((n) => Number(n.st.size) > INLINE_CONTENT_MAX);
  const small = regular.filter((n) => n.st.size > 0n && Number(n.st.size) <= INLINE_CONTENT_MAX);

  await mapLimit(small, STORE_CONCURRENCY, async (n) => {
    n.content = await readInline(n);
  });

  // Digest the big files on the pool, then store each distinct digest once.
  const digests = new Array<string>(big.length);
  const opts: BulkDigestOptions = {
    hashAlg: 'sha256', blockSize: 4096,
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(options.pool !== undefined ? { pool: options.pool } : {}),
    ...(options.backend !== undefined ? { backend: options.backend } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  };
  for await (const d of digestFiles(big.map((n) => n.fsPath), opts)) {
    if (!d.ok) throw d.error;
    const n = big[d.index]!;
    if (d.size !== Number(n.st.size)) throw fileChanged(n.fsPath, `size ${n.st.size} when listed, ${d.size} bytes digested`);
    digests[d.index] = d.hex;
  }
  const firstByDigest = new Map<string, number>();
  digests.forEach((hex, i) => {
    if (!firstByDigest.has(hex)) firstByDigest.set(hex, i);
  });
  const stored = new Map<string, StoredObject>();
  await mapLimit([...firstByDigest.entries()], STORE_CONCURRENCY, async ([hex, i]) => {
    const n = big[i]!;
    stored.set(hex, await store.addDigested(n.fsPath, hex, identityOf(n.st)));
  });
  big.forEach((n, i) => {
    n.object = stored.get(digests[i]!)!;
  });

  const treeHasWhiteout = nodes.some(isWhiteout);
  let dump = '';
  for (const n of nodes) dump += `${formatDumpLine(dumpRecordOf(n, n === root, treeHasWhiteout))}\n`;
  const objs = [...stored.values()];
  return {
    dump,
    files: { total: regular.length, stored: big.length, inline: small.length, empty: regular.length - big.length - small.length },
    objects: { referenced: objs.length, added: objs.filter((o) => o.added).length, existing: objs.filter((o) => !o.added).length },
    objectPaths: objs.map((o) => o.objectPath).sort(),
  };
}

export { objectPayload };
