/**
 * File data of an uncompressed EROFS inode (docs/FORMATS.md §5.6): FLAT_PLAIN blocks, FLAT_INLINE
 * blocks plus the inline tail, and CHUNK_BASED chunk tables with 4-byte block addresses or
 * 8-byte chunk indexes, where EROFS_NULL_ADDR is a hole that reads as zeros.
 */
import { invalidArgument } from '../report/errors.js';
import type { ImageBytes } from './bytes.js';
import type { ErofsInode } from './inode.js';
import type { Superblock } from './superblock.js';
import { EROFS_NULL_ADDR, LAYOUT_CHUNK_BASED, LAYOUT_FLAT_INLINE, LAYOUT_FLAT_PLAIN } from './constants.js';

/** A run of file bytes: where it lives in the image (null = hole) and how long it is. */
export interface DataRun {
  readonly imageOffset: number | null;
  readonly length: number;
}

/**
 * The largest single read `readData` serves. Images are small and composefs files are sparse,
 * so this only stops a caller from materialising a huge hole by accident.
 */
export const MAX_READ_BYTES = 256 * 1024 * 1024;

/** Maps file position `pos` (< inode.size) to the contiguous run that starts there. */
export function mapPosition(bytes: ImageBytes, sb: Superblock, inode: ErofsInode, pos: number): DataRun {
  const remaining = inode.size - pos;
  const blk = sb.blockSize;
  switch (inode.layout) {
    case LAYOUT_FLAT_PLAIN:
      return { imageOffset: inode.rawBlockAddr * blk + pos, length: remaining };
    case LAYOUT_FLAT_INLINE: {
      const plain = inode.size - inode.tailSize;
      if (pos < plain) return { imageOffset: inode.rawBlockAddr * blk + pos, length: plain - pos };
      return { imageOffset: inode.tailOffset + (pos - plain), length: remaining };
    }
    case LAYOUT_CHUNK_BASED: {
      const table = inode.chunks;
      if (table === null) return bytes.fail(inode.offset, `inode ${inode.nid}: chunk-based data without a chunk table`);
      const chunkSize = 2 ** table.chunkBits;
      const index = Math.floor(pos / chunkSize);
      const within = pos - index * chunkSize;
      const length = Math.min(chunkSize - within, remaining);
      const entry = table.offset + index * table.entrySize;
      let blockAddr: number;
      if (table.indexes) {
        const device = bytes.u16(entry + 2, 'chunk index device_id');
        blockAddr = bytes.u32(entry + 4, 'chunk index blkaddr');
        if (blockAddr !== EROFS_NULL_ADDR && device !== 0) {
          bytes.fail(entry, `inode ${inode.nid}: chunk ${index} lives on extra device ${device}, which is not supported`);
        }
      } else {
        blockAddr = bytes.u32(entry, 'chunk block address');
      }
      if (blockAddr === EROFS_NULL_ADDR) return { imageOffset: null, length };
      const at = blockAddr * blk + within;
      bytes.need(at, length, `inode ${inode.nid}: chunk ${index} data at block ${blockAddr}`);
      return { imageOffset: at, length };
    }
    default:
      return bytes.fail(inode.offset, `inode ${inode.nid}: data layout ${inode.layout} cannot be read`);
  }
}

/** Reads [start, start+length) of the inode's data (clamped to its size); holes read as zeros. */
export function readData(bytes: ImageBytes, sb: Superblock, inode: ErofsInode, start = 0, length = inode.size - start): Uint8Array {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length) || start < 0 || length < 0) {
    throw invalidArgument('usage', `invalid data range ${start}+${length}`);
  }
  const end = Math.min(inode.size, start + length);
  if (end <= start) return new Uint8Array(0);
  if (end - start > MAX_READ_BYTES) {
    throw invalidArgument('usage', `refusing to read ${end - start} bytes of inode ${inode.nid} at once (limit ${MAX_READ_BYTES})`);
  }
  const out = new Uint8Array(end - start);
  let pos = start;
  while (pos < end) {
    const run = mapPosition(bytes, sb, inode, pos);
    const n = Math.min(run.length, end - pos);
    if (n <= 0) bytes.fail(inode.offset, `inode ${inode.nid}: data mapping made no progress at ${pos}`);
    if (run.imageOffset !== null) out.set(bytes.slice(run.imageOffset, n, `inode ${inode.nid} data`), pos - start);
    pos += n;
  }
  return out;
}
