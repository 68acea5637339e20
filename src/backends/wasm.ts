/**
 * WASM hashing backends ('wasm-simd', 'wasm-scalar') over the AssemblyScript kernels in
 * `assembly/` (built by `npm run build:wasm` into build/sha.simd.wasm and build/sha.scalar.wasm).
 *
 * Each module is compiled once per thread and cached (`getCompiledWasmModule`); a worker pool can
 * compile in the main thread, post the `WebAssembly.Module` to its workers and install it there with
 * `setCompiledWasmModule` (or build a factory bound to it with `createWasmFactory`).
 *
 * Every `Hasher` owns one instance (and so one linear memory) of the module: the salted prefix state
 * and the constant final-block schedule are set up once per (salt, block size) inside it, and an
 * `inputBuffer` view can never be disturbed by another hasher. Creating one costs ~80 µs and a few
 * hundred KiB of (lazily committed) memory, so reuse hashers rather than making one per file.
 *
 * Linear memory of an instance, from `heap_base()` on (all offsets 64-byte aligned):
 *
 *     | padded salt | IN (inputBuffer views) | OUT (digests) | COPY (staging of ordinary arrays) |
 *
 * The IN region starts at a fixed offset. Memory only grows in `inputBuffer()` (and, for blocks
 * larger than the COPY region, in the copy path of `hashBlocks`); growth detaches previously
 * handed-out views, which the `inputBuffer` contract allows.
 */
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import type { HashAlgInfo } from '../params.js';
import type { BackendName, Hasher, HasherFactory } from './types.js';

export type WasmKind = 'simd' | 'scalar';

// Minimal typing of the JS WebAssembly API: the project's `lib` (ES2022, no DOM) and @types/node 20
// do not declare it. Module-local, so it shadows (and cannot clash with) a global declaration.

/** A compiled `WebAssembly.Module` (opaque; can be posted to a worker). */
export type WasmModule = object & { readonly __wasmModuleBrand?: never };
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(deltaPages: number): number;
}
interface WasmApi {
  readonly Module: { new (bytes: Uint8Array): WasmModule; readonly prototype: WasmModule };
  readonly Instance: new (module: WasmModule, imports: object) => { readonly exports: object };
  validate(bytes: Uint8Array): boolean;
}
declare const WebAssembly: WasmApi;

/** Exports of build/sha.{simd,scalar}.wasm (assembly/index.ts, assembly/index.simd.ts). */
export interface KernelExports {
  readonly memory: WasmMemory;
  heap_base(): number;
  sha256_setup(saltPtr: number, saltLen: number, blockSize: number): void;
  sha256_blocks(src: number, blockSize: number, count: number, out: number): void;
  sha256_init(): void;
  sha256_update(src: number, len: number): void;
  sha256_final(src: number, len: number, totalLen: number, out: number): void;
  sha512_setup(saltPtr: number, saltLen: number, blockSize: number): void;
  sha512_blocks(src: number, blockSize: number, count: number, out: number): void;
  sha512_init(): void;
  sha512_update(src: number, len: number): void;
  sha512_final(src: number, len: number, totalLen: number, out: number): void;
}

const WASM_FILES: Readonly<Record<WasmKind, string>> = { simd: 'sha.simd.wasm', scalar: 'sha.scalar.wasm' };
const BACKEND_OF: Readonly<Record<WasmKind, BackendName>> = { simd: 'wasm-simd', scalar: 'wasm-scalar' };

const PAGE = 65536;
/** Default size of the COPY staging region (ordinary arrays, `hash()`). */
const COPY_REGION = 256 * 1024;
/** The IN region grows in steps of this many bytes. */
const IN_GRANULE = 64 * 1024;

const bytesCache: Partial<Record<WasmKind, Uint8Array>> = {};
const moduleCache: Partial<Record<WasmKind, WasmModule>> = {};
const validCache: Partial<Record<WasmKind, boolean>> = {};

/**
 * Locations of the .wasm files: relative to the compiled JS (build/dist/backends/wasm.js →
 * build/), then relative to the TS source (src/backends/wasm.ts → build/, e.g. under vitest).
 */
function candidateUrls(kind: WasmKind): URL[] {
  const file = WASM_FILES[kind];
  return [new URL(`../../${file}`, import.meta.url), new URL(`../../build/${file}`, import.meta.url)];
}

/** The raw bytes of a kernel module (read once per thread). Throws if it has not been built. */
export function getWasmBytes(kind: WasmKind): Uint8Array {
  const cached = bytesCache[kind];
  if (cached) return cached;
  const tried: string[] = [];
  for (const url of candidateUrls(kind)) {
    try {
      const bytes = new Uint8Array(readFileSync(url));
      bytesCache[kind] = bytes;
      return bytes;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      tried.push(url.pathname);
    }
  }
  throw new Error(`WASM kernel ${WASM_FILES[kind]} not found (run \`npm run build:wasm\`); looked at ${tried.join(', ')}`);
}

/** Whether this engine can compile the given kernel (the SIMD one needs wasm SIMD128). */
export function wasmKindAvailable(kind: WasmKind): boolean {
  const cached = validCache[kind];
  if (cached !== undefined) return cached;
  let ok: boolean;
  if (moduleCache[kind]) ok = true;
  else {
    try {
      ok = typeof WebAssembly === 'object' && WebAssembly.validate(getWasmBytes(kind));
    } catch {
      ok = false;
    }
  }
  validCache[kind] = ok;
  return ok;
}

/** The compiled kernel module, compiled once per thread (can be posted to workers). */
export function getCompiledWasmModule(kind: WasmKind): WasmModule {
  let mod = moduleCache[kind];
  if (!mod) {
    mod = compileOptimized(getWasmBytes(kind));
    moduleCache[kind] = mod;
  }
  return mod;
}

/**
 * Compiles so that V8 runs the kernels as optimised code only. By default V8 first runs wasm as
 * baseline (Liftoff) code and swaps in optimised code, compiled on a background thread, once a
 * function is hot. Measured here (masked OpenSSL): baseline wasm-simd ≈ 660–700 MB/s, optimised
 * ≈ 1,050, OpenSSL without SHA extensions ≈ 615. On a busy machine (pool workers booting on both
 * cores) the swap can land after the ~10 ms `auto` calibration, which then compares baseline code
 * with OpenSSL, a coin toss (the scale bench saw OpenSSL picked in 2 runs of 10, which made the
 * tree 1.4× slower). Without Liftoff, each function is compiled optimised on its first call
 * (lazily, still on demand, once per process: workers share the module's code), so every
 * measurement and every task sees the real kernel. The first call of a kernel costs about a
 * millisecond more. The flag is process-wide and only concerns wasm; veritree's kernels are the
 * only wasm it compiles.
 */
function compileOptimized(bytes: Uint8Array): WasmModule {
  setFlagsFromString('--no-liftoff');
  return new WebAssembly.Module(bytes);
}

/**
 * The kernel modules to hand to new workers: the SIMD one (compiled here now if need be: lazily,
 * about a millisecond), or the scalar one where the engine has no SIMD. A posted
 * `WebAssembly.Module` shares its compiled code: functions compiled by one thread serve all.
 */
export function wasmModulesForWorkers(): Partial<Record<WasmKind, WasmModule>> {
  for (const kind of ['simd', 'scalar'] as const) {
    if (wasmKindAvailable(kind)) {
      getCompiledWasmModule(kind);
      break;
    }
  }
  return { ...moduleCache };
}

/** Installs a module compiled elsewhere (e.g. received from the main thread) as this thread's. */
export function setCompiledWasmModule(kind: WasmKind, module: WasmModule): void {
  if (!(module instanceof WebAssembly.Module)) throw new TypeError('expected a WebAssembly.Module');
  moduleCache[kind] = module;
  validCache[kind] = true;
}

/** Instantiates one kernel instance (synchronously; the module is small). */
export function instantiateKernel(module: WasmModule): KernelExports {
  const instance = new WebAssembly.Instance(module, {});
  return instance.exports as unknown as KernelExports;
}

const align64 = (n: number): number => Math.ceil(n / 64) * 64;

interface AlgOps {
  setup(saltPtr: number, saltLen: number, blockSize: number): void;
  blocks(src: number, blockSize: number, count: number, out: number): void;
  init(): void;
  update(src: number, len: number): void;
  final(src: number, len: number, totalLen: number, out: number): void;
}

function algOps(ex: KernelExports, alg: HashAlgInfo): AlgOps {
  if (alg.name === 'sha256')
    return { setup: ex.sha256_setup, blocks: ex.sha256_blocks, init: ex.sha256_init, update: ex.sha256_update, final: ex.sha256_final };
  if (alg.name === 'sha512')
    return { setup: ex.sha512_setup, blocks: ex.sha512_blocks, init: ex.sha512_init, update: ex.sha512_update, final: ex.sha512_final };
  throw new TypeError(`unsupported hash algorithm ${String((alg as HashAlgInfo).name)}`);
}

class WasmHasher implements Hasher {
  readonly backend: BackendName;
  readonly alg: HashAlgInfo;
  readonly paddedSalt: Uint8Array;

  private readonly ex: KernelExports;
  private readonly ops: AlgOps;
  private readonly mem: WasmMemory;
  private u8: Uint8Array;
  private readonly saltPtr: number;
  /** Start of the IN region (fixed for the hasher's life). */
  private readonly inPtr: number;
  private inCap = 0;
  private outPtr = 0;
  private outCap = 0;
  private copyPtr = 0;
  private copyCap = COPY_REGION;
  /** Block size the instance's salted state / padding schedule is set up for (0: none yet). */
  private configuredBlockSize = 0;

  constructor(kind: WasmKind, module: WasmModule, alg: HashAlgInfo, paddedSalt: Uint8Array) {
    this.backend = BACKEND_OF[kind];
    this.alg = alg;
    if (!(paddedSalt instanceof Uint8Array)) throw new TypeError('paddedSalt must be a Uint8Array');
    if (paddedSalt.length % alg.hashBlockSize !== 0)
      throw new RangeError(`padded salt length ${paddedSalt.length} is not a multiple of ${alg.hashBlockSize}`);
    this.paddedSalt = Uint8Array.from(paddedSalt);
    this.ex = instantiateKernel(module);
    this.ops = algOps(this.ex, alg);
    this.mem = this.ex.memory;
    this.u8 = new Uint8Array(this.mem.buffer);
    this.saltPtr = this.ex.heap_base();
    this.inPtr = this.saltPtr + align64(this.paddedSalt.length);
    this.layout();
    this.view().set(this.paddedSalt, this.saltPtr);
  }

  /** A byte view of the whole linear memory, re-created after memory growth. */
  private view(): Uint8Array {
    if (this.u8.buffer !== this.mem.buffer) this.u8 = new Uint8Array(this.mem.buffer);
    return this.u8;
  }

  /** Places OUT and COPY after IN and grows the memory to hold them. */
  private layout(): void {
    // Every block is ≥ 2 digests long, so the digests of a region's blocks fit in half of it.
    this.outCap = align64(Math.max(this.inCap, this.copyCap) / 2);
    this.outPtr = this.inPtr + this.inCap;
    this.copyPtr = this.outPtr + this.outCap;
    const needed = this.copyPtr + this.copyCap;
    const have = this.mem.buffer.byteLength;
    if (needed > have) this.mem.grow(Math.ceil((needed - have) / PAGE));
  }

  private configure(blockSize: number): void {
    if (this.configuredBlockSize === blockSize) return;
    if (!Number.isInteger(blockSize) || blockSize <= 0 || blockSize % this.alg.hashBlockSize !== 0 || blockSize > 2 ** 30)
      throw new RangeError(`block size ${blockSize} is not a positive multiple of ${this.alg.hashBlockSize}`);
    this.ops.setup(this.saltPtr, this.paddedSalt.length, blockSize);
    this.configuredBlockSize = blockSize;
  }

  inputBuffer(bytes: number): Uint8Array {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`invalid buffer size ${bytes}`);
    if (bytes > this.inCap) {
      this.inCap = Math.ceil(bytes / IN_GRANULE) * IN_GRANULE;
      this.layout();
    }
    return new Uint8Array(this.view().buffer, this.inPtr, bytes);
  }

  hashBlocks(input: Uint8Array, blockSize: number, count: number, out: Uint8Array, outOffset: number): void {
    if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`invalid block count ${count}`);
    if (count === 0) return;
    this.configure(blockSize);
    const total = count * blockSize;
    if (input.length < total) throw new RangeError(`input has ${input.length} bytes, ${count} blocks of ${blockSize} need ${total}`);
    const D = this.alg.digestSize;
    if (!Number.isSafeInteger(outOffset) || outOffset < 0 || outOffset + count * D > out.length)
      throw new RangeError(`output of ${out.length} bytes cannot take ${count} digests at offset ${outOffset}`);

    let mem = this.view();
    if (
      input.buffer === mem.buffer &&
      input.byteOffset >= this.inPtr &&
      input.byteOffset + total <= this.inPtr + this.inCap
    ) {
      // Zero-copy: the caller filled (part of) our IN region.
      this.ops.blocks(input.byteOffset, blockSize, count, this.outPtr);
      out.set(mem.subarray(this.outPtr, this.outPtr + count * D), outOffset);
      return;
    }

    if (this.copyCap < blockSize) {
      this.copyCap = blockSize;
      this.layout();
      mem = this.view();
    }
    const perChunk = Math.floor(this.copyCap / blockSize);
    for (let done = 0; done < count; ) {
      const n = Math.min(perChunk, count - done);
      mem.set(input.subarray(done * blockSize, (done + n) * blockSize), this.copyPtr);
      this.ops.blocks(this.copyPtr, blockSize, n, this.outPtr);
      out.set(mem.subarray(this.outPtr, this.outPtr + n * D), outOffset + done * D);
      done += n;
    }
  }

  hash(data: Uint8Array): Uint8Array {
    const mem = this.view();
    const chunk = this.copyCap; // a multiple of 128
    this.ops.init();
    let off = 0;
    while (data.length - off > chunk) {
      mem.set(data.subarray(off, off + chunk), this.copyPtr);
      this.ops.update(this.copyPtr, chunk);
      off += chunk;
    }
    const rest = data.length - off;
    mem.set(data.subarray(off), this.copyPtr);
    this.ops.final(this.copyPtr, rest, data.length, this.outPtr);
    return mem.slice(this.outPtr, this.outPtr + this.alg.digestSize);
  }
}

/** A hasher on its own instance of `module` (default: this thread's cached module of `kind`). */
export function createWasmHasher(
  kind: WasmKind,
  alg: HashAlgInfo,
  paddedSalt: Uint8Array,
  module: WasmModule = getCompiledWasmModule(kind),
): Hasher {
  return new WasmHasher(kind, module, alg, paddedSalt);
}

/**
 * A factory for `kind`; with `module`, its hashers are instantiated from that module (e.g. one
 * received from another thread) instead of this thread's cached one.
 */
export function createWasmFactory(kind: WasmKind, module?: WasmModule): HasherFactory {
  return {
    backend: BACKEND_OF[kind],
    available: () => (module ? true : wasmKindAvailable(kind)),
    create: (alg: HashAlgInfo, paddedSalt: Uint8Array): Hasher =>
      createWasmHasher(kind, alg, paddedSalt, module ?? getCompiledWasmModule(kind)),
  };
}

export const wasmSimdFactory: HasherFactory = createWasmFactory('simd');
export const wasmScalarFactory: HasherFactory = createWasmFactory('scalar');
