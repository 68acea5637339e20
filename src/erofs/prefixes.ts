/**
 * The long xattr name-prefix table (docs/FORMATS.md §5.4, "Bit 7 EROFS_XATTR_LONG_PREFIX"):
 * `xattr_prefix_count` records starting at byte `xattr_prefix_start * 4` of the packed inode's
 * data, or of the image itself when there is no packed inode. Each record is 4-byte aligned:
 * `__le16 len`, then `len` bytes = one base name-index byte and the infix.
 */
import type { ImageBytes } from './bytes.js';
import { alignUp, asciiBytes, concatBytes } from './bytes.js';
import { XATTR_PREFIXES } from './constants.js';

export interface LongPrefix {
  /** The short name index the prefix extends (1 = user., 4 = trusted., ...). */
  readonly baseIndex: number;
  /** Full prefix bytes: the base prefix followed by the infix. */
  readonly prefix: Uint8Array;
}

/** Reads `length` bytes at `offset` of wherever the table lives, bounds-checked. */
export type MetadataReader = (offset: number, length: number, what: string) => Uint8Array;

export function readLongPrefixes(bytes: ImageBytes, count: number, start: number, read: MetadataReader, tableBase: number): LongPrefix[] {
  const prefixes: LongPrefix[] = [];
  let pos = start * 4;
  for (let i = 0; i < count; i++) {
    pos = alignUp(pos, 4);
    const head = read(pos, 2, `long xattr prefix ${i} length`);
    const len = head[0]! | (head[1]! << 8);
    if (len < 1) bytes.fail(tableBase + pos, `long xattr prefix ${i} is empty`);
    const body = read(pos + 2, len, `long xattr prefix ${i}`);
    const baseIndex = body[0]!;
    const base = XATTR_PREFIXES[baseIndex];
    if (base === undefined) bytes.fail(tableBase + pos + 2, `long xattr prefix ${i} has unknown base index ${baseIndex}`);
    const infix = body.subarray(1);
    if (infix.includes(0)) bytes.fail(tableBase + pos + 2, `long xattr prefix ${i} contains a NUL byte`);
    prefixes.push({ baseIndex, prefix: concatBytes(asciiBytes(base), infix) });
    pos += 2 + len;
  }
  return prefixes;
}
