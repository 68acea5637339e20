/**
 * Property test of the image reader on mutated fixture images (fast-check, seeded): bit flips,
 * byte overwrites, truncation, blocks spliced in from another image, dirents re-pointed at other
 * inodes (loops, directory hard links), absurd values written into superblock, inode, dirent and
 * xattr fields. Every case must end in a valid result or a clean
 * `image-invalid` VeritreeError — never a RangeError/TypeError or any other exception — and
 * within a time bound. Reproduce a failure with VERITREE_FUZZ_SEED (and VERITREE_FUZZ_RUNS).
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDump, formatLs } from '../src/cli/image.js';
import { ErofsImage } from '../src/erofs/index.js';
import { readImage } from '../src/composefs/image.js';
import { ImageInvalidError, VeritreeError } from '../src/report/errors.js';
import { FIXTURES_DIR } from './helpers/fixtures.js';

const FIXTURES = FIXTURES_DIR;

const SEED = Number(process.env.VERITREE_FUZZ_SEED ?? 0x5eed);
const RUNS = Number(process.env.VERITREE_FUZZ_RUNS ?? 1500);
/** Per-case bound; generous for a loaded 2-core machine (typical cases take a few ms). */
const CASE_LIMIT_MS = 1000;

interface Fixture {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** Byte offsets of every inode, dirent and first inline xattr entry of the valid image. */
  readonly inodes: { nid: number; offset: number; compact: boolean }[];
  readonly dirents: number[];
  readonly xattrEntries: number[];
}

function loadFixtures(): Fixture[] {
  return readdirSync(FIXTURES).filter((f) => /^small.*\.cfs$/.test(f)).sort().map((name) => {
    const bytes = new Uint8Array(readFileSync(path.join(FIXTURES, name)));
    const img = new ErofsImage(bytes, name);
    const inodes = new Map<number, { nid: number; offset: number; compact: boolean }>();
    const dirents: number[] = [];
    const xattrEntries: number[] = [];
    for (const e of img.walk()) {
      inodes.set(e.inode.nid, { nid: e.inode.nid, offset: e.inode.offset, compact: e.inode.compact });
      if (e.inode.type === 'directory') for (const d of img.readdir(e.inode)) dirents.push(d.offset);
      for (const x of img.xattrs(e.inode)) xattrEntries.push(x.offset);
    }
    return { name, bytes, inodes: [...inodes.values()], dirents, xattrEntries };
  });
}

const fixtures = loadFixtures();

const ABSURD = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const absurd = fc.oneof(fc.constantFrom(...ABSURD), fc.integer({ min: 0, max: 0xffffffff }));

/** A field: byte offset relative to its structure and width in bytes. */
const SUPERBLOCK_FIELDS: [number, number][] = [
  [8, 4], [12, 1], [13, 1], [14, 2], [16, 8], [24, 8], [32, 4], [36, 4], [40, 4], [44, 4], [80, 4], [91, 1], [92, 4], [96, 8],
];
const COMPACT_FIELDS: [number, number][] = [[0, 2], [2, 2], [4, 2], [6, 2], [8, 4], [12, 4], [16, 4], [16, 2], [24, 2], [26, 2]];
const EXTENDED_FIELDS: [number, number][] = [[8, 8], [24, 4], [28, 4], [32, 8], [40, 4], [44, 4]];
const DIRENT_FIELDS: [number, number][] = [[0, 8], [0, 4], [4, 4], [8, 2], [10, 1]];
const XATTR_FIELDS: [number, number][] = [[0, 1], [1, 1], [2, 2]];

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'write'; at: number; value: number }
  | { kind: 'truncate'; length: number }
  | { kind: 'splice'; from: number; srcBlock: number; dstBlock: number }
  | { kind: 'relink'; dirent: number; target: number }
  | { kind: 'field'; area: 'superblock' | 'inode' | 'extended' | 'dirent' | 'xattr'; pick: number; field: number; value: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('write' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), length: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('splice' as const), from: fc.nat(), srcBlock: fc.nat(), dstBlock: fc.nat() }) },
  // A dirent re-pointed at an existing inode: loops, directory hard links, cross-links.
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('relink' as const), dirent: fc.nat(), target: fc.nat() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('field' as const),
      area: fc.constantFrom('superblock' as const, 'inode' as const, 'extended' as const, 'dirent' as const, 'xattr' as const),
      pick: fc.nat(),
      field: fc.nat(),
      value: absurd,
    }),
  },
);

function writeLE(b: Uint8Array, at: number, width: number, value: number): void {
  for (let i = 0; i < width; i++) {
    if (at + i >= 0 && at + i < b.length) b[at + i] = i < 4 ? (value >>> (8 * i)) & 0xff : value >= 0xfffffffe ? 0xff : 0;
  }
}

function apply(fixture: Fixture, mutations: Mutation[]): Uint8Array {
  let b = Uint8Array.from(fixture.bytes);
  for (const m of mutations) {
    switch (m.kind) {
      case 'flip':
        if (b.length > 0) b[m.at % b.length]! ^= 1 << m.bit;
        break;
      case 'write':
        if (b.length > 0) b[m.at % b.length] = m.value;
        break;
      case 'truncate':
        b = b.slice(0, m.length % (b.length + 1));
        break;
      case 'splice': {
        const src = fixtures[m.from % fixtures.length]!.bytes;
        const blocks = Math.floor(Math.min(src.length, b.length) / 4096);
        if (blocks > 0) b.set(src.subarray((m.srcBlock % blocks) * 4096, (m.srcBlock % blocks + 1) * 4096), (m.dstBlock % blocks) * 4096);
        break;
      }
      case 'relink': {
        const at = fixture.dirents[m.dirent % fixture.dirents.length]!;
        const nid = fixture.inodes[m.target % fixture.inodes.length]!.nid;
        writeLE(b, at, 4, nid);
        writeLE(b, at + 4, 4, 0);
        break;
      }
      case 'field': {
        const table = { superblock: SUPERBLOCK_FIELDS, inode: COMPACT_FIELDS, extended: EXTENDED_FIELDS, dirent: DIRENT_FIELDS, xattr: XATTR_FIELDS }[m.area];
        const [off, width] = table[m.field % table.length]!;
        let base: number;
        if (m.area === 'superblock') base = 1024;
        else if (m.area === 'dirent') base = fixture.dirents[m.pick % fixture.dirents.length]!;
        else if (m.area === 'xattr') base = fixture.xattrEntries[m.pick % fixture.xattrEntries.length]!;
        else {
          const inode = fixture.inodes[m.pick % fixture.inodes.length]!;
          base = inode.offset;
          // Turning a compact inode into an extended one exercises the 64-byte layout.
          if (m.area === 'extended' && inode.compact) b[base] = (b[base] ?? 0) | 1;
        }
        writeLE(b, base + off, width, m.value);
        break;
      }
    }
  }
  return b;
}

const outcomes = { valid: 0, invalid: 0, slowest: 0 };

/** Runs every reader path on the bytes; returns 'valid' or 'invalid', throws on anything else. */
function exercise(bytes: Uint8Array): 'valid' | 'invalid' {
  const start = performance.now();
  let outcome: 'valid' | 'invalid';
  try {
    const view = readImage(bytes, 'fuzz.cfs');
    formatDump(view);
    formatLs(view);
    view.objects();
    // With the parse caches (image ls/dump) and without them (check-image's single streamed pass).
    for (const cacheEntries of [true, false]) {
      const raw = new ErofsImage(bytes, 'fuzz.cfs', { cacheEntries });
      for (const e of raw.walk()) {
        raw.xattrs(e.inode);
        if (e.inode.type === 'file' || e.inode.type === 'symlink') {
          raw.readData(e.inode, 0, Math.min(e.inode.size, 65536));
          if (e.inode.size > 65536) raw.readData(e.inode, e.inode.size - 4096, 4096);
        }
      }
    }
    outcome = 'valid';
  } catch (err) {
    if (!(err instanceof VeritreeError) || err.code !== 'image-invalid') {
      const e = err as Error;
      throw new Error(`unexpected ${e?.name ?? typeof err}: ${e?.message ?? String(err)}\n${e?.stack ?? ''}`);
    }
    expect(err).toBeInstanceOf(ImageInvalidError);
    expect(err.path).toBe('fuzz.cfs');
    expect(Number.isInteger((err as ImageInvalidError).offset)).toBe(true);
    expect(err.describe()).toMatch(/^fuzz\.cfs: .+, at byte -?\d+$/);
    outcome = 'invalid';
  }
  const elapsed = performance.now() - start;
  outcomes.slowest = Math.max(outcomes.slowest, elapsed);
  expect(elapsed).toBeLessThan(CASE_LIMIT_MS);
  outcomes[outcome]++;
  return outcome;
}

describe('EROFS reader under mutation (seeded property test)', () => {
  const fixtureIndex = fc.nat({ max: Math.max(0, fixtures.length - 1) });

  it('the unmutated fixtures are valid', () => {
    for (const f of fixtures) expect(exercise(f.bytes)).toBe('valid');
  });

  it('single mutations: valid result or clean image-invalid', () => {
    fc.assert(fc.property(fixtureIndex, mutation, (i, m) => {
      exercise(apply(fixtures[i]!, [m]));
    }), { seed: SEED, numRuns: RUNS * 2 });
  });

  it('stacked mutations (2..6): valid result or clean image-invalid', () => {
    fc.assert(fc.property(fixtureIndex, fc.array(mutation, { minLength: 2, maxLength: 6 }), (i, ms) => {
      exercise(apply(fixtures[i]!, ms));
    }), { seed: SEED + 1, numRuns: RUNS * 2 });
  });

  it('dense byte noise in the metadata blocks', () => {
    fc.assert(fc.property(fixtureIndex, fc.array(fc.record({ at: fc.integer({ min: 1024, max: 20479 }), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 8, maxLength: 64 }), (i, writes) => {
      exercise(apply(fixtures[i]!, writes.map((w) => ({ kind: 'write' as const, ...w }))));
    }), { seed: SEED + 2, numRuns: RUNS });
  });

  it('truncation at every 61st offset of small.cfs', () => {
    const f = fixtures.find((x) => x.name === 'small.cfs')!;
    for (let len = 0; len <= f.bytes.length; len += 61) exercise(f.bytes.subarray(0, len));
  });

  it('saw both outcomes and stayed within the time bound', () => {
    // Mutations that miss everything the reader looks at must stay valid; most others must not.
    expect(outcomes.valid).toBeGreaterThan(50);
    expect(outcomes.invalid).toBeGreaterThan(50);
    expect(outcomes.slowest).toBeLessThan(CASE_LIMIT_MS);
    console.info(`erofs fuzz: ${outcomes.valid} valid, ${outcomes.invalid} image-invalid, slowest case ${outcomes.slowest.toFixed(1)} ms (seed ${SEED})`);
  });
});
