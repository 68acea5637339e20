/**
 * `veritree digest --files-from=FILE|-`: the list of files to digest, read as a stream of bytes and
 * split on a separator byte (newline, or NUL with `-0`, as `xargs -0` and `find -print0` use).
 * Names stay bytes from the list to openat(2): a name that is not UTF-8 is opened (and reported)
 * exactly. Nothing is held beyond the name being assembled: the caller pulls names one by one,
 * so a list of millions streams through in bounded memory with back-pressure from the pool.
 */
import { isUtf8 } from 'node:buffer';
import { AT_FDCWD } from '../fs/dir.js';
import type { FileRef } from '../fs/open.js';
import type { FileSource } from '../pool/scheduler.js';
import { fromSystemError, fsErrnoError } from '../report/errno.js';
import { errorFromParts, type VeritreeError } from '../report/errors.js';

/** PATH_MAX: the kernel refuses a path of this many bytes or more (ENAMETOOLONG). */
export const PATH_MAX = 4096;

export const NEWLINE = 0x0a;
export const NUL = 0x00;

/** Why the reader stopped early (a read error), if it did. */
export interface ListState {
  error?: VeritreeError;
}

/**
 * Chunks of `stream` until it ends or `signal` aborts (then at once, even while a read is
 * pending: Ctrl-C must not wait for a producer upstream that is still thinking).
 */
export async function* chunksUntil(stream: AsyncIterable<Uint8Array | string>, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  if (signal.aborted) return;
  const it = stream[Symbol.asyncIterator]();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<'aborted'>((resolve) => {
    onAbort = () => resolve('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
  });
  let finished = false;
  try {
    for (;;) {
      const r = await Promise.race([it.next(), aborted]);
      if (r === 'aborted') return;
      if (r.done) {
        finished = true;
        return;
      }
      yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    }
  } finally {
    signal.removeEventListener('abort', onAbort!);
    // Stop reading. Not through the iterator: with a read pending, its return() would wait for
    // that read (async generators queue requests). Destroying the stream ends the read at once.
    if (!finished) {
      const destroy = (stream as { destroy?: () => void }).destroy;
      if (typeof destroy === 'function') destroy.call(stream);
      else void Promise.resolve(it.return?.()).catch(() => {});
    }
  }
}

/**
 * The files named by a list: one FileSource per non-empty name (empty names — blank lines, a
 * doubled separator — are skipped), relative to the working directory, a final symlink followed
 * as for names given on the command line. Names no file can have (PATH_MAX bytes or more, a NUL
 * inside a newline-separated name) come out as sources carrying their error. A read error ends
 * the list; it is left in `state.error` (the names before it are digested).
 */
export async function* listedFiles(chunks: AsyncIterable<Uint8Array>, separator: number, state: ListState, label: string): AsyncGenerator<FileSource> {
  // The name being assembled across chunks: at most PATH_MAX bytes are kept (a longer name cannot
  // be opened; its first bytes are enough to report it), so one separator-less stream cannot
  // grow memory without bound.
  let parts: Uint8Array[] = [];
  let kept = 0;
  let tooLong = false;
  const take = (piece: Uint8Array) => {
    const room = PATH_MAX - kept;
    if (piece.length > room) {
      tooLong = true;
      piece = piece.subarray(0, room);
    }
    if (piece.length === 0) return;
    parts.push(piece);
    kept += piece.length;
  };
  const finish = (): FileSource | undefined => {
    const one = parts.length === 1 ? parts[0]! : undefined;
    const name = one ? Buffer.from(one.buffer, one.byteOffset, one.byteLength) : Buffer.concat(parts, kept);
    const long = tooLong || name.length >= PATH_MAX;
    parts = [];
    kept = 0;
    tooLong = false;
    if (name.length === 0) return undefined;
    return listedFile(name, long, separator);
  };
  try {
    for await (const chunk of chunks) {
      let pos = 0;
      for (;;) {
        const at = chunk.indexOf(separator, pos);
        if (at < 0) {
          take(chunk.subarray(pos));
          break;
        }
        take(chunk.subarray(pos, at));
        pos = at + 1;
        const source = finish();
        if (source) yield source;
      }
    }
    // The last name needs no separator after it.
    const last = finish();
    if (last) yield last;
  } catch (err) {
    state.error = fromSystemError(err, label, 'read');
  }
}

/** `name` may be a view into the chunk read: nothing here keeps it. */
function listedFile(name: Buffer, tooLong: boolean, separator: number): FileSource {
  const path = name.toString('utf8');
  // A UTF-8 name travels as its text (encoded back to the same bytes for the call): cheap to send
  // to a worker. Other names as a copy of their own, not a view that would carry (and keep) the
  // chunk it was cut from.
  const utf8 = isUtf8(name);
  const exact = utf8 ? undefined : new Uint8Array(name);
  const ref: FileRef = { dirfd: AT_FDCWD, name: exact ?? path, path, follow: true };
  const base = exact ? { ref, pathBytes: exact } : { ref };
  if (tooLong) return { ...base, error: fsErrnoError('open', 'ENAMETOOLONG', path, `file name too long (${PATH_MAX} bytes or more; shown cut to its first ${PATH_MAX})`) };
  // The C call would stop at the NUL and open another file: no file name can hold one.
  if (separator !== NUL && name.includes(NUL))
    return { ...base, error: errorFromParts('not-found', 'the name holds a NUL byte, which no file name can (for a NUL-separated list give -0)', path) };
  return base;
}
