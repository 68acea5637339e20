/**
 * A composefs object store (docs/FORMATS.md §4.1): every file is stored once under the lowercase hex
 * of its fs-verity SHA-256 digest (4096-byte blocks, no salt), split after the first byte —
 * `DIR/XX/<62 hex>` — which is also the image payload, the redirect minus its `/`.
 *
 * Writing follows mkcomposefs' `copy_file_with_dirs_if_needed`: an object that already exists is
 * left alone (identical content is stored once); otherwise the content goes into an unnamed file in
 * its fan-out directory (fs/publish.ts: O_TMPFILE, mode 0644), is made durable, and only then is
 * named — a reader sees the whole object or none, and nothing is ever replaced. The bytes stored
 * are the bytes digested: bulk callers let the pool workers store the files they hash from memory
 * (`sink()`, pool/batch-store.ts); `addDigested` copies a larger file with copy_file_range (a
 * reflink where the filesystem can) and refuses a source that changed since it was digested
 * (`file-changed`); a stream is digested from the stored copy.
 *
 * Durability: with `fsync` (the default) no object is named before its bytes are on disk — one
 * fsync per object here, one syncfs per batch on the workers (the same guarantee, one device
 * flush per batch instead of per object).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { digestFile, planDigest, type DigestPlan } from '../merkle/file.js';
import { fileChanged, notRegularFile, writeFailed } from '../report/errors.js';
import { fromSystemError } from '../report/errno.js';
import { AT_FDCWD, openDirectory, type DirHandle } from '../fs/dir.js';
import { closeFile, openRegularFile, type FileRef } from '../fs/open.js';
import { openOrCreateSubdir, PendingFile } from '../fs/publish.js';
import { statAt, statFd, type FileStat } from '../fs/stat.js';
import type { StoreWire } from '../pool/tasks.js';

/** mkcomposefs: `fchmod(0644)` on every object, whatever the source mode (fixture README "Surprises" 4). */
export const OBJECT_MODE = 0o644;
/** mkcomposefs creates the `XX` fan-out directories 0755. */
export const FANOUT_DIR_MODE = 0o755;
/** composefs objects: SHA-256, 4096-byte Merkle blocks, no salt (`lcfs_fd_enable_fsverity`). */
export const OBJECT_VERITY = { hashAlg: 'sha256', blockSize: 4096 } as const;
/** composefs-rs repositories may hold SHA-512 objects instead (`fsverity-sha512-12`). */
export const OBJECT_HASH_ALGS = ['sha256', 'sha512'] as const;
export type ObjectHashAlg = (typeof OBJECT_HASH_ALGS)[number];

export interface StoredObject {
  /** Lowercase hex of the fs-verity digest: 64 digits (SHA-256) or 128 (SHA-512). */
  readonly digest: string;
  /** `XX/<62 hex>`: the composefs payload (relative to the store). */
  readonly payload: string;
  readonly objectPath: string;
  readonly size: number;
  /** False when the object was already there (nothing written). */
  readonly added: boolean;
}

/** What the caller saw of a source file before it was digested; re-checked when it is copied. */
export interface SourceIdentity {
  readonly size: number;
  readonly mtimeNs: bigint;
  readonly ino: bigint;
  /** `major:minor`. */
  readonly dev: string;
}

export interface ObjectStoreOptions {
  /** fsync each new object before renaming it into place (default true, like mkcomposefs). */
  readonly fsync?: boolean;
  /** The objects' fs-verity hash (default sha256, composefs; sha512 for composefs-rs repositories). */
  readonly hashAlg?: ObjectHashAlg;
}

/** `XX/<rest>` for a 64-hex (SHA-256) or 128-hex (SHA-512) digest. */
export function objectPayload(digestHex: string): string {
  if (typeof digestHex !== 'string' || !/^(?:[0-9a-f]{64}|[0-9a-f]{128})$/.test(digestHex)) {
    throw new TypeError(`object digest must be 64 or 128 lowercase hex digits, got ${JSON.stringify(digestHex)}`);
  }
  return `${digestHex.slice(0, 2)}/${digestHex.slice(2)}`;
}

export function identityOf(st: fs.BigIntStats | FileStat): SourceIdentity {
  if ('kind' in st) return { size: st.size, mtimeNs: st.mtimeNs, ino: st.ino, dev: st.dev };
  // glibc's dev_t encoding: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31.
  const major = ((st.dev >> 8n) & 0xfffn) | ((st.dev >> 32n) & ~0xfffn);
  const minor = (st.dev & 0xffn) | ((st.dev >> 12n) & ~0xffn);
  return { size: Number(st.size), mtimeNs: st.mtimeNs, ino: st.ino, dev: `${major}:${minor}` };
}

function sameIdentity(a: SourceIdentity, st: FileStat): boolean {
  return a.size === st.size && a.mtimeNs === st.mtimeNs && a.ino === st.ino && a.dev === st.dev;
}

export class ObjectStore {
  readonly dir: string;
  readonly hashAlg: ObjectHashAlg;
  readonly #fsync: boolean;
  readonly #plan: DigestPlan;
  #root: DirHandle | undefined;

  constructor(dir: string, options: ObjectStoreOptions = {}) {
    if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`object store dir must be a non-empty path, got ${JSON.stringify(dir)}`);
    const hashAlg = options.hashAlg ?? 'sha256';
    if (!OBJECT_HASH_ALGS.includes(hashAlg)) throw new RangeError(`object hash algorithm must be sha256 or sha512, got ${JSON.stringify(hashAlg)}`);
    this.dir = dir;
    this.hashAlg = hashAlg;
    this.#fsync = options.fsync !== false;
    this.#plan = planDigest({ ...OBJECT_VERITY, hashAlg });
  }

  objectPath(digestHex: string): string {
    return path.join(this.dir, objectPayload(digestHex));
  }

  /** Whether a regular file is stored under this digest (symlinks and others do not count). */
  async has(digestHex: string): Promise<boolean> {
    const st = await fs.promises.lstat(this.objectPath(digestHex)).catch(() => undefined);
    return st !== undefined && st.isFile();
  }

  /**
   * The store for pool workers (BulkDigestOptions.store): they store what they hash from memory.
   * Valid until `close()`.
   */
  sink(): StoreWire {
    return { dirfd: this.#open().fd, path: this.dir, durability: this.#fsync ? 'syncfs' : 'none', fileMode: OBJECT_MODE, dirMode: FANOUT_DIR_MODE };
  }

  /** Closes the store's directory (opened on first write; reopened if used again). */
  close(): void {
    this.#root?.release();
    this.#root = undefined;
  }

  /** Stores a file (by path; never follows a symlink) or a stream. */
  async add(source: string | Readable): Promise<StoredObject> {
    if (typeof source === 'string') {
      const st = await fs.promises.lstat(source, { bigint: true }).catch((err: unknown) => {
        throw fromSystemError(err, source, 'stat');
      });
      if (!st.isFile()) throw notRegularFile(source, st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : 'special file');
      const before = identityOf(st);
      const d = await digestFile(source, this.#plan);
      return this.addDigested(source, d.hex, before);
    }
    if (source === null || typeof (source as Readable).pipe !== 'function') throw new TypeError('add() needs a path or a Readable stream');
    return this.#addStream(source);
  }

  /**
   * Stores `source` whose digest the caller computed (e.g. on the pool). `before` is the source's
   * identity when it was digested: the copy is refused if the source no longer matches it.
   */
  async addDigested(source: string | FileRef, digestHex: string, before: SourceIdentity): Promise<StoredObject> {
    const payload = objectPayload(digestHex);
    const final = path.join(this.dir, payload);
    const fanfd = this.#fanout(digestHex);
    try {
      const name = digestHex.slice(2);
      if (this.#stored(fanfd, name, final, before.size)) return { digest: digestHex, payload, objectPath: final, size: before.size, added: false };
      // The source is opened once, without following a symlink, and must be the inode digested;
      // the copy reads that open file, not whatever its name means now.
      const ref: FileRef = typeof source === 'string' ? { dirfd: AT_FDCWD, name: source, path: source, ino: before.ino } : { ...source, ino: before.ino };
      const { fd } = openRegularFile(ref);
      let file: PendingFile | undefined;
      try {
        file = PendingFile.create(fanfd, OBJECT_MODE, final);
        const copied = await file.copyFrom(fd, before.size, ref.path);
        const after = statFd(fd);
        if (typeof after === 'number' || !sameIdentity(before, after) || copied !== before.size) {
          throw fileChanged(ref.path, `size ${before.size} when digested, ${copied} bytes copied`);
        }
        if (this.#fsync) await file.syncAsync();
        const added = file.commit(name);
        return { digest: digestHex, payload, objectPath: final, size: before.size, added };
      } catch (err) {
        file?.discard();
        throw err;
      } finally {
        closeFile(fd);
      }
    } finally {
      closeFile(fanfd);
    }
  }

  async #addStream(stream: Readable): Promise<StoredObject> {
    const root = this.#open();
    const file = PendingFile.create(root.fd, OBJECT_MODE, path.join(this.dir, '(new object)'));
    try {
      let size = 0;
      try {
        for await (const chunk of stream) {
          const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
          file.write(bytes);
          size += bytes.length;
        }
      } catch (err) {
        throw fromSystemError(err, this.dir, 'read');
      }
      // Digest what was stored (through the open file), so the name always matches the bytes.
      const d = await digestFile(`/proc/self/fd/${file.fd}`, this.#plan);
      const payload = objectPayload(d.hex);
      const final = path.join(this.dir, payload);
      const fanfd = this.#fanout(d.hex);
      try {
        const name = d.hex.slice(2);
        if (this.#stored(fanfd, name, final, size)) {
          file.discard();
          return { digest: d.hex, payload, objectPath: final, size, added: false };
        }
        if (this.#fsync) await file.syncAsync();
        const added = file.commit(name, fanfd);
        return { digest: d.hex, payload, objectPath: final, size, added };
      } finally {
        closeFile(fanfd);
      }
    } catch (err) {
      file.discard();
      throw err;
    }
  }

  /** A regular file of `size` bytes under the name: stored already. A directory there is an error. */
  #stored(fanfd: number, name: string, final: string, size: number): boolean {
    const st = statAt(fanfd, name, false);
    if (typeof st === 'number') return false;
    if (st.kind === 'directory') throw writeFailed(final, 'a directory occupies the object name');
    return st.kind === 'file' && st.size === size;
  }

  /** The store directory, created if missing (the operand path is the caller's: followed). */
  #open(): DirHandle {
    if (!this.#root) {
      try {
        fs.mkdirSync(this.dir, { recursive: true });
      } catch (err) {
        throw fromSystemError(err, this.dir, 'write');
      }
      this.#root = openDirectory(this.dir, { follow: true });
    }
    return this.#root;
  }

  /** The fan-out directory `XX` of a digest, created 0755 when missing; the caller closes it. */
  #fanout(digestHex: string): number {
    const fan = digestHex.slice(0, 2);
    return openOrCreateSubdir(this.#open().fd, fan, FANOUT_DIR_MODE, path.join(this.dir, fan));
  }
}

/** How many copies `ObjectTally` runs at once (each on libuv's thread pool). */
const STORE_CONCURRENCY = 4;

/** At most `limit` tasks running at once. */
class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(limit: number) {
    this.#free = limit;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}

/**
 * The objects of one bulk store (import, image create): the results of a pool digest with
 * `sink()` are noted as they come — stored by a worker, or left for `finish()` to copy here (files
 * too large to stage) — each distinct digest once; `added` when some copy created the object.
 */
export class ObjectTally {
  readonly #store: ObjectStore;
  readonly #objects = new Map<string, StoredObject>();
  /** Digests whose copy has started here (each copied once). */
  readonly #copied = new Set<string>();
  /** What the workers stored, by digest (made into StoredObjects by finish()). */
  readonly #stored = new Map<string, { size: number; added: boolean }>();
  #copying: Promise<void>[] = [];
  readonly #slots = new Slots(STORE_CONCURRENCY);

  constructor(store: ObjectStore) {
    this.#store = store;
  }

  /** A digest result of `source` (which had `identity` when listed). */
  note(d: { readonly hex: string; readonly size: number; readonly stored?: 'added' | 'existing' }, source: FileRef, identity: SourceIdentity): void {
    if (d.stored) {
      // Hot (once per file): the object's paths are made only when asked for, in objects().
      const had = this.#stored.get(d.hex);
      if (had === undefined || (d.stored === 'added' && !had.added)) this.#stored.set(d.hex, { size: d.size, added: d.stored === 'added' });
    } else if (!this.#copied.has(d.hex)) {
      this.#copied.add(d.hex);
      // Copied at once (a few at a time), while the pool hashes the rest.
      const copy = this.#slots.run(async () => this.#record(await this.#store.addDigested(source, d.hex, identity)));
      // Its failure is reported by finish(); until then it must not count as unhandled.
      copy.catch(() => {});
      this.#copying.push(copy);
    }
  }

  /** Waits for the copies of the files no worker stored. */
  async finish(): Promise<void> {
    await Promise.all(this.#copying);
    this.#copying = [];
    for (const [hex, o] of this.#stored) {
      this.#record({ digest: hex, payload: objectPayload(hex), objectPath: this.#store.objectPath(hex), size: o.size, added: o.added });
    }
    this.#stored.clear();
  }

  /** Waits until no copy is running, whatever their outcome (before giving up on a failed run). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.#copying);
  }

  get(digestHex: string): StoredObject | undefined {
    return this.#objects.get(digestHex);
  }

  objects(): StoredObject[] {
    return [...this.#objects.values()];
  }

  counts(): { referenced: number; added: number; existing: number } {
    let added = 0;
    for (const o of this.#objects.values()) if (o.added) added++;
    return { referenced: this.#objects.size, added, existing: this.#objects.size - added };
  }

  #record(o: StoredObject): void {
    const had = this.#objects.get(o.digest);
    if (!had || (o.added && !had.added)) this.#objects.set(o.digest, o);
  }
}
