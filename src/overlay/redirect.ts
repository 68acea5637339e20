/**
 * `overlay.redirect` parsing, as overlayfs reads it (docs/FORMATS.md §3.4):
 *
 * - `ovl_get_redirect_xattr` (fs/overlayfs/util.c): an empty value is invalid (EINVAL); the value
 *   is then used as a C string (cut at the first NUL). Starting with `/` it is absolute and every
 *   component after a `/` must be non-empty (no `//`, no trailing `/`, not `/` alone); otherwise it
 *   must contain no `/` at all (a rename within the same directory). Invalid → EINVAL, and the
 *   lookup of the file fails (even stat).
 * - The data-only layers are reached only through an absolute redirect (`ovl_lookup`, namei.c:
 *   `d.metacopy && ctr && ofs->numdatalayer && d.absolute_redirect`); a metacopy file with a
 *   relative redirect or none fails its lookup with EIO ("metacopy with no lower data found").
 * - The data lookup (`ovl_lookup_data_layer`) is `vfs_path_lookup(layer root, redirect,
 *   LOOKUP_BENEATH | LOOKUP_NO_SYMLINKS | LOOKUP_NO_XDEV)`: the name goes through
 *   `getname_kernel`, which refuses PATH_MAX bytes or more (ENAMETOOLONG); a component longer than
 *   NAME_MAX is ENAMETOOLONG from the filesystem. `.`/`..` are walked, `..` at the layer root is
 *   EXDEV — see ./resolve.ts.
 * - `redirect_max` (default 256) limits redirects overlayfs *writes*, not the ones it reads.
 */
import { NAME_MAX, PATH_MAX } from './constants.js';

const SLASH = 0x2f;

export type Redirect =
  | { readonly kind: 'absent' }
  /** Valid absolute redirect: components in order (may include `.` and `..`, resolved later). */
  | { readonly kind: 'absolute'; readonly text: string; readonly components: readonly Uint8Array[] }
  /** Valid relative redirect (a name in the same directory): never reaches a data-only layer. */
  | { readonly kind: 'relative'; readonly text: string }
  | { readonly kind: 'invalid'; readonly reason: string };

/** Display form of redirect bytes (invalid UTF-8 shown as U+FFFD; use the bytes for lookups). */
export function redirectText(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/** Parses the stored value of `overlay.redirect` (`undefined` = xattr absent). */
export function parseRedirect(value: Uint8Array | undefined): Redirect {
  if (value === undefined) return { kind: 'absent' };
  if (!(value instanceof Uint8Array)) throw new TypeError(`redirect value must be a Uint8Array, got ${typeof value}`);
  if (value.length === 0) return { kind: 'invalid', reason: 'empty redirect (EINVAL at lookup)' };
  const nul = value.indexOf(0);
  // The kernel keeps the bytes before the first NUL (its buffer is zero-filled C string).
  const bytes = nul === -1 ? value : value.subarray(0, nul);
  const text = redirectText(bytes);
  if (bytes[0] !== SLASH) {
    if (bytes.includes(SLASH)) return { kind: 'invalid', reason: `relative redirect ${JSON.stringify(text)} contains "/" (EINVAL at lookup)` };
    return { kind: 'relative', text };
  }
  const components: Uint8Array[] = [];
  let start = 1;
  for (let i = 1; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== SLASH) continue;
    if (i === start) {
      const where = i === bytes.length ? 'a trailing "/"' : 'an empty component ("//")';
      return { kind: 'invalid', reason: `absolute redirect ${JSON.stringify(text)} has ${where} (EINVAL at lookup)` };
    }
    components.push(bytes.subarray(start, i));
    start = i + 1;
  }
  if (bytes.length >= PATH_MAX) {
    return { kind: 'invalid', reason: `redirect of ${bytes.length} bytes is not shorter than PATH_MAX ${PATH_MAX} (ENAMETOOLONG on open)` };
  }
  const long = components.find((c) => c.length > NAME_MAX);
  if (long !== undefined) {
    return { kind: 'invalid', reason: `redirect component of ${long.length} bytes is longer than NAME_MAX ${NAME_MAX} (ENAMETOOLONG on open)` };
  }
  return { kind: 'absolute', text, components };
}

/** True for the components `.` and `..`. */
export function isDot(c: Uint8Array): boolean {
  return c.length === 1 && c[0] === 0x2e;
}
export function isDotDot(c: Uint8Array): boolean {
  return c.length === 2 && c[0] === 0x2e && c[1] === 0x2e;
}
