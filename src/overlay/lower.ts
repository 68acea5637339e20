/**
 * The lower (metadata) layer as the validator sees it: every path with its file type and its
 * overlay xattrs exactly as stored — escaped `…overlay.overlay.X` names included, so that only the
 * unescaped ones get interpreted (docs/FORMATS.md §3.7). Two sources: a composefs image read in
 * userspace (src/erofs), or a real directory read with lgetxattr (src/kernel), never following
 * symlinks.
 */
import path from 'node:path';
import type { ErofsImage } from '../erofs/index.js';
import { getXattrSync, listXattrSync } from '../kernel/index.js';
import { VeritreeError, asVeritreeError } from '../report/errors.js';
import { walk } from '../fs/walk.js';
import { procPath } from '../fs/open.js';
import { XATTR_PREFIXES, type XattrPrefixName } from './constants.js';

export type LowerType = 'file' | 'directory' | 'symlink' | 'other';

export interface LowerEntry {
  /** Absolute from the layer root: `/a/b`. */
  readonly path: string;
  readonly type: LowerType;
  /** xattrs whose name starts with `trusted.overlay.` or `user.overlay.`, as stored (first one wins). */
  readonly xattrs: ReadonlyMap<string, Uint8Array>;
  /** The entry could not be read (walk or xattr failure). */
  readonly error?: VeritreeError;
}

const OVERLAY_PREFIXES = Object.values(XATTR_PREFIXES);

export function isOverlayXattr(name: string): boolean {
  return OVERLAY_PREFIXES.some((p) => name.startsWith(p));
}

export function lowerType(t: string): LowerType {
  return t === 'file' || t === 'directory' || t === 'symlink' ? t : 'other';
}

/**
 * Entries of an EROFS (composefs) image as the kernel's overlayfs sees them through the EROFS
 * mount: the raw tree in dirent order, streamed while it is read, so checking (and hashing) starts
 * with the first entries instead of after a full parse. Loops, directory hard links and
 * out-of-bounds structures still end the walk with `image-invalid` where they are met.
 */
export function* erofsEntries(image: ErofsImage): Generator<LowerEntry> {
  for (const e of image.walk()) {
    if (e.dirent === null) continue; // the root is never looked up
    const xattrs = new Map<string, Uint8Array>();
    for (const x of image.xattrs(e.inode)) {
      if (isOverlayXattr(x.name) && !xattrs.has(x.name)) xattrs.set(x.name, x.value);
    }
    yield { path: e.path, type: lowerType(e.inode.type), xattrs };
  }
}

/** Entries of a real directory tree, xattrs read with llistxattr/lgetxattr. */
export async function* directoryEntries(root: string): AsyncGenerator<LowerEntry> {
  const base = path.resolve(root);
  for await (const e of walk(base, { directories: true })) {
    const rel = `/${path.relative(base, e.path)}`;
    if (e.type === 'error') {
      yield { path: rel, type: 'other', xattrs: new Map(), error: e.error };
      continue;
    }
    const type = lowerType(e.type);
    if (type === 'other') {
      yield { path: rel, type, xattrs: new Map() };
      continue;
    }
    try {
      // Through the walked directory's descriptor: a directory swapped meanwhile cannot redirect it.
      yield { path: rel, type, xattrs: readOverlayXattrs(procPath({ dirfd: e.dir.fd, name: e.name, path: e.path })) };
    } catch (err) {
      const error = asVeritreeError(err, e.path);
      // No xattr support on this filesystem = no overlay xattrs, like the kernel's EOPNOTSUPP.
      if (error.code === 'xattrs-not-supported') yield { path: rel, type, xattrs: new Map() };
      else yield { path: rel, type, xattrs: new Map(), error };
    }
  }
}

function readOverlayXattrs(file: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const name of listXattrSync(file)) {
    if (!isOverlayXattr(name)) continue;
    const v = getXattrSync(file, name);
    if (v !== undefined) out.set(name, v);
  }
  return out;
}

/** The prefix an entry commits `auto` to: the kind of its unescaped metacopy/redirect (trusted first). */
export function prefixOf(e: LowerEntry): XattrPrefixName | undefined {
  for (const kind of ['trusted', 'user'] as const) {
    const p = XATTR_PREFIXES[kind];
    if (e.xattrs.has(`${p}metacopy`) || e.xattrs.has(`${p}redirect`)) return kind;
  }
  return undefined;
}

/**
 * `auto`: the prefix of the first entry that carries an unescaped metacopy or redirect (a mount
 * uses one prefix for every file); trusted — what composefs writes — when none does.
 */
export function choosePrefix(entries: Iterable<LowerEntry>, wanted: XattrPrefixName | 'auto'): XattrPrefixName {
  if (wanted !== 'auto') return wanted;
  for (const e of entries) {
    const p = prefixOf(e);
    if (p !== undefined) return p;
  }
  return 'trusted';
}
