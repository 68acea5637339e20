/**
 * Finding a redirect's data file in the data-only layers the way overlayfs does
 * (`ovl_lookup_data_layers` / `ovl_lookup_data_layer`, fs/overlayfs/namei.c; docs/FORMATS.md §3.4):
 * layers in mount order, the first layer where the lookup succeeds wins, an error in one layer
 * just moves on to the next. Within a layer the walk is `vfs_path_lookup(root, redirect,
 * LOOKUP_BENEATH | LOOKUP_NO_SYMLINKS | LOOKUP_NO_XDEV)`, mirrored component by component with
 * openat(O_DIRECTORY | O_NOFOLLOW) from the layer root's descriptor and statx on the last name,
 * never following anything, so no path swapped meanwhile can lead the lookup out of the layer:
 *
 * - `.` stays, `..` goes up, `..` at the layer root → EXDEV (escapes the layer);
 * - a symlink as an intermediate component → ELOOP (never followed, might lead out);
 * - a component on another filesystem (a mount point) → EXDEV;
 * - the last component is not followed either; if it is not a regular file → ENOENT.
 */
import { openDirectory, openSubdirectory, type DirHandle } from '../fs/dir.js';
import { fsErrnoError } from '../report/errno.js';
import type { FileKind } from '../fs/kind.js';
import type { FileRef } from '../fs/open.js';
import { statAt } from '../fs/stat.js';
import { dataLayerUnusable, VeritreeError, kernelError } from '../report/errors.js';
import { isDot, isDotDot } from './redirect.js';

export type LayerMiss =
  | { readonly kind: 'missing'; readonly layer: string; readonly reason: string }
  | { readonly kind: 'not-regular'; readonly layer: string; readonly reason: string }
  | { readonly kind: 'escapes'; readonly layer: string; readonly reason: string }
  | { readonly kind: 'failed'; readonly layer: string; readonly reason: string; readonly error: VeritreeError };

/**
 * A hit: the object as a name relative to its directory's descriptor (held open by the layer
 * until `closeDataLayers`), with the inode found, so it is opened, measured and hashed exactly
 * where the lookup found it.
 */
export type Resolution =
  | { readonly ok: true; readonly path: string; readonly ref: FileRef; readonly layer: string; readonly dev: string; readonly size: number }
  | { readonly ok: false; readonly misses: readonly LayerMiss[] };

/**
 * A data layer: its root path (for messages), its open root directory and device (for
 * LOOKUP_NO_XDEV), and the directories below it already opened (by component path).
 */
export interface DataLayer {
  readonly root: string;
  readonly dev: string;
  readonly dir: DirHandle;
  /**
   * Directories already opened below the root, by component path: tens of thousands of redirects
   * share a few hundred `XX/` directories, so a lookup costs one statx (the object) instead of one
   * open per component. Held until closeDataLayers: meant for one validation run.
   */
  readonly dirs: Map<string, DirHandle>;
}

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

const ENOENT = 2;
const ENOTDIR = 20;

/** Walks `components` below one layer root, one component at a time from open directories. */
export function resolveInLayer(layer: DataLayer, components: readonly Uint8Array[]): Resolution {
  // The directories walked so far (key: component path below the root; '' is the root).
  const stack: { key: string; dir: DirHandle }[] = [{ key: '', dir: layer.dir }];
  const names: string[] = [];
  const shown = (): string => [layer.root, ...names].join('/');
  const miss = (m: LayerMiss): Resolution => ({ ok: false, misses: [m] });
  for (let i = 0; i < components.length; i++) {
    const c = components[i]!;
    const last = i === components.length - 1;
    if (isDot(c) && !last) continue;
    if (isDotDot(c) && !last) {
      if (stack.length === 1) return miss({ kind: 'escapes', layer: layer.root, reason: '".." at the layer root leaves the layer (EXDEV)' });
      stack.pop();
      names.pop();
      continue;
    }
    if (isDot(c) || isDotDot(c)) {
      // `.`/`..` as the last component name a directory (or leave the layer): never a file.
      if (isDotDot(c) && stack.length === 1) return miss({ kind: 'escapes', layer: layer.root, reason: '".." at the layer root leaves the layer (EXDEV)' });
      return miss({ kind: 'not-regular', layer: layer.root, reason: `redirect ends in "${Buffer.from(c).toString()}", a directory (ENOENT)` });
    }
    const parent = stack[stack.length - 1]!;
    const name = Buffer.from(c.buffer, c.byteOffset, c.byteLength);
    names.push(name.toString());
    if (!last) {
      // latin1 keys: one byte, one char, so distinct byte names never share a key.
      const key = `${parent.key}/${name.toString('latin1')}`;
      let dir = layer.dirs.get(key);
      if (dir === undefined) {
        const opened = openChildDirectory(layer, parent.dir, name, shown());
        if ('kind' in opened) return miss(opened);
        dir = opened;
        layer.dirs.set(key, dir);
      }
      stack.push({ key, dir });
      continue;
    }
    const st = statAt(parent.dir.fd, cName(name));
    if (typeof st === 'number') return miss(statMiss(layer, -st, shown()));
    if (st.dev !== layer.dev) return miss({ kind: 'escapes', layer: layer.root, reason: `${shown()} is on another filesystem (mount point; EXDEV)` });
    if (st.kind !== 'file') return miss({ kind: 'not-regular', layer: layer.root, reason: `${shown()} is ${KIND_NAMES[st.kind]}, not a regular file (ENOENT)` });
    const path = shown();
    return { ok: true, path, ref: { dirfd: parent.dir.fd, name, path, ino: st.ino }, layer: layer.root, dev: st.dev, size: st.size };
  }
  return miss({ kind: 'not-regular', layer: layer.root, reason: 'empty redirect path names the layer root' });
}

function cName(name: Buffer): Buffer {
  return Buffer.concat([name, Buffer.of(0)]);
}

/** An intermediate component: a real directory on the layer's device, or why not. */
function openChildDirectory(layer: DataLayer, parent: DirHandle, name: Buffer, shown: string): DirHandle | LayerMiss {
  try {
    const dir = openSubdirectory(parent, name);
    if (dir.stat.dev === layer.dev) return dir;
    dir.release();
    return { kind: 'escapes', layer: layer.root, reason: `${shown} is on another filesystem (mount point; EXDEV)` };
  } catch {
    // Why it is not an openable directory: say what it is (never following it).
    const st = statAt(parent.fd, cName(name));
    if (typeof st === 'number') return statMiss(layer, -st, shown);
    if (st.kind === 'symlink') return { kind: 'escapes', layer: layer.root, reason: `${shown} is a symlink inside the redirect path (never followed; ELOOP)` };
    if (st.kind !== 'directory') return { kind: 'missing', layer: layer.root, reason: `${shown} is not a directory (ENOTDIR)` };
    const error = kernelError('permission-denied', 'cannot open the directory', { path: shown });
    return { kind: 'failed', layer: layer.root, reason: `${shown}: ${error.message}`, error };
  }
}

function statMiss(layer: DataLayer, errno: number, shown: string): LayerMiss {
  if (errno === ENOENT) return { kind: 'missing', layer: layer.root, reason: `${shown} does not exist` };
  if (errno === ENOTDIR) return { kind: 'missing', layer: layer.root, reason: `${shown}: a parent is not a directory` };
  const error = fsErrnoError('stat', errno, shown);
  return { kind: 'failed', layer: layer.root, reason: `${shown}: ${error.message}`, error };
}

/** Tries each layer in order; the first hit wins, otherwise every layer's miss is returned. */
export function resolveInLayers(layers: readonly DataLayer[], components: readonly Uint8Array[]): Resolution {
  const misses: LayerMiss[] = [];
  for (const layer of layers) {
    const r = resolveInLayer(layer, components);
    if (r.ok) return r;
    misses.push(...r.misses);
  }
  return { ok: false, misses };
}

/** Opens the layer roots (must be directories); throws with the path and reason. */
export async function openDataLayers(roots: readonly string[]): Promise<DataLayer[]> {
  if (roots.length === 0) throw new RangeError('at least one data layer is needed');
  const out: DataLayer[] = [];
  try {
    for (const root of roots) {
      if (typeof root !== 'string' || root.length === 0) throw new TypeError(`data layer must be a non-empty path, got ${JSON.stringify(root)}`);
      let dir: DirHandle;
      try {
        dir = openDirectory(root, { follow: true });
      } catch (err) {
        throw dataLayerUnusable(root, err instanceof VeritreeError ? err.message : String(err));
      }
      out.push({ root: root.length > 1 ? root.replace(/\/+$/, '') : root, dev: dir.stat.dev, dir, dirs: new Map() });
    }
  } catch (err) {
    closeDataLayers(out);
    throw err;
  }
  return out;
}

/** Closes the layers' directory descriptors (after every object they resolved was judged). */
export function closeDataLayers(layers: readonly DataLayer[]): void {
  for (const layer of layers) {
    for (const d of layer.dirs.values()) d.release();
    layer.dirs.clear();
    layer.dir.release();
  }
}
