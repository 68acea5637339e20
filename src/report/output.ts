/**
 * The one output writer: writes a chunk and, when the stream's buffer is full, waits for it to
 * drain, so a report of millions of lines flows at the reader's pace instead of piling up in
 * memory. Returns a promise only when there is something to wait for.
 */
import type { Writable } from 'node:stream';

export function write(stream: Writable, chunk: string | Uint8Array): Promise<void> | void {
  if (!stream.write(chunk)) return new Promise((resolve) => stream.once('drain', () => resolve()));
}

/**
 * Output lines gathered into chunks of about `chunkBytes`: text is encoded straight into the
 * chunk (no buffer per line), bytes are copied in. `take()` hands the chunk over (the write may
 * still be using it) and starts a new one.
 */
export class LineChunks {
  #chunk: Buffer;
  #used = 0;
  constructor(readonly chunkBytes = 64 * 1024) {
    this.#chunk = Buffer.allocUnsafe(chunkBytes);
  }

  get bytes(): number {
    return this.#used;
  }

  add(line: string | Uint8Array): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    const most = typeof line === 'string' ? line.length * 3 : line.length;
    if (this.#used + most > this.#chunk.length) this.#grow(most);
    if (typeof line === 'string') this.#used += this.#chunk.write(line, this.#used);
    else {
      this.#chunk.set(line, this.#used);
      this.#used += line.length;
    }
  }

  take(): Buffer {
    const out = this.#chunk.subarray(0, this.#used);
    this.#chunk = Buffer.allocUnsafe(this.chunkBytes);
    this.#used = 0;
    return out;
  }

  #grow(need: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.#chunk.length * 2, this.#used + need));
    this.#chunk.copy(next, 0, 0, this.#used);
    this.#chunk = next;
  }
}
