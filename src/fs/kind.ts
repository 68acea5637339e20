/**
 * What a directory entry or stat result is, in one vocabulary for every module (walkers, the
 * pool, kernel verbs, the CAS checker). Works on `fs.Stats`, `fs.BigIntStats` and `fs.Dirent`.
 */
export type FileKind = 'file' | 'directory' | 'symlink' | 'fifo' | 'socket' | 'char-device' | 'block-device' | 'unknown';

interface TypeQueries {
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}

export function kindOf(st: TypeQueries): FileKind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'char-device';
  if (st.isBlockDevice()) return 'block-device';
  return 'unknown';
}

// <sys/stat.h> S_IFMT bits.
const S_IFMT = 0o170000;
const MODE_KINDS: ReadonlyMap<number, FileKind> = new Map([
  [0o100000, 'file'],
  [0o040000, 'directory'],
  [0o120000, 'symlink'],
  [0o010000, 'fifo'],
  [0o140000, 'socket'],
  [0o020000, 'char-device'],
  [0o060000, 'block-device'],
]);

/** The kind in an `st_mode`. */
export function kindOfMode(mode: number): FileKind {
  return MODE_KINDS.get(mode & S_IFMT) ?? 'unknown';
}

// <dirent.h> d_type values.
const DTYPE_KINDS: readonly FileKind[] = ['unknown', 'fifo', 'char-device', 'unknown', 'directory', 'unknown', 'block-device', 'unknown', 'file', 'unknown', 'symlink', 'unknown', 'socket'];

/** The kind in a `d_type` (DT_UNKNOWN → 'unknown': ask statx). */
export function kindOfDtype(dtype: number): FileKind {
  return DTYPE_KINDS[dtype] ?? 'unknown';
}
