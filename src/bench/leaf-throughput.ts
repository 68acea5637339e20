/**
 * Leaf throughput across threads: N worker threads (leaf-worker.ts) hash in-memory 4 KiB blocks
 * with one backend, released together, and the machine's rate is the bytes all of them hashed
 * divided by the longest of their times. One set of workers serves every backend and thread
 * count (a round with t threads uses the first t), so thread start-up is paid once.
 */
import { Worker } from 'node:worker_threads';
import type { BackendName } from '../backends/index.js';
import type { HashAlg } from '../params.js';
import type { LeafJob, LeafMessage } from './leaf-worker.js';

export interface LeafRound {
  readonly backend: BackendName;
  readonly hashAlg: HashAlg;
  readonly threads: number;
  readonly durationMs: number;
  readonly warmupMs: number;
}

export interface LeafResult {
  /** Decimal megabytes (10⁶ B) per second over all threads. */
  readonly mbps: number;
  readonly bytes: number;
  readonly ns: number;
}

export class LeafBench {
  readonly #workers: Worker[] = [];
  readonly #start = new Int32Array(new SharedArrayBuffer(4));
  #round = 0;

  constructor(maxThreads: number) {
    const url = new URL('./leaf-worker.js', import.meta.url);
    for (let i = 0; i < maxThreads; i++) this.#workers.push(new Worker(url));
  }

  async run(r: LeafRound): Promise<LeafResult> {
    if (r.threads > this.#workers.length) throw new RangeError(`${r.threads} threads requested, ${this.#workers.length} started`);
    const round = ++this.#round;
    const job: LeafJob = { backend: r.backend, hashAlg: r.hashAlg, blockSize: 4096, warmupMs: r.warmupMs, durationMs: r.durationMs, start: this.#start, round };
    const ready: Promise<void>[] = [];
    const samples: Promise<{ bytes: number; ns: number }>[] = [];
    for (const w of this.#workers.slice(0, r.threads)) {
      let onReady!: () => void;
      ready.push(new Promise<void>((res) => (onReady = res)));
      samples.push(
        new Promise((resolve, reject) => {
          const onMessage = (m: LeafMessage) => {
            if (m.type === 'ready') return onReady();
            w.off('message', onMessage);
            w.off('error', reject);
            if (m.type === 'sample') resolve({ bytes: m.bytes, ns: m.ns });
            else reject(new Error(`${r.backend} worker: ${m.message}`));
          };
          w.on('message', onMessage);
          w.once('error', reject);
        }),
      );
      w.postMessage(job);
    }
    // A worker that fails before `ready` rejects its sample: race so that never hangs the round.
    await Promise.race([Promise.all(ready), Promise.all(samples)]);
    Atomics.store(this.#start, 0, round);
    Atomics.notify(this.#start, 0);
    const got = await Promise.all(samples);
    const bytes = got.reduce((s, g) => s + g.bytes, 0);
    const ns = Math.max(...got.map((g) => g.ns));
    return { mbps: (bytes * 1e3) / ns, bytes, ns };
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
