/**
 * Finding a redirect's data file in the data-only layers the way overlayfs does
 * (`ovl_lookup_data_layers` / `ovl_lookup_data_layer`, fs/overlayfs/namei.c; docs/FORMATS.md §3.4):
 * layers in mount order, the first layer where the lookup succeeds wins, an error in one layer
 * just moves on to the next. Within a layer the walk is `vfs_path_lookup(root, redirect,
 * LOOKUP_BENEATH | LOOKUP_NO_SYMLINKS | LOOKUP_NO_XDEV)`, mirrored component by component with
 * lstat (never following anything):
 *
 * - `.` stays, `..` goes up, `..` at the layer root → EXDEV (escapes the layer);
 * - a symlink as an intermediate component → ELOOP (never followed, might lead out);
 * - a component on another filesystem (a mount point) → EXDEV;
 * - the last component is not followed either; if it is not a regular file → ENOENT.
 */
import fs from 'node:fs';
import { dataLayerUnusable, fromSystemError, type VeritreeError } from '../report/errors.js';
import { isDot, isDotDot } from './redirect.js';
import { kindOf, type FileKind } from '../walk/kind.js';

export type LayerMiss =
  | { readonly kind: 'missing'; readonly layer: string; readonly reason: string }
  | { readonly kind: 'not-regular'; readonly layer: string; readonly reason: string }
  | { readonly kind: 'escapes'; readonly layer: string; readonly reason: string }
  | { readonly kind: 'failed'; readonly layer: string; readonly reason: string; readonly error: VeritreeError };

export type Resolution =
  | { readonly ok: true; readonly path: string; readonly layer: string; readonly dev: number; readonly size: number }
  | { readonly ok: false; readonly misses: readonly LayerMiss[] };

/** A data layer: its root path and device (for LOOKUP_NO_XDEV). */
export interface DataLayer {
  readonly root: string;
  readonly dev: number;
}

const SLASH = Buffer.from('/');

const KIND_NAMES: Readonly<Record<FileKind, string>> = {
  file: 'a regular file',
  directory: 'a directory',
  symlink: 'a symlink',
  fifo: 'a FIFO',
  socket: 'a socket',
  'char-device': 'a character device',
  'block-device': 'a block device',
  unknown: 'not a regular file',
};

function typeName(st: fs.Stats): string {
  return KIND_NAMES[kindOf(st)];
}

/** Synchronous on purpose: one lstat of a cached dentry costs a microsecond, a promise hop ten. */
function lstatOrError(p: string | Buffer): fs.Stats | NodeJS.ErrnoException {
  try {
    return fs.lstatSync(p);
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
}

/** A component as a path string when it is UTF-8 (it round-trips), else its raw bytes. */
function componentName(c: Uint8Array): string | Buffer {
  const b = Buffer.from(c.buffer, c.byteOffset, c.byteLength);
  // Object names are ASCII (hex): skip the UTF-8 round trip, a few µs per component at scale.
  let ascii = true;
  for (let i = 0; i < b.length; i++) {
    if (b[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return b.toString('latin1');
  const s = b.toString('utf8');
  return Buffer.byteLength(s) === b.length && !s.includes('\uFFFD') ? s : Buffer.from(b);
}

function joinPath(root: string, parts: readonly (string | Buffer)[]): string | Buffer {
  if (parts.every((p) => typeof p === 'string')) return `${root}/${parts.join('/')}`;
  return Buffer.concat([Buffer.from(root), ...parts.flatMap((p) => [SLASH, Buffer.from(p)])]);
}

/**
 * Directories already found to be real directories (not symlinks) on their layer's device, by full
 * path. Tens of thousands of redirects share a few hundred `XX/` directories: with this set, a
 * lookup costs one lstat (the object) instead of one per component. Meant for one validation run:
 * it records what was seen, it does not watch for changes.
 */
export type ResolvedDirs = Set<string>;

/** Walks `components` below one layer root. */
export function resolveInLayer(layer: DataLayer, components: readonly Uint8Array[], dirs?: ResolvedDirs): Resolution {
  const stack: (string | Buffer)[] = [];
  const shown = (): string => [layer.root, ...stack.map((c) => c.toString())].join('/');
  const miss = (m: LayerMiss): Resolution => ({ ok: false, misses: [m] });
  for (let i = 0; i < components.length; i++) {
    const c = components[i]!;
    const last = i === components.length - 1;
    if (isDot(c) && !last) continue;
    if (isDotDot(c) && !last) {
      if (stack.length === 0) return miss({ kind: 'escapes', layer: layer.root, reason: '".." at the layer root leaves the layer (EXDEV)' });
      stack.pop();
      continue;
    }
    if (isDot(c) || isDotDot(c)) {
      // `.`/`..` as the last component name a directory (or leave the layer): never a file.
      if (isDotDot(c) && stack.length === 0) return miss({ kind: 'escapes', layer: layer.root, reason: '".." at the layer root leaves the layer (EXDEV)' });
      return miss({ kind: 'not-regular', layer: layer.root, reason: `redirect ends in "${Buffer.from(c).toString()}", a directory (ENOENT)` });
    }
    stack.push(componentName(c));
    const full = joinPath(layer.root, stack);
    if (!last && dirs !== undefined && typeof full === 'string' && dirs.has(full)) continue;
    const st = lstatOrError(full);
    if (!(st instanceof fs.Stats)) {
      const code = st.code;
      if (code === 'ENOENT') return miss({ kind: 'missing', layer: layer.root, reason: `${shown()} does not exist` });
      if (code === 'ENOTDIR') return miss({ kind: 'missing', layer: layer.root, reason: `${shown()}: a parent is not a directory` });
      const error = fromSystemError(st, shown(), 'stat');
      return miss({ kind: 'failed', layer: layer.root, reason: `${shown()}: ${error.message}`, error });
    }
    if (st.dev !== layer.dev) {
      return miss({ kind: 'escapes', layer: layer.root, reason: `${shown()} is on another filesystem (mount point; EXDEV)` });
    }
    if (!last) {
      if (st.isSymbolicLink()) return miss({ kind: 'escapes', layer: layer.root, reason: `${shown()} is a symlink inside the redirect path (never followed; ELOOP)` });
      if (!st.isDirectory()) return miss({ kind: 'missing', layer: layer.root, reason: `${shown()} is not a directory (ENOTDIR)` });
      if (dirs !== undefined && typeof full === 'string') dirs.add(full);
      continue;
    }
    if (!st.isFile()) return miss({ kind: 'not-regular', layer: layer.root, reason: `${shown()} is ${typeName(st)}, not a regular file (ENOENT)` });
    if (typeof full !== 'string') {
      // The pool opens objects by string path; such a name cannot be passed on faithfully.
      return miss({ kind: 'failed', layer: layer.root, reason: `${shown()}: object path is not valid UTF-8`, error: fromSystemError(new Error('object path is not valid UTF-8'), shown(), 'open') });
    }
    return { ok: true, path: full, layer: layer.root, dev: st.dev, size: st.size };
  }
  return miss({ kind: 'not-regular', layer: layer.root, reason: 'empty redirect path names the layer root' });
}

/** Tries each layer in order; the first hit wins, otherwise every layer's miss is returned. */
export function resolveInLayers(layers: readonly DataLayer[], components: readonly Uint8Array[], dirs?: ResolvedDirs): Resolution {
  const misses: LayerMiss[] = [];
  for (const layer of layers) {
    const r = resolveInLayer(layer, components, dirs);
    if (r.ok) return r;
    misses.push(...r.misses);
  }
  return { ok: false, misses };
}

/** Opens the layer roots (must be directories); throws with the path and reason. */
export async function openDataLayers(roots: readonly string[]): Promise<DataLayer[]> {
  if (roots.length === 0) throw new RangeError('at least one data layer is needed');
  const out: DataLayer[] = [];
  for (const root of roots) {
    if (typeof root !== 'string' || root.length === 0) throw new TypeError(`data layer must be a non-empty path, got ${JSON.stringify(root)}`);
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(root);
    } catch (err) {
      throw dataLayerUnusable(root, fromSystemError(err, root, 'stat').message);
    }
    if (!st.isDirectory()) throw dataLayerUnusable(root, 'not a directory');
    out.push({ root: root.length > 1 ? root.replace(/\/+$/, '') : root, dev: st.dev });
  }
  return out;
}
