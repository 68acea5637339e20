/**
 * The one output writer: writes a chunk and, when the stream's buffer is full, waits for it to
 * drain, so a report of millions of lines flows at the reader's pace instead of piling up in
 * memory. Returns a promise only when there is something to wait for.
 */
import type { Writable } from 'node:stream';

export function write(stream: Writable, chunk: string | Uint8Array): Promise<void> | void {
  if (!stream.write(chunk)) return new Promise((resolve) => stream.once('drain', () => resolve()));
}
