/**
 * A composefs object store (docs/FORMATS.md §4.1): every file is stored once under the lowercase hex
 * of its fs-verity SHA-256 digest (4096-byte blocks, no salt), split after the first byte —
 * `DIR/XX/<62 hex>` — which is also the image payload, the redirect minus its `/`.
 *
 * Writing follows mkcomposefs' `copy_file_with_dirs_if_needed`: an object that already exists is
 * left alone (identical content is stored once); otherwise the file is copied into a temporary
 * file inside the store (`fs.copyFile` with COPYFILE_FICLONE: a reflink where the filesystem can,
 * else copy_file_range / read-write), made mode 0644, fsynced, and renamed into place — a reader
 * sees the whole object or none. The bytes stored are checked to be the bytes digested: a source
 * that changes meanwhile is refused (`file-changed`), a stream is digested from the stored copy.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { digestFile, planDigest, type DigestPlan } from '../merkle/file.js';
import { fileChanged, notRegularFile, VeritreeError, writeFailed } from '../report/errors.js';
import { fromSystemError } from '../report/errno.js';
import { AT_FDCWD } from '../fs/dir.js';
import { closeFile, openRegularFile, type FileRef } from '../fs/open.js';
import { statFd, type FileStat } from '../fs/stat.js';

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
    const existing = await fs.promises.lstat(final).catch(() => undefined);
    if (existing !== undefined && existing.isFile() && existing.size === before.size) {
      return { digest: digestHex, payload, objectPath: final, size: before.size, added: false };
    }
    if (existing !== undefined && existing.isDirectory()) {
      throw writeFailed(final, 'a directory occupies the object name');
    }
    await this.#mkdirFanout(path.dirname(final));
    const tmp = this.#tempName();
    // The source is opened once, without following a symlink, and must be the inode digested;
    // the copy reads that open file (its /proc/self/fd link), not whatever its name means now.
    const ref: FileRef = typeof source === 'string' ? { dirfd: AT_FDCWD, name: source, path: source, ino: before.ino } : { ...source, ino: before.ino };
    const { fd } = openRegularFile(ref);
    try {
      await fs.promises.copyFile(`/proc/self/fd/${fd}`, tmp, fs.constants.COPYFILE_FICLONE | fs.constants.COPYFILE_EXCL).catch((err: unknown) => {
        throw fromSystemError(err, ref.path, 'read');
      });
      const after = statFd(fd);
      const copied = await fs.promises.stat(tmp);
      if (typeof after === 'number' || !sameIdentity(before, after) || copied.size !== before.size) {
        throw fileChanged(ref.path, `size ${before.size} when digested, ${copied.size} bytes copied`);
      }
      await this.#seal(tmp);
      const added = await this.#commit(tmp, final);
      return { digest: digestHex, payload, objectPath: final, size: before.size, added };
    } catch (err) {
      await fs.promises.rm(tmp, { force: true }).catch(() => {});
      throw err;
    } finally {
      closeFile(fd);
    }
  }

  async #addStream(stream: Readable): Promise<StoredObject> {
    await fs.promises.mkdir(this.dir, { recursive: true }).catch((err: unknown) => {
      throw fromSystemError(err, this.dir, 'write');
    });
    const tmp = this.#tempName();
    try {
      await pipeline(stream, fs.createWriteStream(tmp, { flags: 'wx', mode: OBJECT_MODE })).catch((err: unknown) => {
        throw err instanceof VeritreeError ? err : fromSystemError(err, tmp, 'write');
      });
      // Digest what was stored, so the name always matches the bytes on disk.
      const d = await digestFile(tmp, this.#plan);
      const payload = objectPayload(d.hex);
      const final = path.join(this.dir, payload);
      const existing = await fs.promises.lstat(final).catch(() => undefined);
      if (existing !== undefined && existing.isFile() && existing.size === d.size) {
        await fs.promises.rm(tmp, { force: true });
        return { digest: d.hex, payload, objectPath: final, size: d.size, added: false };
      }
      await this.#mkdirFanout(path.dirname(final));
      await this.#seal(tmp);
      const added = await this.#commit(tmp, final);
      return { digest: d.hex, payload, objectPath: final, size: d.size, added };
    } catch (err) {
      await fs.promises.rm(tmp, { force: true }).catch(() => {});
      throw err;
    }
  }

  /**
   * Puts the sealed temporary file in place under its final name, never replacing one: link(2)
   * fails with EEXIST when another writer (a concurrent import) got there first, and then that
   * object counts as existing, not added. The temporary name is removed either way.
   */
  async #commit(tmp: string, final: string): Promise<boolean> {
    try {
      await fs.promises.link(tmp, final);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw fromSystemError(err, final, 'write');
    } finally {
      await fs.promises.rm(tmp, { force: true }).catch(() => {});
    }
  }

  /** mode 0644 whatever the umask or source mode, then fsync. */
  async #seal(tmp: string): Promise<void> {
    const fh = await fs.promises.open(tmp, 'r+').catch((err: unknown) => {
      throw fromSystemError(err, tmp, 'write');
    });
    try {
      await fh.chmod(OBJECT_MODE);
      if (this.#fsync) await fh.sync();
    } catch (err) {
      throw fromSystemError(err, tmp, 'write');
    } finally {
      await fh.close();
    }
  }

  async #mkdirFanout(dir: string): Promise<void> {
    try {
      const created = await fs.promises.mkdir(dir, { recursive: true, mode: FANOUT_DIR_MODE });
      // mkdir's mode is filtered by the umask; mkcomposefs' directories are 0755.
      if (created !== undefined) await fs.promises.chmod(dir, FANOUT_DIR_MODE);
    } catch (err) {
      throw fromSystemError(err, dir, 'write');
    }
  }

  /** `DIR/.tmp-…` like mkcomposefs' `.tmpXXXXXX`: same filesystem as the objects, so rename is atomic. */
  #tempName(): string {
    return path.join(this.dir, `.tmp-${process.pid}-${crypto.randomBytes(6).toString('hex')}`);
  }
}
