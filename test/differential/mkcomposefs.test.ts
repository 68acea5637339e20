/**
 * veritree's image writer against a real mkcomposefs 1.0.8 binary: random dumps written by both,
 * byte for byte, or refused by both. Not part of `npm test` (Debian ships no composefs); run it
 * with a binary built from composefs 1.0.8:
 *
 *   VERITREE_MKCOMPOSEFS=/path/to/mkcomposefs npm run test:mkcomposefs
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, type ImageOptions } from '../../src/composefs/writer.js';
import { closeSharedPool } from '../../src/pool/pool.js';
import { entryArb, expectedDump } from '../helpers/composefs-model.js';

const MKCOMPOSEFS = process.env.VERITREE_MKCOMPOSEFS;
if (MKCOMPOSEFS === undefined || !fs.existsSync(MKCOMPOSEFS)) {
  throw new Error('set VERITREE_MKCOMPOSEFS to an mkcomposefs 1.0.8 binary (this suite exists only to compare against it)');
}

let work: string;
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-mkcomposefs-'));
});
afterAll(async () => {
  fs.rmSync(work, { recursive: true, force: true });
  await closeSharedPool();
});

describe('random dumps written by mkcomposefs too', () => {
  it('byte-identical images, or both refuse', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(entryArb, { maxLength: 120 }),
        fc.constantFrom<ImageOptions>({}, { maxVersion: 0 }, { minVersion: 1 }),
        async (entries, options) => {
          const dump = expectedDump({ mtime: [1700000000, 0] }, entries);
          const dumpPath = path.join(work, 'in.dump');
          const refPath = path.join(work, 'ref.cfs');
          fs.writeFileSync(dumpPath, dump, 'latin1');
          fs.rmSync(refPath, { force: true });
          const args = ['--from-file', ...(options.minVersion !== undefined ? [`--min-version=${options.minVersion}`] : []),
            ...(options.maxVersion !== undefined ? [`--max-version=${options.maxVersion}`] : []), dumpPath, refPath];
          const ref = spawnSync(MKCOMPOSEFS, args);
          const mine = await buildImage({ kind: 'dump', text: dump }, options).then((r) => r.image, () => null);
          if (ref.status !== 0) {
            expect(mine).toBeNull();
            return;
          }
          expect(mine).not.toBeNull();
          expect(mine!.equals(fs.readFileSync(refPath))).toBe(true);
        },
      ),
      { seed: 0xcf5, numRuns: 300, endOnFailure: true },
    );
  });
});
