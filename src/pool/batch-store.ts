/**
 * Worker-side object storing for a file batch (tasks.ts `StoreWire`): the files a batch staged in
 * memory are written into the store from the bytes that were hashed — no second read, no copy
 * through the main thread — each as a pending unnamed file (fs/publish.ts), made durable as the
 * store asks, then named by its digest. An object already stored (a regular file of the same size
 * under the name) is not written again; a name taken meanwhile by another writer counts as
 * existing. A failure fails that file alone.
 *
 * Layout: `XX/<rest>` below the store, `XX` the digest's first byte in lowercase hex
 * (docs/FORMATS.md §4.1). Fan-out directories are opened once per batch and closed with it.
 */
import { writeFailed } from '../report/errors.js';
import { closeFile } from '../fs/open.js';
import { openOrCreateSubdir, PendingFile, syncFilesystem } from '../fs/publish.js';
import { statAt } from '../fs/stat.js';
import { StoredAs, type StoreWire } from './tasks.js';

export interface StoreItem {
  readonly slot: number;
  /** The digest's lowercase hex: the object's name. */
  readonly hex: string;
  /** The file's bytes, exactly as hashed. */
  readonly data: Uint8Array;
}

export class BatchStore {
  readonly #wire: StoreWire;
  /** StoredAs per slot of the batch. */
  readonly stored: Uint8Array;
  readonly #fanouts = new Map<string, number>();

  constructor(wire: StoreWire, slots: number) {
    this.#wire = wire;
    this.stored = new Uint8Array(slots);
  }

  /** Stores `items`; a file that cannot be stored goes to `fail` with the reason. */
  storeAll(items: readonly StoreItem[], fail: (slot: number, err: unknown) => void): void {
    const w = this.#wire;
    const pending: { slot: number; name: string; file: PendingFile }[] = [];
    for (const it of items) {
      const fan = it.hex.slice(0, 2);
      const name = it.hex.slice(2);
      const where = `${w.path}/${fan}/${name}`;
      let file: PendingFile | undefined;
      try {
        const dirfd = this.#fanout(fan);
        const st = statAt(dirfd, name, false);
        if (typeof st !== 'number') {
          if (st.kind === 'directory') throw writeFailed(where, 'a directory occupies the object name');
          if (st.kind === 'file' && st.size === it.data.length) {
            this.stored[it.slot] = StoredAs.Existing;
            continue;
          }
        }
        file = PendingFile.create(dirfd, w.fileMode, where);
        file.write(it.data);
        if (w.durability === 'fsync') file.sync();
        pending.push({ slot: it.slot, name, file });
      } catch (err) {
        file?.discard();
        fail(it.slot, err);
      }
    }
    if (pending.length === 0) return;
    if (w.durability === 'syncfs') {
      // One flush for the whole batch, before any of its objects is named.
      try {
        syncFilesystem(pending[0]!.file.fd, w.path);
      } catch (err) {
        for (const p of pending) {
          p.file.discard();
          fail(p.slot, err);
        }
        return;
      }
    }
    for (const p of pending) {
      try {
        this.stored[p.slot] = p.file.commit(p.name) ? StoredAs.Added : StoredAs.Existing;
      } catch (err) {
        fail(p.slot, err);
      }
    }
  }

  #fanout(fan: string): number {
    let fd = this.#fanouts.get(fan);
    if (fd === undefined) {
      fd = openOrCreateSubdir(this.#wire.dirfd, fan, this.#wire.dirMode, `${this.#wire.path}/${fan}`);
      this.#fanouts.set(fan, fd);
    }
    return fd;
  }

  close(): void {
    for (const fd of this.#fanouts.values()) closeFile(fd);
    this.#fanouts.clear();
  }
}
