/**
 * The shared fs-verity correctness suite, run against every backend available on this host:
 * fsverity-utils' known-answer vectors, the upstream fixtures (fsverity-variants.tsv, verity-trees/,
 * small-src digests) and property tests against a plain independent reference.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { availableBackends, type BackendName } from '../src/backends/index.js';
import { digestBytes, digestFileSync, digestFile, digestStream } from '../src/merkle/file.js';
import { referenceDigest, fsverityTestData } from './helpers/reference.js';
import { FIXTURES_DIR, extractSmallSrc, fixture, unquoteBash } from './helpers/fixtures.js';

const BACKENDS = availableBackends();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// programs/test_compute_digest.c (fsverity-utils): data byte i = (i%11)+(i%439)+(i%1103).
const KNOWN_ANSWERS = [
  { alg: 'sha256', size: 1000000, block: 4096, salt: '', digest: '48df0c462329cd879661bd05b39aa81b05cc16afd27a7196a559da83531d39d9' },
  { alg: 'sha256', size: 100000, block: 4096, salt: '', digest: 'f2096a36c5cdca4fa33ee8852833150bb324992e5417a9d571f1bffff73b9efc' },
  { alg: 'sha256', size: 4096, block: 4096, salt: '', digest: '6ac39979016e3ddf3d39fff6cb984f7c118acdf1852919f5c100c4b142c1818e' },
  { alg: 'sha256', size: 1, block: 4096, salt: '', digest: 'b803429503d95915829b29fdbc8bbad142f3abfd11b1cadf5526582e685c0551' },
  { alg: 'sha256', size: 0, block: 4096, salt: '', digest: '3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95' },
  { alg: 'sha256', size: 1000000, block: 4096, salt: 'abcd', digest: '917900b0d299454aa304d5debc6f39e4af7b5abe33bdbc568d5d8f1e5c4d8652' },
  { alg: 'sha256', size: 1000000, block: 4096, salt: '0123456789:;<=>?@ABCDEFGHIJKLMNO', digest: 'bc2d70324c048c220a2cb19083214086' + '3eb268e680427939e5d467bea5ec5ad9' },
  { alg: 'sha256', size: 1000000, block: 1024, salt: '', digest: 'e9df927c14fcb961d5f51c666d8ae4c14fe4ff98a374c733e898d00c9e74a8e3' },
  { alg: 'sha256', size: 1000000, block: 512, salt: '', digest: '0393ee3dfd4a28966e2af4e07cfa5b032c30da5bb8e8ef63b9a55bf963262334' },
  { alg: 'sha256', size: 1000000, block: 65536, salt: '', digest: 'f3b6418f26d4d0e74728193bae76f15cb4bb2ce9777448d76bd8138b69ec61c2' },
  {
    alg: 'sha512', size: 1000000, block: 4096, salt: 'abcd',
    digest: '8425c6d0c94f84ed904c12936845fbb7af99537537897' + '12dcc3be142db3d4b6b47a399ad52aa609256ce29a960bf4bb0e595ec386ca58c06519d546dc5b197bb',
  },
] as const;

describe.each(BACKENDS.map((b) => [b]))('backend %s', (backend: BackendName) => {
  const slow = backend === 'noble';

  it('matches the fsverity-utils known-answer vectors', () => {
    const data = fsverityTestData(1000000);
    for (const v of KNOWN_ANSWERS) {
      const r = digestBytes(data.subarray(0, v.size), { backend, hashAlg: v.alg, blockSize: v.block, salt: Buffer.from(v.salt, 'latin1') });
      expect(r.hex, `${v.alg} size ${v.size} block ${v.block} salt '${v.salt}'`).toBe(v.digest);
    }
  });

  it("matches the reference on 'A' x n around block and level boundaries", () => {
    // 128 SHA-256 digests fill a 4 KiB block: level boundaries at 4096 * 128^k bytes.
    const B = 4096;
    const sizes = [1, 63, 64, 65, B - 1, B, B + 1, 2 * B, 128 * B - 1, 128 * B, 128 * B + 1, 129 * B];
    if (!slow) sizes.push(128 * 128 * B - 1, 128 * 128 * B + 1);
    const max = Math.max(...sizes);
    const data = new Uint8Array(max).fill(0x41);
    for (const size of sizes) {
      for (const alg of ['sha256', 'sha512'] as const) {
        const r = digestBytes(data.subarray(0, size), { backend, hashAlg: alg, merkleTree: true });
        const ref = referenceDigest(data.subarray(0, size), alg, B, new Uint8Array(0));
        expect(r.hex, `${alg} size ${size}`).toBe(ref.digest.toString('hex'));
        expect(hex(r.merkleTree!), `${alg} size ${size} tree`).toBe(ref.tree.toString('hex'));
      }
    }
  });

  it('agrees with the plain reference on random inputs (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('sha256', 'sha512'),
        fc.constantFrom(64, 128, 256, 512, 1024, 2048, 4096, 8192, 65536),
        fc.uint8Array({ maxLength: 32 }),
        fc.integer({ min: 0, max: slow ? 40_000 : 300_000 }),
        fc.integer({ min: 0, max: 255 }),
        (alg, blockSize, salt, size, seed) => {
          if (blockSize < (alg === 'sha256' ? 64 : 128)) return;
          const data = new Uint8Array(size);
          let x = seed * 2654435761 + 1;
          for (let i = 0; i < size; i++) {
            x = (x * 1103515245 + 12345) >>> 0;
            data[i] = x >>> 24;
          }
          const r = digestBytes(data, { backend, hashAlg: alg, blockSize, salt, merkleTree: true });
          const ref = referenceDigest(data, alg, blockSize, salt);
          expect(r.hex).toBe(ref.digest.toString('hex'));
          expect(hex(r.rootHash)).toBe(ref.rootHash.toString('hex'));
          expect(Buffer.from(r.merkleTree!).equals(ref.tree)).toBe(true);
        },
      ),
      { numRuns: slow ? 40 : 150, seed: 20261124 },
    );
  });

  it('gives the same result fed in odd-sized pieces as in one piece', async () => {
    const data = fsverityTestData(300_001);
    const whole = digestBytes(data, { backend, merkleTree: true });
    for (const piece of [1, 7, 4095, 4097, 65537, 1 << 20]) {
      async function* pieces() {
        for (let off = 0; off < data.length; off += piece) yield data.subarray(off, off + piece);
      }
      const streamed = await digestStream(pieces(), { backend, merkleTree: true });
      expect(streamed.hex, `pieces of ${piece}`).toBe(whole.hex);
      expect(Buffer.from(streamed.merkleTree!).equals(Buffer.from(whole.merkleTree!))).toBe(true);
    }
  });

  describe(`upstream fixtures (${FIXTURES_DIR})`, () => {
    it('reproduces every row of fsverity-variants.tsv', () => {
      const src = path.dirname(extractSmallSrc());
      const rows = fs.readFileSync(fixture('fsverity-variants.tsv'), 'utf8').trim().split('\n').slice(1);
      expect(rows.length).toBe(420);
      for (const row of rows) {
        const [file, alg, block, salt, want] = row.split('\t') as [string, string, string, string, string];
        const r = digestFileSync(path.join(src, file), { backend, hashAlg: alg, blockSize: Number(block), ...(salt !== '-' ? { salt } : {}) });
        expect(r.hex, row).toBe(want);
      }
    });

    it('reproduces every descriptor and Merkle tree in verity-trees/', () => {
      const src = extractSmallSrc();
      const dir = fixture('verity-trees');
      const descs = fs.readdirSync(dir).filter((f) => f.endsWith('.desc'));
      expect(descs.length).toBeGreaterThanOrEqual(6);
      for (const d of descs) {
        const m = /^(.*)\.(sha256|sha512)-(\d+)k(-salt)?\.desc$/.exec(d);
        expect(m, d).not.toBeNull();
        const [, name, alg, kb, salted] = m!;
        const file = name === 'small.cfs' ? fixture('small.cfs') : path.join(src, 'files', `${name}.bin`);
        const r = digestFileSync(file, { backend, hashAlg: alg!, blockSize: Number(kb) * 1024, merkleTree: true, ...(salted ? { salt: 'deadbeef' } : {}) });
        expect(hex(r.descriptor), d).toBe(fs.readFileSync(path.join(dir, d)).toString('hex'));
        const tree = fs.readFileSync(path.join(dir, d.replace(/\.desc$/, '.merkle')));
        expect(Buffer.from(r.merkleTree!).equals(tree), `${d} merkle tree`).toBe(true);
      }
    });

    it('reproduces small-src.fsverity-sha256.tsv (every regular source file)', async () => {
      const src = path.dirname(extractSmallSrc());
      const lines = fs.readFileSync(fixture('small-src.fsverity-sha256.tsv'), 'utf8').trim().split('\n');
      expect(lines.length).toBe(30);
      for (const line of lines) {
        const tab = line.indexOf('\t');
        const want = line.slice(0, tab);
        const file = path.join(src, unquoteBash(line.slice(tab + 1)));
        expect(digestFileSync(file, { backend }).hex, file).toBe(want);
        expect((await digestFile(file, { backend })).hex, file).toBe(want);
      }
    });

    it("gives small.cfs the digest mkcomposefs printed (fixture README)", () => {
      expect(digestFileSync(fixture('small.cfs'), { backend }).hex).toBe('b5a64206c161c8b4a09fdf6049471a6186df5532e0c865b96acf3b4dfe7aab2b');
    });
  });
});

it('runs the suite against every backend this host offers', () => {
  // Guards against silently testing nothing: node-crypto and noble exist on every Node ≥ 20.12,
  // and WASM SIMD on every V8 that runs Node 20.
  expect(BACKENDS).toEqual(expect.arrayContaining(['wasm-simd', 'wasm-scalar', 'node-crypto', 'noble']));
});
