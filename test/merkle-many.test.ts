/**
 * src/merkle/many.ts — the levels above the leaves and the descriptors of many files hashed in
 * shared calls — against the one-file-at-a-time Merkle tree builder, for every backend, both
 * algorithms, salted and unsalted, block sizes 1024 and 4096, and files of 0, 1, 2, B/D, B/D + 1
 * and more blocks (one, two and three levels above the leaves).
 */
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { acquireHasher, availableBackends, releaseHasher, type BackendName } from '../src/backends/index.js';
import { digestBytes } from '../src/merkle/file.js';
import { digestsOfMany, rootsOfMany } from '../src/merkle/many.js';
import { resolveParams } from '../src/params.js';

describe.each(availableBackends().map((b) => [b]))('backend %s', (backend: BackendName) => {
  for (const hashAlg of ['sha256', 'sha512'] as const) {
    for (const blockSize of [1024, 4096]) {
      for (const salt of ['', 'c0ffee']) {
        it(`${hashAlg}, ${blockSize}-byte blocks, ${salt ? 'salted' : 'unsalted'}: equal to the per-file tree`, () => {
          const params = resolveParams({ hashAlg, blockSize, salt });
          const D = params.alg.digestSize;
          const perBlock = blockSize / D;
          // Three levels above the leaves (perBlock² + 1 blocks) only with 1 KiB blocks: 64 MiB with 4 KiB ones.
          const blockCounts = [0, 1, 2, 3, perBlock - 1, perBlock, perBlock + 1, 2 * perBlock + 5, ...(blockSize === 1024 ? [perBlock * perBlock + 1] : []), 7];
          const sizes = blockCounts.map((b, i) => (b === 0 ? 0 : (b - 1) * blockSize + 1 + ((i * 977) % blockSize)));
          // Seeded content, different per file and per block.
          const files = sizes.map((size, i) => {
            const f = Buffer.alloc(size);
            for (let at = 0; at < size; at += 64) crypto.createHash('sha512').update(`${i}/${at}`).digest().copy(f, at);
            return f;
          });
          const hasher = acquireHasher(backend, params);
          try {
            // Leaves of every file back to back, as a worker's staged batch has them.
            const runs: { firstBlock: number; blocks: number }[] = [];
            let total = 0;
            for (const f of files) {
              const blocks = Math.ceil(f.length / blockSize);
              runs.push({ firstBlock: total, blocks });
              total += blocks;
            }
            const data = new Uint8Array(total * blockSize);
            files.forEach((f, i) => data.set(f, runs[i]!.firstBlock * blockSize));
            const leaves = new Uint8Array(total * D);
            hasher.hashBlocks(data, blockSize, total, leaves, 0);
            const roots = rootsOfMany(params, hasher, leaves, runs);
            const digests = digestsOfMany(params, hasher, sizes, roots);
            files.forEach((f, i) => {
              const one = digestBytes(f, { hashAlg, blockSize, salt, backend });
              expect(Buffer.from(roots.subarray(i * D, (i + 1) * D)).toString('hex')).toBe(Buffer.from(one.rootHash).toString('hex'));
              expect(Buffer.from(digests.subarray(i * D, (i + 1) * D)).toString('hex')).toBe(one.hex);
            });
          } finally {
            releaseHasher(hasher);
          }
        });
      }
    }
  }
});
