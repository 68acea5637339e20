/**
 * `veritree digest --out-merkle-tree-dir=DIR`: for every file digested, `DIR/<hex>.merkle` (the
 * Merkle tree as FS_IOC_READ_VERITY_METADATA returns it and `fsverity digest --out-merkle-tree`
 * writes it: root level first, empty for files of 0 or 1 block) and `DIR/<hex>.desc` (the 256-byte
 * fs-verity descriptor, as `--out-descriptor` writes it), named by the file's fs-verity digest in
 * hex. This is what mkfs-style builders (composefs / EROFS images with verity metadata) need per
 * object without hashing anything twice.
 *
 * Each file is written atomically (a temporary file beside it, fsync, rename: a reader never sees a
 * partial one), and skipped when it already exists with the right size: the name is the digest,
 * so an existing file is the same content (a size mismatch — a file cut short — is rewritten).
 * Writes run concurrently on libuv's pool, a bounded number at a time; one digest is written once
 * even when several files share it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../report/atomic-write.js';
import { fromSystemError } from '../report/errno.js';
import { notADirectory, type VeritreeError } from '../report/errors.js';

/** Writes in flight at once (each a few small files; the tree of a big file is size/128). */
const MAX_WRITES = 32;

export class MerkleDirWriter {
  readonly dir: string;
  #active = 0;
  #waiters: (() => void)[] = [];
  /** Digests being written now: a second file with the same content waits for the first. */
  readonly #writing = new Map<string, Promise<void>>();

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** DIR, created if missing (with its parents); throws when it cannot be used. */
  static async open(dir: string): Promise<MerkleDirWriter> {
    try {
      await fs.promises.mkdir(dir, { recursive: true });
      const st = await fs.promises.stat(dir);
      if (!st.isDirectory()) throw notADirectory(dir);
      await fs.promises.access(dir, fs.constants.W_OK);
    } catch (err) {
      throw fromSystemError(err, dir, 'write');
    }
    return new MerkleDirWriter(dir);
  }

  /** Resolves when another write may start (the caller stops pulling results until then). */
  async room(): Promise<void> {
    while (this.#active >= MAX_WRITES) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /** Writes both files for digest `hex`; rejects with a VeritreeError naming the file not written. */
  write(hex: string, tree: Uint8Array, descriptor: Uint8Array): Promise<void> {
    const running = this.#writing.get(hex);
    if (running) return running;
    this.#active++;
    const job = (async () => {
      try {
        await Promise.all([this.#writeIfAbsent(`${hex}.merkle`, tree), this.#writeIfAbsent(`${hex}.desc`, descriptor)]);
      } finally {
        this.#writing.delete(hex);
        this.#active--;
        const w = this.#waiters;
        this.#waiters = [];
        for (const wake of w) wake();
      }
    })();
    this.#writing.set(hex, job);
    return job;
  }

  /** Resolves when every write started has settled. */
  async drain(): Promise<void> {
    while (this.#writing.size > 0) await Promise.allSettled([...this.#writing.values()]);
  }

  async #writeIfAbsent(name: string, data: Uint8Array): Promise<void> {
    const target = path.join(this.dir, name);
    try {
      const st = await fs.promises.stat(target);
      if (st.isFile() && st.size === data.length) return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromSystemError(err, target, 'stat') as VeritreeError;
    }
    await writeFileAtomic(target, data);
  }
}
