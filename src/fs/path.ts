/**
 * Paths as bytes. Linux names are byte strings; veritree carries them as Buffers from the
 * directory listing to the system call, and turns them into text only to print them:
 *
 * - `pathText`: UTF-8 text (invalid sequences become U+FFFD: for messages and `path` fields);
 * - `pathFields`: `{ path, pathBytes? }` for machine output: `pathBytes` (base64 of the exact
 *   bytes) is present only when the name is not valid UTF-8, so `path` alone is then not exact;
 * - `escapeForLine`: GNU coreutils' `sha256sum` convention for one-line-per-file text output: a
 *   name holding `\`, a newline or a carriage return is written with `\\`, `\n`, `\r` and the line
 *   starts with `\`, so one line is always one file.
 */
import { isUtf8 } from 'node:buffer';

/** A path as given: text from the command line, or the exact bytes from a directory listing. */
export type PathLike = string | Uint8Array;

export function pathBytes(p: PathLike): Buffer {
  return typeof p === 'string' ? Buffer.from(p) : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
}

export function pathText(p: PathLike): string {
  return typeof p === 'string' ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('utf8');
}

const SLASH = 0x2f;

/** `dir/name`, without doubling a trailing slash of `dir` (so `/` + `x` is `/x`). */
export function joinPath(dir: Uint8Array, name: Uint8Array): Buffer {
  const slash = dir.length > 0 && dir[dir.length - 1] !== SLASH ? 1 : 0;
  const out = Buffer.allocUnsafe(dir.length + slash + name.length);
  out.set(dir, 0);
  if (slash) out[dir.length] = SLASH;
  out.set(name, dir.length + slash);
  return out;
}

/** The name with a trailing NUL, as the C calls take it (as is when it already ends in one). */
export function cPath(p: PathLike): Buffer {
  const b = pathBytes(p);
  if (b.length > 0 && b[b.length - 1] === 0) return b;
  const out = Buffer.allocUnsafe(b.length + 1);
  out.set(b, 0);
  out[b.length] = 0;
  return out;
}

/** The fields machine output carries for a path: exact when `pathBytes` is absent. */
export function pathFields(p: PathLike): { path: string; pathBytes?: string } {
  if (typeof p === 'string') return { path: p };
  const b = pathBytes(p);
  return isUtf8(b) ? { path: b.toString('utf8') } : { path: b.toString('utf8'), pathBytes: b.toString('base64') };
}

const LINE_ESCAPES = /[\\\n\r]/;

/** Whether text output has to escape this name (it holds `\`, `\n` or `\r`). */
function needsEscape(b: Uint8Array): boolean {
  for (const c of b) if (c === 0x5c || c === 0x0a || c === 0x0d) return true;
  return false;
}

/**
 * The name as it goes into a line of text output, and whether the line must start with `\`
 * (coreutils' checksum-file escaping). Bytes that are not UTF-8 are written as they are.
 */
export function escapeForLine(p: PathLike): { readonly escaped: boolean; readonly bytes: Buffer } {
  const b = pathBytes(p);
  if (!needsEscape(b)) return { escaped: false, bytes: b };
  const parts: number[] = [];
  for (const c of b) {
    if (c === 0x5c) parts.push(0x5c, 0x5c);
    else if (c === 0x0a) parts.push(0x5c, 0x6e);
    else if (c === 0x0d) parts.push(0x5c, 0x72);
    else parts.push(c);
  }
  return { escaped: true, bytes: Buffer.from(parts) };
}

/**
 * `PREFIX NAME\n` with the name escaped as `escapeForLine` says: as text when the line is plain
 * text (a name given as text without `\`, `\n` or `\r`: in UTF-8 those bytes only ever stand for
 * themselves, so the text test is the byte test), else as bytes. Hot (a line per file): a caller
 * gathering lines encodes the text once, straight into its output chunk (`LineChunks`).
 */
export function lineOf(prefix: string, p: PathLike, separator = ' '): string | Buffer {
  if (typeof p === 'string' && !LINE_ESCAPES.test(p)) return `${prefix}${separator}${p}\n`;
  const { escaped, bytes } = escapeForLine(p);
  return Buffer.concat([Buffer.from(`${escaped ? '\\' : ''}${prefix}${separator}`), bytes, Buffer.from('\n')]);
}
