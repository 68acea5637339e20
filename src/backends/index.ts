/**
 * Backend registry: the four hashers behind one interface, the `auto` choice by a short
 * calibration on this host (cached per process and algorithm), and a per-thread pool of hasher
 * instances so per-file work never re-instantiates WASM.
 *
 * Selection order: explicit option > VERITREE_BACKEND environment variable > `auto`.
 */
import { invalidArgument } from '../report/errors.js';
import type { HashAlgInfo, VerityParams } from '../params.js';
import { BACKEND_NAMES, type BackendName, type Hasher, type HasherFactory } from './types.js';
import { nodeCryptoFactory } from './node-crypto.js';
import { nobleFactory } from './noble.js';
import { wasmScalarFactory, wasmSimdFactory } from './wasm.js';

export type { BackendName, Hasher, HasherFactory } from './types.js';
export { BACKEND_NAMES } from './types.js';

export type BackendChoice = BackendName | 'auto';

export const FACTORIES: Readonly<Record<BackendName, HasherFactory>> = {
  'wasm-simd': wasmSimdFactory,
  'wasm-scalar': wasmScalarFactory,
  'node-crypto': nodeCryptoFactory,
  noble: nobleFactory,
};

export const BACKEND_ENV = 'VERITREE_BACKEND';

export function parseBackendChoice(name: string): BackendChoice {
  if (name === 'auto' || (BACKEND_NAMES as readonly string[]).includes(name)) return name as BackendChoice;
  throw invalidArgument('unknown-backend', `unknown backend ${JSON.stringify(name)} (expected auto, ${BACKEND_NAMES.join(', ')})`);
}

/** Backends usable on this host, in preference order for ties. */
export function availableBackends(): BackendName[] {
  return BACKEND_NAMES.filter((b) => FACTORIES[b].available());
}

export interface Calibration {
  readonly alg: string;
  readonly chosen: BackendName;
  /** Measured MB/s on 4 KiB blocks per candidate. */
  readonly mbps: Readonly<Partial<Record<BackendName, number>>>;
}

const calibrations = new Map<string, Calibration>();
const calibrationKey = (alg: HashAlgInfo, salted: boolean): string => `${alg.name}/${salted ? 'salt' : 'nosalt'}`;

/**
 * Times each available backend's hashing core on 4 KiB blocks for about 10 ms (up to 40 ms when the
 * result is a close call) and returns the fastest.
 */
export function calibrate(alg: HashAlgInfo, salted = false): Calibration {
  const cached = cachedCalibration(alg, salted);
  if (cached) return cached;
  // noble is never faster than OpenSSL or WASM, nor scalar WASM than SIMD WASM: measure only the rest.
  let candidates: BackendName[] = availableBackends().filter((b) => b !== 'noble');
  if (candidates.includes('wasm-simd')) candidates = candidates.filter((b) => b !== 'wasm-scalar');
  if (candidates.length === 0) candidates = ['noble'];
  const blockSize = 4096;
  const count = 8;
  const paddedSalt = salted ? new Uint8Array(alg.hashBlockSize).fill(0x5a) : new Uint8Array(0);
  const runs = candidates.map((backend) => {
    const hasher = FACTORIES[backend].create(alg, paddedSalt);
    const input = hasher.inputBuffer(blockSize * count);
    for (let i = 0; i < input.length; i++) input[i] = (i * 31) & 0xff;
    return { backend, hasher, input, out: new Uint8Array(count * alg.digestSize), bestNs: Infinity };
  });
  // Best of many short rounds, the candidates taking turns: whatever else loads the CPU meanwhile
  // (pool workers booting) weighs on all of them alike. Each measurement is one call into the
  // backend's native code over the 32 KiB: `hashBlocks` for the WASM kernels (the loop over blocks
  // runs inside wasm), one OpenSSL hash of the whole input for node-crypto. node-crypto's per-block
  // JS loop would be measured while V8 still interprets it (10 ms is too short to optimise it):
  // against wasm kernels that run optimised from their first call (backends/wasm.ts), OpenSSL with
  // SHA extensions then looked 20% slower than it is and lost in 4 runs of 6. That glue costs
  // OpenSSL about 10% in real runs (`veritree bench`: 1,628 vs 1,805 MB/s); the backends this
  // decides between differ by 1.6–1.8× either way (SHA extensions or not).
  // A close call (the two best within 15%: never so on the hosts measured, where the choice is
  // 1.6–1.8× either way) means a disturbed measurement: keep measuring, up to 40 ms in all.
  const start = process.hrtime.bigint();
  const closeCall = () => {
    const ns = runs.map((r) => r.bestNs).sort((a, b) => a - b);
    return ns.length > 1 && ns[1]! < ns[0]! * 1.15;
  };
  const measuring = (round: number) => {
    if (round < 4) return true;
    const elapsed = process.hrtime.bigint() - start;
    return elapsed < 10_000_000n || (elapsed < 40_000_000n && closeCall());
  };
  for (let round = 0; round < 8000 && measuring(round); round++) {
    for (const r of runs) {
      const t0 = process.hrtime.bigint();
      if (r.backend === 'node-crypto') r.hasher.hash(r.input);
      else r.hasher.hashBlocks(r.input, blockSize, count, r.out, 0);
      const ns = Number(process.hrtime.bigint() - t0);
      if (ns < r.bestNs) r.bestNs = ns;
    }
  }
  const mbps: Partial<Record<BackendName, number>> = {};
  let chosen: BackendName = candidates[0]!;
  let best = -1;
  for (const r of runs) {
    const rate = (blockSize * count * 1e3) / Math.max(r.bestNs, 1);
    mbps[r.backend] = Math.round(rate);
    if (rate > best) {
      best = rate;
      chosen = r.backend;
    }
    releaseHasher(r.hasher);
  }
  const result: Calibration = { alg: alg.name, chosen, mbps };
  calibrations.set(calibrationKey(alg, salted), result);
  return result;
}

/**
 * Below this many bytes to hash, `auto` does not calibrate. Calibrating costs ~15 ms (10 ms of
 * measuring, WASM compilation, JIT); on 8 MiB the slowest sensible pick loses less than that
 * (OpenSSL without SHA extensions ≈ 450 MB/s vs WASM SIMD ≈ 1 GB/s: 18 ms vs 8 ms), and a
 * `veritree digest` of one small file spends most of its life starting up.
 */
export const CALIBRATE_ABOVE_BYTES = 8 << 20;

/** The calibration this process already made for these parameters, if any (never measures). */
export function cachedCalibration(alg: HashAlgInfo, salted = false): Calibration | undefined {
  return calibrations.get(calibrationKey(alg, salted));
}

/** `auto` without measuring: OpenSSL first (never slow on little data), then the WASM kernels. */
function uncalibratedChoice(alg: HashAlgInfo, salted: boolean): BackendName {
  const cached = cachedCalibration(alg, salted);
  if (cached) return cached.chosen;
  return (['node-crypto', 'wasm-simd', 'wasm-scalar'] as const).find((b) => FACTORIES[b].available()) ?? 'noble';
}

/**
 * Resolves `auto` / env / explicit to a concrete backend for these parameters. `expectedBytes`,
 * when the caller knows how much it will hash, lets `auto` skip calibrating for small inputs.
 */
export function resolveBackend(
  choice: BackendChoice | undefined,
  params: VerityParams,
  env: Readonly<Record<string, string | undefined>> = process.env,
  expectedBytes?: number,
): BackendName {
  let c = choice;
  if (c === undefined) {
    const fromEnv = env[BACKEND_ENV];
    c = fromEnv ? parseBackendChoice(fromEnv) : 'auto';
  }
  const salted = params.paddedSalt.length > 0;
  if (c === 'auto' && expectedBytes !== undefined && expectedBytes < CALIBRATE_ABOVE_BYTES) return uncalibratedChoice(params.alg, salted);
  if (c === 'auto') return calibrate(params.alg, salted).chosen;
  if (!FACTORIES[c].available())
    throw invalidArgument('unknown-backend', `backend ${c} is not available on this host`);
  return c;
}

const idle = new Map<string, Hasher[]>();

function poolKey(backend: BackendName, alg: HashAlgInfo, paddedSalt: Uint8Array): string {
  return `${backend}/${alg.name}/${Buffer.from(paddedSalt).toString('hex')}`;
}

/**
 * A hasher for exclusive use until `releaseHasher`: a builder keeps pending data in the hasher's
 * input buffer between calls, so two builders must never share one.
 */
export function acquireHasher(backend: BackendName, params: Pick<VerityParams, 'alg' | 'paddedSalt'>): Hasher {
  const list = idle.get(poolKey(backend, params.alg, params.paddedSalt));
  return list?.pop() ?? FACTORIES[backend].create(params.alg, params.paddedSalt);
}

export function releaseHasher(hasher: Hasher): void {
  const key = poolKey(hasher.backend, hasher.alg, hasher.paddedSalt);
  let list = idle.get(key);
  if (!list) idle.set(key, (list = []));
  // A handful per key covers every concurrency level we use; more would only hold memory.
  if (list.length < 8) list.push(hasher);
}
