/**
 * A source tree as a composefs builder reads it (mkcomposefs `lcfs_build`; docs/FORMATS.md §4.2):
 * every entry with its statx metadata, xattrs (llistxattr/lgetxattr, sorted by name) and symlink
 * target, children sorted by name (bytewise), nothing followed, hard links not detected. Used by
 * `import` (dump + object store) and `image create` (EROFS image) alike.
 *
 * Race-free (src/fs): directories are opened relative to their parent with O_NOFOLLOW and listed
 * from the descriptor; metadata, xattrs and link targets are read by name relative to that
 * descriptor; files of 1..64 bytes (inlined) are read while their directory is open; larger files
 * get a `ref` that reopens them beneath the root descriptor without following any symlink, and
 * must still be the inode listed. Names are bytes: a name that is not UTF-8 is read like any
 * other. The root descriptor stays open until `close()`.
 */
import { isUtf8 } from 'node:buffer';
import fs from 'node:fs';
import { openDirectory, openSubdirectory, readDirectory, type DirHandle } from '../fs/dir.js';
import { fsErrnoError } from '../report/errno.js';
import { closeFile, openRegularFile, type FileRef } from '../fs/open.js';
import { cPath, pathText } from '../fs/path.js';
import { statAt, type FileStat } from '../fs/stat.js';
import { getXattrSync, listXattrSync } from '../kernel/xattr.js';
import { fileChanged, VeritreeError, readFailed } from '../report/errors.js';

/** `LCFS_RECOMMENDED_INLINE_CONTENT_MAX`: files up to this size are inlined, never stored. */
export const INLINE_CONTENT_MAX = 64;

export interface SourceXattr {
  readonly rawName: Uint8Array;
  readonly value: Uint8Array;
}

export interface SourceNode {
  readonly name: Buffer;
  /** Absolute path inside the tree, raw bytes (the root is the empty buffer). */
  readonly rel: Buffer;
  /** The path on disk, for messages only. */
  readonly path: string;
  readonly st: FileStat;
  /** Sorted by name. */
  readonly xattrs: SourceXattr[];
  /** Sorted by name (bytewise). */
  readonly children: SourceNode[];
  /** Symlinks: the target bytes. */
  readonly target?: Buffer;
  /** Regular files of 1..64 bytes: their bytes. */
  readonly content?: Buffer;
  /** Regular files over 64 bytes: where to open them (beneath the root, the inode listed). */
  readonly ref?: FileRef;
}

export interface SourceTree {
  readonly root: SourceNode;
  /** Closes the root directory descriptor the nodes' refs are relative to. */
  close(): void;
}

/** `procPath` for an entry of an open directory, as exact bytes (names need not be UTF-8). */
function entryPath(dir: DirHandle, name: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`/proc/self/fd/${dir.fd}/`), name]);
}

function readXattrs(p: string | Buffer): SourceXattr[] {
  let names: string[];
  try {
    names = listXattrSync(p);
  } catch (err) {
    if (err instanceof VeritreeError && err.code === 'xattrs-not-supported') return [];
    throw err;
  }
  const out: SourceXattr[] = [];
  for (const name of names) {
    const value = getXattrSync(p, name);
    if (value !== undefined) out.push({ rawName: Buffer.from(name, 'utf8'), value });
  }
  return out.sort((a, b) => Buffer.compare(a.rawName as Buffer, b.rawName as Buffer));
}

/** Reads the whole of a small file through its directory, checking it is the inode listed. */
function readSmall(dir: DirHandle, name: Buffer, st: FileStat, path: string): Buffer {
  const { fd, stat } = openRegularFile({ dirfd: dir.fd, name, path, ino: st.ino });
  try {
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    if (got !== st.size || stat.size !== st.size) throw fileChanged(path, `size ${st.size} when listed, ${got} bytes read`);
    return buf;
  } finally {
    closeFile(fd);
  }
}

function nodeOf(dir: DirHandle, name: Buffer, rel: Buffer, root: DirHandle): SourceNode {
  const path = pathText(dir.child(name));
  const st = statAt(dir.fd, cPath(name));
  if (typeof st === 'number') throw fsErrnoError('stat', -st, path);
  const base = { name, rel, path, st, xattrs: readXattrs(entryPath(dir, name)), children: [] as SourceNode[] };
  if (st.kind === 'symlink') {
    let target: Buffer;
    try {
      target = fs.readlinkSync(entryPath(dir, name), { encoding: 'buffer' });
    } catch (err) {
      throw readFailed(path, `cannot read the symlink: ${(err as Error).message}`, err);
    }
    return { ...base, target };
  }
  if (st.kind === 'file' && st.size > 0 && st.size <= INLINE_CONTENT_MAX) return { ...base, content: readSmall(dir, name, st, path) };
  if (st.kind === 'file' && st.size > INLINE_CONTENT_MAX) {
    // A string when the bytes are UTF-8 (the same bytes again for the C calls): a ref crosses to
    // a pool worker, and a string clones cheaply where a view would carry its whole pooled buffer.
    const relName = rel.subarray(1);
    return { ...base, ref: { dirfd: root.fd, name: isUtf8(relName) ? relName.toString('utf8') : new Uint8Array(relName), path, ino: st.ino, beneath: true } };
  }
  return base;
}

/**
 * The tree below `rootPath` being read: `files` yields every regular file over 64 bytes as soon as
 * it is listed (so hashing it can start while the rest of the tree is read); `root` holds the
 * whole tree once `files` is exhausted. `close()` ends the reading where it is and closes the
 * root directory descriptor the refs are relative to.
 */
export interface SourceWalk extends SourceTree {
  readonly files: Generator<SourceNode, void, undefined>;
}

/**
 * Reads the tree below `rootPath` (a directory, not followed if it is a symlink), as it goes.
 * `check` sees every entry as it is listed: a builder refuses what it cannot take (a socket, say)
 * before any work is spent on the rest.
 */
export function walkSourceTree(rootPath: string, opts: { readonly check?: (node: SourceNode) => void } = {}): SourceWalk {
  const rootDir = openDirectory(rootPath);
  let root: SourceNode;
  try {
    root = {
      name: Buffer.alloc(0), rel: Buffer.alloc(0), path: rootPath, st: rootDir.stat,
      // The root's own xattrs: through its descriptor's directory entry is not possible (a
      // magic link), so by the path the caller gave, checked to be the directory opened.
      xattrs: readXattrs(rootPath), children: [],
    };
  } catch (err) {
    rootDir.release();
    throw err;
  }
  const files = listTree(root, rootDir, opts.check);
  let closed = false;
  return {
    root,
    files,
    close: () => {
      if (closed) return;
      closed = true;
      files.return();
      rootDir.release();
    },
  };
}

/** Depth first, children in name order; yields the files that get a `ref`. */
function* listTree(root: SourceNode, rootDir: DirHandle, check: ((node: SourceNode) => void) | undefined): Generator<SourceNode, void, undefined> {
  // A pending subdirectory keeps its parent open (at most one per level).
  const stack: { node: SourceNode; parent: DirHandle | undefined; dir?: DirHandle }[] = [{ node: root, parent: undefined, dir: rootDir.retain() }];
  try {
    while (stack.length > 0) {
      const item = stack.pop()!;
      let dir = item.dir;
      if (dir === undefined) {
        try {
          dir = openSubdirectory(item.parent!, item.node.name);
        } finally {
          item.parent!.release();
        }
        if (dir.stat.ino !== item.node.st.ino) {
          dir.release();
          throw fileChanged(item.node.path, 'directory replaced while the tree was read');
        }
      }
      try {
        const names: Buffer[] = [];
        for (const e of readDirectory(dir)) names.push(e.name);
        names.sort(Buffer.compare);
        const subdirs: SourceNode[] = [];
        for (const name of names) {
          const node = nodeOf(dir, name, Buffer.concat([item.node.rel, Buffer.from('/'), name]), rootDir);
          check?.(node);
          item.node.children.push(node);
          if (node.st.kind === 'directory') subdirs.push(node);
          else if (node.ref !== undefined) yield node;
        }
        for (let i = subdirs.length - 1; i >= 0; i--) stack.push({ node: subdirs[i]!, parent: dir.retain() });
      } finally {
        dir.release();
      }
    }
  } finally {
    // Ended early (an error, or close()): what is still pending lets go of its directories.
    for (const item of stack) {
      item.parent?.release();
      item.dir?.release();
    }
  }
}

/** The walk's files as pool sources, each also appended to `into` (its index is its result's). */
export function* listed(files: Iterable<SourceNode>, into: SourceNode[]): Generator<{ ref: FileRef }, void, undefined> {
  for (const n of files) {
    into.push(n);
    yield { ref: n.ref! };
  }
}

/** The tree in pre-order (parents before children, children in name order). */
export function* preorder(root: SourceNode): Generator<SourceNode> {
  const stack = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    yield n;
    for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]!);
  }
}

