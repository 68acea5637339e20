/**
 * The seeded benchmark file trees: many small files with log-normal sizes (the shape of real
 * source trees and container layers: most files a few KiB, a long tail) plus a few large ones.
 * `veritree bench` hashes a small one in a temp dir; bench/tree.mjs and bench/whole-file.mjs
 * (through bench/gen-tree.mjs) generate the big ones from the same code, so every run on every
 * machine hashes exactly the same bytes.
 *
 * Sizes: small file i is median × e^(σ·zᵢ) with zᵢ standard normal, clamped to 1 B .. 1 MiB; σ is
 * solved by bisection over the drawn zᵢ so the whole tree lands on the requested total.
 * Contents: slices of one seeded 16 MiB random pool, every 1 MiB chunk stamped with its file and
 * chunk number, so no two chunks are equal yet generation runs at write speed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SeededRandom } from './prng.js';

export interface TreeSpec {
  readonly seed: number;
  /** Files drawn from the log-normal distribution. */
  readonly smallFiles: number;
  /** Files of 1–9 MiB (uniform), in big/. */
  readonly bigFiles: number;
  /** Target size of all files together, in bytes. */
  readonly totalBytes: number;
  /** Median size of the small files, in bytes. */
  readonly medianBytes: number;
}

export interface PlannedFile {
  /** Path relative to the tree root, '/'-separated. */
  readonly path: string;
  readonly size: number;
}

export interface TreePlan {
  readonly spec: TreeSpec;
  readonly files: readonly PlannedFile[];
  readonly totalBytes: number;
  /** The log-normal σ that makes the total land on target. */
  readonly sigma: number;
}

/** The tree of bench/tree.mjs: 20,000 small files (median 8 KiB) + 30 of 1–9 MiB, ≈ 500 MB. */
export const LARGE_TREE: TreeSpec = { seed: 1, smallFiles: 20_000, bigFiles: 30, totalBytes: 500e6, medianBytes: 8192 };

/** Bytes per file of LARGE_TREE, used to scale smaller trees to the same shape. */
const BYTES_PER_FILE = 25_000;

/** The same shape at `files` files in all (`veritree bench --tree-files`): 2,000 → ≈ 50 MB. */
export function scaledTreeSpec(files: number, seed = 1): TreeSpec {
  const bigFiles = Math.floor((files * LARGE_TREE.bigFiles) / (LARGE_TREE.smallFiles + LARGE_TREE.bigFiles));
  return { seed, smallFiles: files - bigFiles, bigFiles, totalBytes: files * BYTES_PER_FILE, medianBytes: 8192 };
}

const MIB = 1 << 20;
const SMALL_MAX = MIB;
const BIG_MIN = MIB;
const BIG_MAX = 9 * MIB;

function smallSize(median: number, sigma: number, z: number): number {
  return Math.min(SMALL_MAX, Math.max(1, Math.round(median * Math.exp(sigma * z))));
}

function smallPath(i: number): string {
  const top = String(Math.floor(i / 1000)).padStart(2, '0');
  const sub = String(Math.floor(i / 100) % 10);
  return `d${top}/s${sub}/f${String(i).padStart(5, '0')}`;
}

export function planTree(spec: TreeSpec): TreePlan {
  const rng = new SeededRandom(spec.seed);
  const big: PlannedFile[] = [];
  for (let j = 0; j < spec.bigFiles; j++) big.push({ path: `big/b${String(j).padStart(2, '0')}.bin`, size: rng.intBetween(BIG_MIN, BIG_MAX) });
  const bigBytes = big.reduce((s, f) => s + f.size, 0);
  const z = Array.from({ length: spec.smallFiles }, () => rng.normal());
  const smallTarget = Math.max(0, spec.totalBytes - bigBytes);
  const smallTotal = (sigma: number) => z.reduce((s, zi) => s + smallSize(spec.medianBytes, sigma, zi), 0);
  // The sample total grows with σ (the mean of a log-normal is median·e^(σ²/2)): bisect.
  let lo = 0;
  let hi = 4;
  for (let k = 0; k < 60; k++) {
    const mid = (lo + hi) / 2;
    if (smallTotal(mid) < smallTarget) lo = mid;
    else hi = mid;
  }
  const sigma = (lo + hi) / 2;
  const small = z.map((zi, i) => ({ path: smallPath(i), size: smallSize(spec.medianBytes, sigma, zi) }));
  const files = [...small, ...big];
  return { spec, files, totalBytes: files.reduce((s, f) => s + f.size, 0), sigma };
}

const POOL_BYTES = 16 * MIB;
const CHUNK_BYTES = MIB;

/** Writes seeded content: pool slices, each 1 MiB chunk stamped with (stream id, chunk number). */
class ContentSource {
  readonly #pool: Uint8Array;
  readonly #chunk = Buffer.alloc(CHUNK_BYTES);
  readonly #rng: SeededRandom;

  constructor(seed: number) {
    this.#rng = new SeededRandom(seed ^ 0x3c6ef372);
    this.#pool = new Uint8Array(POOL_BYTES);
    this.#rng.fill(this.#pool);
  }

  /** Writes `size` bytes for stream `id` to `fd`. */
  write(fd: number, id: number, size: number): void {
    let offset = this.#rng.nextUint32() % POOL_BYTES;
    for (let done = 0, chunkNo = 0; done < size; chunkNo++) {
      const n = Math.min(CHUNK_BYTES, size - done);
      const first = Math.min(n, POOL_BYTES - offset);
      this.#chunk.set(this.#pool.subarray(offset, offset + first), 0);
      if (first < n) this.#chunk.set(this.#pool.subarray(0, n - first), first);
      offset = (offset + n) % POOL_BYTES;
      if (n >= 8) {
        this.#chunk.writeUInt32LE(id >>> 0, 0);
        this.#chunk.writeUInt32LE(chunkNo, 4);
      }
      let written = 0;
      while (written < n) written += fs.writeSync(fd, this.#chunk, written, n - written);
      done += n;
    }
  }
}

/** Creates every file of `plan` below `root` (created if missing). */
export function writeTree(root: string, plan: TreePlan): void {
  const content = new ContentSource(plan.spec.seed);
  const made = new Set<string>();
  plan.files.forEach((f, i) => {
    const file = path.join(root, ...f.path.split('/'));
    const dir = path.dirname(file);
    if (!made.has(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
    const fd = fs.openSync(file, 'w', 0o644);
    try {
      content.write(fd, i, f.size);
    } finally {
      fs.closeSync(fd);
    }
  });
}

/** Writes one seeded file of `size` bytes (bench/whole-file.mjs). */
export function writeSeededFile(file: string, size: number, seed = 1): void {
  const content = new ContentSource(seed);
  const fd = fs.openSync(file, 'w', 0o644);
  try {
    content.write(fd, 0, size);
  } finally {
    fs.closeSync(fd);
  }
}
