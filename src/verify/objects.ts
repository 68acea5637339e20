/**
 * The one object-verification engine: what is this object's fs-verity digest? `verify-cas`,
 * `check-image` and `check-overlay` are policies over it; they decide what a digest means (a name
 * to match, a metacopy to match), this decides how it is obtained:
 *
 * 1. the kernel first, where asked (FS_IOC_MEASURE_VERITY: O(1) per object, and what overlayfs
 *    itself compares; docs/FORMATS.md §2.4, §3.5) — asynchronous, off the event loop, many in
 *    flight at once; a filesystem found without fs-verity is not asked again (per device);
 * 2. hashing on the worker pool otherwise (or as well, to cross-check), one bulk stream per hash
 *    algorithm, bounded: `submit` waits while too much is queued, so a store of millions of
 *    objects is verified in flat memory.
 *
 * Every object is reached through its FileRef (src/fs): opened relative to the directory
 * descriptor it was found in, never by a path string. Verdicts arrive in completion order through
 * `onVerdict`, which is awaited (a slow reporter slows the check, not the other way round).
 */
import { measureVerity } from '../kernel/async.js';
import type { Measurement } from '../kernel/verity.js';
import type { DirHandle } from '../fs/dir.js';
import type { FileRef } from '../fs/open.js';
import type { HashAlg } from '../params.js';
import { digestFileBatches, type BulkDigestOptions, type FileSource } from '../pool/scheduler.js';
import { asVeritreeError, type VeritreeError } from '../report/errors.js';

/** How the kernel is used: not at all; first (hash only what it cannot vouch for); or as well as hashing. */
export type KernelUse = 'never' | 'first' | 'both';

export interface ObjectRequest {
  readonly ref: FileRef;
  /** The directory `ref` is relative to; retained here while the pool needs it. */
  readonly dir?: DirHandle;
  /** The algorithm to hash with when hashing (sha256 objects, sha512 objects). */
  readonly hashAlg: HashAlg;
  /** The object's device: a filesystem without fs-verity is asked once. */
  readonly dev?: string;
}

export interface ObjectVerdict<R extends ObjectRequest> {
  readonly request: R;
  /** The kernel's measurement (fs-verity is on for the object). */
  readonly kernel?: Measurement;
  /** The kernel can measure on this filesystem, but the object has no fs-verity. */
  readonly notVerity?: boolean;
  /** The kernel cannot measure here (no fs-verity on this filesystem or kernel): why. */
  readonly unsupported?: VeritreeError;
  /** Computed in userspace. */
  readonly computed?: { readonly hashAlg: string; readonly digest: Uint8Array; readonly hex: string; readonly size: number };
  /** The object could not be opened, measured or read. */
  readonly error?: VeritreeError;
}

export interface VerifierOptions extends Pick<BulkDigestOptions, 'pool' | 'threads' | 'backend' | 'signal' | 'blockSize'> {
  readonly kernel: KernelUse;
  /** Hash objects the kernel reports without fs-verity (else their verdict is `notVerity` alone). */
  readonly hashWithoutVerity: boolean;
  /** A filesystem without fs-verity: hash instead, or give the verdict `unsupported` and stop there. */
  readonly onUnsupported: 'hash' | 'report';
}

/** Kernel calls in flight at once (the kernel layer runs them on libuv's pool). */
const KERNEL_INFLIGHT = 64;
/** Objects queued per algorithm before `submit` waits for the pool. */
const HASH_QUEUE = 4096;

/** Kernel errors that mean "cannot measure here", not "this object is bad". */
const UNSUPPORTED = new Set(['verity-not-supported', 'kernel-interface-unavailable']);

/** A bounded queue read as an async iterable by one bulk digest stream. */
class HashQueue<T> {
  readonly #items: T[] = [];
  #closed = false;
  #wakeReader: (() => void) | undefined;
  #wakeWriters: (() => void)[] = [];

  #abandoned = false;

  /** Queues `item`; false when the reader has gone (interrupted run: the item is dropped). */
  async push(item: T): Promise<boolean> {
    while (this.#items.length >= HASH_QUEUE && !this.#abandoned) await new Promise<void>((r) => this.#wakeWriters.push(r));
    if (this.#abandoned) return false;
    this.#items.push(item);
    this.#wakeReader?.();
    return true;
  }

  /** The reader stopped (SIGINT): wake every waiting writer, accept nothing more. */
  abandon(): void {
    this.#abandoned = true;
    this.#items.length = 0;
    for (const w of this.#wakeWriters.splice(0)) w();
  }

  close(): void {
    this.#closed = true;
    this.#wakeReader?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      const item = this.#items.shift();
      if (item !== undefined) {
        if (this.#wakeWriters.length > 0) for (const w of this.#wakeWriters.splice(0)) w();
        yield item;
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((resolve) => (this.#wakeReader = resolve));
      this.#wakeReader = undefined;
    }
  }
}

export class ObjectVerifier<R extends ObjectRequest> {
  readonly #opts: VerifierOptions;
  readonly #onVerdict: (v: ObjectVerdict<R>) => void | Promise<void>;
  readonly #streams = new Map<HashAlg, { queue: HashQueue<Queued<R>>; done: Promise<void> }>();
  readonly #kernelPending = new Set<Promise<void>>();
  readonly #unsupportedDevs = new Map<string, VeritreeError>();
  #failure: unknown;
  /** Objects the kernel measured, and objects handed to the pool. */
  measured = 0;
  hashed = 0;

  constructor(opts: VerifierOptions, onVerdict: (v: ObjectVerdict<R>) => void | Promise<void>) {
    this.#opts = opts;
    this.#onVerdict = onVerdict;
  }

  /** Takes one object; resolves once it is accepted (waits while the pool is behind). */
  async submit(request: R): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    const known = request.dev !== undefined ? this.#unsupportedDevs.get(request.dev) : undefined;
    if (this.#opts.kernel === 'never') return this.#hash(request, {});
    if (known !== undefined) return this.#unsupported(request, known);
    while (this.#kernelPending.size >= KERNEL_INFLIGHT) await Promise.race(this.#kernelPending);
    const p: Promise<void> = this.#ask(request).catch((err: unknown) => {
      this.#failure ??= err;
    });
    this.#kernelPending.add(p);
    void p.finally(() => this.#kernelPending.delete(p));
  }

  /** Waits for every verdict; throws what a verdict handler threw. */
  async finish(): Promise<void> {
    while (this.#kernelPending.size > 0) await Promise.all([...this.#kernelPending]);
    for (const s of this.#streams.values()) s.queue.close();
    await Promise.all([...this.#streams.values()].map((s) => s.done));
    if (this.#failure !== undefined) throw this.#failure;
  }

  async #ask(request: R): Promise<void> {
    let kernel: Measurement;
    try {
      kernel = await measureVerity(request.ref);
    } catch (err) {
      const e = asVeritreeError(err, request.ref.path);
      if (e.code === 'not-verity') {
        if (this.#opts.hashWithoutVerity) return this.#hash(request, { notVerity: true });
        return this.#verdict({ request, notVerity: true });
      }
      if (UNSUPPORTED.has(e.code)) {
        if (request.dev !== undefined) this.#unsupportedDevs.set(request.dev, e);
        return this.#unsupported(request, e);
      }
      return this.#verdict({ request, error: e });
    }
    this.measured++;
    if (this.#opts.kernel === 'both') return this.#hash(request, { kernel });
    return this.#verdict({ request, kernel });
  }

  #unsupported(request: R, why: VeritreeError): Promise<void> {
    if (this.#opts.onUnsupported === 'hash') return this.#hash(request, { unsupported: why });
    return this.#verdict({ request, unsupported: why });
  }

  async #verdict(v: ObjectVerdict<R>): Promise<void> {
    await this.#onVerdict(v);
  }

  /** Queues `request` for hashing; `known` is what the kernel said, merged into its verdict. */
  async #hash(request: R, known: Omit<ObjectVerdict<R>, 'request'>): Promise<void> {
    this.hashed++;
    await this.#stream(request.hashAlg).queue.push({ request, known });
  }

  #stream(hashAlg: HashAlg): { queue: HashQueue<Queued<R>>; done: Promise<void> } {
    let s = this.#streams.get(hashAlg);
    if (s !== undefined) return s;
    const queue = new HashQueue<Queued<R>>();
    // Requests by submission index: only those on the pool are held.
    const waiting = new Map<number, Queued<R>>();
    let next = 0;
    const sources = (async function* (): AsyncGenerator<FileSource> {
      for await (const q of queue) {
        waiting.set(next++, q);
        const r = q.request;
        yield r.dir !== undefined ? { ref: r.ref, dir: r.dir.retain() } : { ref: r.ref };
      }
    })();
    const o = this.#opts;
    const options: BulkDigestOptions = {
      hashAlg,
      ...(o.blockSize !== undefined ? { blockSize: o.blockSize } : {}),
      ...(o.pool !== undefined ? { pool: o.pool } : {}),
      ...(o.threads !== undefined ? { threads: o.threads } : {}),
      ...(o.backend !== undefined ? { backend: o.backend } : {}),
      ...(o.signal !== undefined ? { signal: o.signal } : {}),
    };
    const done = (async () => {
      for await (const batch of digestFileBatches(sources, options)) {
        for (const d of batch) {
          const { request, known } = waiting.get(d.index)!;
          waiting.delete(d.index);
          if (d.ok) await this.#verdict({ ...known, request, computed: { hashAlg: d.hashAlg, digest: d.digest, hex: d.hex, size: d.size } });
          else await this.#verdict({ ...known, request, error: d.error });
        }
      }
    })()
      .catch((err: unknown) => {
        this.#failure ??= err;
      })
      // Stopped early (an error, or SIGINT stopped the pool stream): no submitter may wait forever.
      .finally(() => queue.abandon());
    s = { queue, done };
    this.#streams.set(hashAlg, s);
    return s;
  }
}

/** A request on its way to the pool, with what the kernel already said of it. */
interface Queued<R extends ObjectRequest> {
  readonly request: R;
  readonly known: Omit<ObjectVerdict<R>, 'request'>;
}
