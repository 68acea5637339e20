/**
 * The AssemblyScript SHA-256 / SHA-512 kernels (build/sha.simd.wasm, build/sha.scalar.wasm) through
 * their TypeScript backend, against node:crypto: salted block hashing for every SIMD lane/tail
 * shape and block size, zero-copy input views and ordinary arrays, salt / block-size switching,
 * the plain one-shot `hash()`, module caching and the SIMD-free scalar build.
 *
 * Needs the .wasm files: `npm run build:wasm` (the `pretest` script runs it).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HASH_ALGS, padSalt, type HashAlgInfo } from '../src/params.js';
import type { Hasher, HasherFactory } from '../src/backends/types.js';
import {
  createWasmFactory,
  createWasmHasher,
  getCompiledWasmModule,
  getWasmBytes,
  setCompiledWasmModule,
  wasmKindAvailable,
  wasmScalarFactory,
  wasmSimdFactory,
  type WasmKind,
} from '../src/backends/wasm.js';

const FACTORIES: [WasmKind, HasherFactory][] = [
  ['simd', wasmSimdFactory],
  ['scalar', wasmScalarFactory],
];
const ALGS: HashAlgInfo[] = [HASH_ALGS.sha256, HASH_ALGS.sha512];
const COUNTS = [0, 1, 2, 3, 4, 5, 7, 8, 9, 33];
const SALT_LENGTHS = [0, 1, 4, 32];

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function saltOf(len: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: len }, (_, i) => (i * 37 + seed * 101 + 11) & 0xff);
}

/** node:crypto reference: H(paddedSalt || block) for each block, concatenated. */
function reference(alg: HashAlgInfo, paddedSalt: Uint8Array, data: Uint8Array, blockSize: number, count: number): string {
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++)
    parts.push(createHash(alg.name).update(paddedSalt).update(data.subarray(i * blockSize, (i + 1) * blockSize)).digest());
  return Buffer.concat(parts).toString('hex');
}

/** Hashes `data` through an ordinary array (copy path) and through an inputBuffer view. */
function both(h: Hasher, data: Uint8Array, blockSize: number, count: number): { copied: string; viewed: string } {
  const D = h.alg.digestSize;
  // Ordinary array, not at offset 0 of its ArrayBuffer; digests written at a non-zero offset.
  const backing = new Uint8Array(data.length + 3);
  backing.set(data, 3);
  const out1 = new Uint8Array(count * D + 5).fill(0xee);
  h.hashBlocks(backing.subarray(3), blockSize, count, out1, 5);
  expect(out1.subarray(0, 5).every((b) => b === 0xee)).toBe(true);

  const view = h.inputBuffer(count * blockSize);
  expect(view.length).toBe(count * blockSize);
  view.set(data.subarray(0, count * blockSize));
  const out2 = new Uint8Array(count * D);
  h.hashBlocks(view, blockSize, count, out2, 0);
  return { copied: hex(out1.subarray(5)), viewed: hex(out2) };
}

function blockSizesFor(alg: HashAlgInfo): number[] {
  const sizes: number[] = [];
  for (let b = Math.max(128, 2 * alg.digestSize); b <= 65536; b *= 2) sizes.push(b);
  return sizes;
}

describe.each(FACTORIES)('wasm-%s kernels', (kind, factory) => {
  const available = factory.available();
  it('is available on this host (SIMD: Node 16.4+ on x64/arm64)', () => {
    expect(available).toBe(true);
    expect(factory.backend).toBe(kind === 'simd' ? 'wasm-simd' : 'wasm-scalar');
  });
  if (!available) return;

  describe.each(ALGS.map((a) => [a.name, a] as const))('%s', (_name, alg) => {
    it.each(SALT_LENGTHS)('salt of %i bytes: every block size and count, copied and viewed', (saltLen) => {
      const paddedSalt = padSalt(saltOf(saltLen), alg);
      const h = factory.create(alg, paddedSalt);
      expect(h.backend).toBe(factory.backend);
      expect(h.alg).toBe(alg);
      expect(hex(h.paddedSalt)).toBe(hex(paddedSalt));
      for (const blockSize of blockSizesFor(alg)) {
        const counts = blockSize >= 16384 ? COUNTS.filter((n) => n <= 9) : COUNTS;
        for (const count of counts) {
          const data = randomBytes(count * blockSize);
          const want = reference(alg, paddedSalt, data, blockSize, count);
          const got = both(h, data, blockSize, count);
          expect(got.copied, `B=${blockSize} N=${count} copied`).toBe(want);
          expect(got.viewed, `B=${blockSize} N=${count} viewed`).toBe(want);
        }
      }
    });

    it('zero chunks (schedule skipped when a chunk is zero in every lane): against node:crypto', () => {
      // Each block: random, all zero, zero after a random prefix (the upper tree levels), or zero
      // chunks between data; lanes mixed so that a chunk is zero in all lanes, some, or none.
      const chunk = alg.hashBlockSize;
      const rnd = (n: number) => Math.floor(Math.random() * n);
      for (const saltLen of [0, 32]) {
        const paddedSalt = padSalt(saltOf(saltLen), alg);
        const h = factory.create(alg, paddedSalt);
        for (const blockSize of [1024, 4096]) {
          const chunks = blockSize / chunk;
          for (const count of [1, 2, 3, 5, 8, 9, 16, 17, 25]) {
            for (let trial = 0; trial < 6; trial++) {
              const data = new Uint8Array(count * blockSize);
              for (let b = 0; b < count; b++) {
                const block = data.subarray(b * blockSize, (b + 1) * blockSize);
                const shape = (trial + b) % 4;
                if (shape === 0) block.set(randomBytes(blockSize));
                else if (shape === 2) block.set(randomBytes(1 + rnd(blockSize / 4)));
                else if (shape === 3) for (let c = 0; c < chunks; c++) if (rnd(3) === 0) block.set(randomBytes(chunk), c * chunk);
                // A single non-zero byte at the end of a chunk still makes it a data chunk.
                if (trial === 5) block[chunk * (1 + rnd(chunks - 1)) - 1] = 1;
              }
              const want = reference(alg, paddedSalt, data, blockSize, count);
              const got = both(h, data, blockSize, count);
              expect(got.copied, `salt ${saltLen} B=${blockSize} N=${count} trial ${trial}`).toBe(want);
              expect(got.viewed).toBe(want);
            }
          }
        }
        // The plain hash of zero-filled and mostly-zero data (the streaming path absorbs chunks too).
        for (const len of [64, 128, 4096, 4096 + 17, 65536]) {
          const zeros = new Uint8Array(len);
          expect(hex(h.hash(zeros))).toBe(createHash(alg.name).update(zeros).digest('hex'));
          zeros[len - 1] = 7;
          expect(hex(h.hash(zeros))).toBe(createHash(alg.name).update(zeros).digest('hex'));
        }
      }
    });

    it('1 MiB blocks (bigger than the staging region), N = 0..5', () => {
      const B = 1 << 20;
      const paddedSalt = padSalt(saltOf(32), alg);
      const h = factory.create(alg, paddedSalt);
      const data = randomBytes(5 * B);
      for (const count of [0, 1, 2, 3, 4, 5]) {
        const want = reference(alg, paddedSalt, data, B, count);
        const got = both(h, data, B, count);
        expect(got.copied, `N=${count} copied`).toBe(want);
        expect(got.viewed, `N=${count} viewed`).toBe(want);
      }
    });

    it('hashes a sub-view of the input buffer in place', () => {
      const B = 4096;
      const h = factory.create(alg, new Uint8Array(0));
      const view = h.inputBuffer(12 * B);
      const data = randomBytes(12 * B);
      view.set(data);
      const out = new Uint8Array(7 * alg.digestSize);
      h.hashBlocks(view.subarray(3 * B, 10 * B), B, 7, out, 0);
      expect(hex(out)).toBe(reference(alg, new Uint8Array(0), data.subarray(3 * B), B, 7));
    });

    it('keeps the input region in place when the buffer is asked for again', () => {
      const h = factory.create(alg, new Uint8Array(0));
      const a = h.inputBuffer(4096);
      const offset = a.byteOffset;
      const b = h.inputBuffer(1000);
      expect(b.byteOffset).toBe(offset);
      expect(b.buffer).toBe(a.buffer);
      // Growth detaches the old views, but the region starts at the same offset.
      const c = h.inputBuffer(3 << 20);
      expect(c.byteOffset).toBe(offset);
      expect(c.length).toBe(3 << 20);
    });

    it('does not disturb an input view when hashing an ordinary array', () => {
      const B = 1024;
      const h = factory.create(alg, padSalt(saltOf(4), alg));
      const view = h.inputBuffer(6 * B);
      const pending = randomBytes(6 * B);
      view.set(pending);
      const other = randomBytes(40 * B);
      const out = new Uint8Array(40 * alg.digestSize);
      h.hashBlocks(other, B, 40, out, 0);
      expect(hex(out)).toBe(reference(alg, h.paddedSalt, other, B, 40));
      expect(view.length).toBe(6 * B);
      expect(hex(view)).toBe(hex(pending));
      const out2 = new Uint8Array(6 * alg.digestSize);
      h.hashBlocks(view, B, 6, out2, 0);
      expect(hex(out2)).toBe(reference(alg, h.paddedSalt, pending, B, 6));
    });

    it('several hashers with different salts, interleaved, and a hasher switching block sizes', () => {
      const salts = [0, 1, 32, 4].map((n, i) => padSalt(saltOf(n, i + 2), alg));
      const hashers = salts.map((s) => factory.create(alg, s));
      for (let round = 0; round < 3; round++) {
        for (const [i, h] of hashers.entries()) {
          const B = [256, 4096, 1024, 65536][(i + round) % 4]!;
          const count = 1 + ((i * 3 + round) % 6);
          const data = randomBytes(count * B);
          const got = both(h, data, B, count);
          const want = reference(alg, salts[i]!, data, B, count);
          expect(got.copied).toBe(want);
          expect(got.viewed).toBe(want);
        }
      }
    });

    it('hash(): plain unsalted digest of every length 0..300, and longer messages', () => {
      const h = factory.create(alg, padSalt(saltOf(32), alg));
      const data = randomBytes(300);
      for (let len = 0; len <= 300; len++) {
        const msg = data.subarray(0, len);
        expect(hex(h.hash(msg)), `len=${len}`).toBe(createHash(alg.name).update(msg).digest('hex'));
      }
      const descriptor = randomBytes(256);
      expect(hex(h.hash(descriptor))).toBe(createHash(alg.name).update(descriptor).digest('hex'));
      // Longer than the staging region: streamed through several update calls.
      for (const len of [(256 << 10) - 1, 256 << 10, (256 << 10) + 1, 700_001]) {
        const big = randomBytes(len);
        expect(hex(h.hash(big)), `len=${len}`).toBe(createHash(alg.name).update(big).digest('hex'));
      }
      // hash() leaves the salted block state alone.
      const block = randomBytes(4096);
      const out = new Uint8Array(alg.digestSize);
      h.hashBlocks(block, 4096, 1, out, 0);
      expect(hex(out)).toBe(reference(alg, h.paddedSalt, block, 4096, 1));
    });

    it('hash() accepts a view of its own input buffer', () => {
      const h = factory.create(alg, new Uint8Array(0));
      const view = h.inputBuffer(1000);
      view.set(randomBytes(1000));
      const msg = view.subarray(17, 917);
      expect(hex(h.hash(msg))).toBe(createHash(alg.name).update(msg).digest('hex'));
    });

    it('rejects bad arguments', () => {
      const h = factory.create(alg, new Uint8Array(0));
      const out = new Uint8Array(4 * alg.digestSize);
      expect(() => h.hashBlocks(new Uint8Array(4096), 4096, 2, out, 0)).toThrow(RangeError);
      expect(() => h.hashBlocks(new Uint8Array(8192), 4096, 2, out, 3 * alg.digestSize)).toThrow(RangeError);
      expect(() => h.hashBlocks(new Uint8Array(8192), 100, 2, out, 0)).toThrow(RangeError);
      expect(() => h.hashBlocks(new Uint8Array(8192), 4096, -1, out, 0)).toThrow(RangeError);
      expect(() => factory.create(alg, new Uint8Array(alg.hashBlockSize + 1))).toThrow(RangeError);
    });

    it('property: random salts, block sizes, counts and data match node:crypto', () => {
      const h0 = factory.create(alg, new Uint8Array(0));
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 32 }),
          fc.integer({ min: Math.log2(Math.max(128, 2 * alg.digestSize)), max: 13 }),
          fc.integer({ min: 0, max: 13 }),
          fc.integer({ min: 0, max: 0xffffffff }),
          fc.boolean(),
          (saltLen, logB, count, seed, viaView) => {
            const B = 2 ** logB;
            const paddedSalt = padSalt(saltOf(saltLen, seed & 0xff), alg);
            const h = saltLen === 0 ? h0 : factory.create(alg, paddedSalt);
            const data = new Uint8Array(count * B);
            let x = seed | 1;
            for (let i = 0; i < data.length; i++) {
              x ^= x << 13;
              x ^= x >>> 17;
              x ^= x << 5;
              data[i] = x & 0xff;
            }
            const out = new Uint8Array(count * alg.digestSize);
            let input: Uint8Array = data;
            if (viaView) {
              input = h.inputBuffer(data.length);
              input.set(data);
            }
            h.hashBlocks(input, B, count, out, 0);
            expect(hex(out)).toBe(reference(alg, paddedSalt, data, B, count));
          },
        ),
        { numRuns: 150 },
      );
    });
  });
});

describe('module handling', () => {
  it('compiles each module once per thread and can instantiate from a given module', () => {
    for (const kind of ['simd', 'scalar'] as const) {
      if (!wasmKindAvailable(kind)) continue;
      const m = getCompiledWasmModule(kind);
      expect(m).toBeInstanceOf(WebAssembly.Module);
      expect(getCompiledWasmModule(kind)).toBe(m);
      const fresh = new WebAssembly.Module(getWasmBytes(kind));
      const f = createWasmFactory(kind, fresh);
      expect(f.available()).toBe(true);
      const alg = HASH_ALGS.sha256;
      const block = randomBytes(4096);
      const out = new Uint8Array(32);
      f.create(alg, new Uint8Array(0)).hashBlocks(block, 4096, 1, out, 0);
      expect(hex(out)).toBe(createHash('sha256').update(block).digest('hex'));
      createWasmHasher(kind, alg, new Uint8Array(0), fresh).hashBlocks(block, 4096, 1, out, 0);
      expect(hex(out)).toBe(createHash('sha256').update(block).digest('hex'));
      // Installing a module (as a worker does with one posted to it) replaces the cached one.
      setCompiledWasmModule(kind, fresh);
      expect(getCompiledWasmModule(kind)).toBe(fresh);
      setCompiledWasmModule(kind, m);
    }
  });

  it('the SIMD module uses SIMD opcodes; the scalar one validates without SIMD', async () => {
    const simd = getWasmBytes('simd');
    const scalar = getWasmBytes('scalar');
    expect(WebAssembly.validate(simd)).toBe(true);
    expect(WebAssembly.validate(scalar)).toBe(true);
    // Binaryen (shipped with assemblyscript) validates the scalar build with SIMD disabled.
    const { default: binaryen } = await import('binaryen');
    const F = binaryen.Features;
    const noSimd = F.MVP | F.MutableGlobals | F.SignExt | F.NontrappingFPToInt | F.BulkMemory | (F.BulkMemoryOpt ?? 0);
    const inspect = (bytes: Uint8Array, features: number): { valid: boolean; usesV128: boolean } => {
      const mod = binaryen.readBinary(bytes);
      try {
        mod.setFeatures(features);
        const usesV128 = /\bv128\b|\bi32x4\b|\bi64x2\b|\bi8x16\b/.test(mod.emitText());
        // (validating an invalid module prints every error, so only validate what should pass)
        return { valid: usesV128 ? false : Boolean(mod.validate()), usesV128 };
      } finally {
        mod.dispose();
      }
    };
    expect(inspect(scalar, noSimd)).toEqual({ valid: true, usesV128: false });
    expect(inspect(simd, noSimd | F.SIMD128).usesV128).toBe(true);
  });

  it('finds the .wasm files next to the build output', () => {
    for (const kind of ['simd', 'scalar'] as const) {
      const onDisk = readFileSync(new URL(`../build/sha.${kind}.wasm`, import.meta.url));
      expect(Buffer.compare(onDisk, getWasmBytes(kind))).toBe(0);
    }
  });
});
