/**
 * Tree throughput: `digestTree` (what `veritree digest -r` runs) over a generated tree on a
 * HashPool of t threads — walking, opening, reading and hashing every file, results back on the
 * main thread. One untimed pass first (pool start-up, WASM compilation, page cache), then timed
 * passes until the measurement time is used up; the median pass is reported.
 * The untimed pass's digests are fingerprinted so backends and thread counts can be checked to
 * agree, and every pass must deliver every file: a pass that stops yielding for STALL_MS (seen:
 * the scheduler losing a wake-up and the process exiting 0 mid-tree) is abandoned and counted.
 */
import crypto from 'node:crypto';
import { digestTree, type TreeDigest } from '../pool/tree.js';
import type { BackendName } from '../backends/index.js';
import type { HashAlg } from '../params.js';
import type { HashPool } from '../pool/pool.js';

export interface TreeRound {
  readonly dir: string;
  readonly pool: HashPool;
  readonly backend: BackendName;
  readonly hashAlg: HashAlg;
  readonly durationMs: number;
}

export interface TreeResult {
  readonly mbps: number;
  readonly filesPerSec: number;
  readonly files: number;
  readonly bytes: number;
  /** Timed passes behind the median. */
  readonly passes: number;
  /** Files that failed, were skipped or never came back, over all passes (0 for a healthy run). */
  readonly failures: number;
  /** Passes abandoned because digestTree stopped yielding (0 for a healthy run). */
  readonly stalls: number;
  /** sha256 over the sorted `digest path` lines of the untimed pass. */
  readonly fingerprint: string;
}

/** No result for this long means the pass will never finish. */
const STALL_MS = 5000;

class Stalled extends Error {}

/**
 * A watchdog for one pass: `stalled` rejects once `poke()` has not been called for `ms`. Its
 * interval timer also keeps the event loop alive, so a lost wake-up cannot end the process.
 */
function watchdog(ms: number): { stalled: Promise<never>; poke: () => void; stop: () => void } {
  let last = Date.now();
  let fire!: (e: Stalled) => void;
  const stalled = new Promise<never>((_, reject) => (fire = reject));
  stalled.catch(() => {}); // handled by whoever races it
  const timer = setInterval(() => {
    if (Date.now() - last > ms) fire(new Stalled());
  }, Math.min(ms, 250));
  return { stalled, poke: () => (last = Date.now()), stop: () => clearInterval(timer) };
}

interface Pass {
  readonly stalled: boolean;
  readonly ns: number;
  readonly files: number;
  readonly bytes: number;
  readonly failures: number;
  readonly lines: string[] | undefined;
}

async function pass(r: TreeRound, keepLines: boolean): Promise<Pass> {
  const lines: string[] | undefined = keepLines ? [] : undefined;
  let files = 0;
  let bytes = 0;
  let failures = 0;
  const t0 = process.hrtime.bigint();
  const it = digestTree(r.dir, { pool: r.pool, backend: r.backend, hashAlg: r.hashAlg })[Symbol.asyncIterator]();
  const dog = watchdog(STALL_MS);
  try {
    for (;;) {
      let step: IteratorResult<TreeDigest>;
      try {
        step = await Promise.race([it.next(), dog.stalled]);
      } catch (err) {
        // The generator stays suspended: nothing is in flight on the pool, so the pool is reusable.
        if (err instanceof Stalled) return { stalled: true, ns: 0, files, bytes, failures, lines };
        throw err;
      }
      dog.poke();
      if (step.done) break;
      const d = step.value;
      if (!d.ok) {
        failures++;
        continue;
      }
      files++;
      bytes += d.size;
      lines?.push(`${d.hex} ${d.path}`);
    }
  } finally {
    dog.stop();
  }
  return { stalled: false, ns: Number(process.hrtime.bigint() - t0), files, bytes, failures, lines };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Measures one backend on one pool; `expectedFiles` is how many files the tree holds. */
export async function measureTree(r: TreeRound, expectedFiles: number): Promise<TreeResult> {
  let failures = 0;
  let stalls = 0;
  /** A pass that delivered every file, else undefined (and counted). */
  const complete = async (keepLines: boolean): Promise<Pass | undefined> => {
    const p = await pass(r, keepLines);
    failures += p.failures + Math.max(0, expectedFiles - p.files - p.failures);
    if (p.stalled) stalls++;
    return p.stalled || p.files !== expectedFiles ? undefined : p;
  };
  let warm: Pass | undefined;
  for (let attempt = 0; attempt < 3 && !warm; attempt++) warm = await complete(true);
  if (!warm) throw new Error(`${r.backend} x${r.pool.threads}: no complete pass over the tree in 3 attempts`);
  const fingerprint = crypto.createHash('sha256').update(warm.lines!.sort().join('\n')).digest('hex');
  const times: number[] = [];
  const budgetNs = r.durationMs * 1e6;
  let spent = 0;
  for (let tries = 0; times.length === 0 || (spent < budgetNs && tries < 1000); tries++) {
    const p = await complete(false);
    if (p) {
      times.push(p.ns);
      spent += p.ns;
    } else if (tries > 3 && times.length === 0) throw new Error(`${r.backend} x${r.pool.threads}: passes keep failing`);
  }
  const ns = median(times);
  return { mbps: (warm.bytes * 1e3) / ns, filesPerSec: (warm.files * 1e9) / ns, files: warm.files, bytes: warm.bytes, passes: times.length, failures, stalls, fingerprint };
}
