/**
 * checkRepository (src/cas/repository.ts): composefs-rs repositories built in a temp dir the way
 * composefs-rs lays them out (doc/repository.md, repository.rs `write_image` / `write_stream` /
 * `symlink_impl`) — objects/XX/<rest> from the fixture store (mkcomposefs 1.0.8) plus objects
 * stored with the project's ObjectStore / importTree, images/<digest> → ../objects/XX/<rest>,
 * streams/<content id> → ../objects/XX/<rest>, {images,streams}/refs/** → ../…/<entry>, meta.json
 * as `cfsctl init` writes it. A clean repository has no findings; every kind of damage is found in
 * one run with its code and counted; category and refs directories swapped for symlinks are
 * reported, never followed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshot } from './helpers/snapshot.js';
import { checkRepository, type RepositoryFinding, type RepositoryCheckOptions, type RepositorySummary } from '../src/cas/repository.js';
import { ObjectStore } from '../src/composefs/store.js';
import { importTree } from '../src/composefs/import.js';
import { InlineRunner } from '../src/pool/runner.js';
import { fixture } from './helpers/fixtures.js';

const pool = new InlineRunner();
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-repo-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Objects of the fixture image small.cfs (composefs-small/small.dump). */
const OBJ = {
  /** /files/rand-4096.bin */
  rand4096: '43/9b875b6c470d61533c75fb4ac7f07f2691a99d65ae04cbcbb886d0c79558fb',
  /** /files/rand-4097.bin */
  rand4097: '94/5c368f6fbcfc0d45049bdbf40cfecf83bd70af7ab4bcc56c58fcbc9d7b0100',
  /** /files/rand-8192.bin */
  rand8192: '4dccbbc3c0e8f58aa654253cece3c2668f69cd78c1bb12d93562937ff70d9a',
} as const;
const RAND8192_HEX = `b1${OBJ.rand8192}`;

const hexOf = (payload: string) => payload.replace('/', '');

interface Repo {
  readonly dir: string;
  readonly store: ObjectStore;
  /** small.cfs stored as an object: its digest and `XX/<rest>`. */
  readonly image: { digest: string; payload: string };
  /** The object streams/ links to (from importTree). */
  readonly streamPayload: string;
  readonly streamName: string;
}

/** A clean composefs-rs repository (sha256): one image, one stream, refs to both. */
async function makeRepo(name: string): Promise<Repo> {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  execFileSync('tar', ['-xf', fixture('objects.tar'), '-C', dir]);
  fs.writeFileSync(path.join(dir, 'meta.json'), `${JSON.stringify({ version: 1, algorithm: 'fsverity-sha256-12', features: { compatible: [], 'read-only-compatible': [], incompatible: [] } })}\n`);
  const store = new ObjectStore(path.join(dir, 'objects'), { fsync: false });

  // A "layer" imported with the project's own importer: its one big file is the stream object.
  const src = path.join(tmp, `${name}-src`);
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'layer.bin'), crypto.randomBytes(5000));
  const imported = await importTree(src, store, { pool, fsync: false });
  expect(imported.objectPaths).toHaveLength(1);
  const streamPayload = path.relative(path.join(dir, 'objects'), imported.objectPaths[0]!);

  const image = await store.add(fixture('small.cfs'));
  fs.mkdirSync(path.join(dir, 'images/refs/nested/deep'), { recursive: true });
  fs.symlinkSync(`../objects/${image.payload}`, path.join(dir, 'images', image.digest));
  fs.symlinkSync(`../${image.digest}`, path.join(dir, 'images/refs/small'));
  fs.symlinkSync(`../../../${image.digest}`, path.join(dir, 'images/refs/nested/deep/small'));

  const streamName = `oci-layer-sha256:${'1'.repeat(64)}`;
  fs.mkdirSync(path.join(dir, 'streams/refs/oci'), { recursive: true });
  fs.symlinkSync(`../objects/${streamPayload}`, path.join(dir, 'streams', streamName));
  fs.symlinkSync(`../../${streamName}`, path.join(dir, 'streams/refs/oci/layer'));
  return { dir, store, image: { digest: image.digest, payload: image.payload }, streamPayload, streamName };
}

async function run(dir: string, extra: Partial<RepositoryCheckOptions> = {}): Promise<{ findings: RepositoryFinding[]; summary: RepositorySummary }> {
  const findings: RepositoryFinding[] = [];
  const summary = await checkRepository(dir, { hashAlg: 'sha256', pool, ...extra, onFinding: (f) => void findings.push(f) });
  return { findings, summary };
}

function flipByte(file: string, at: number): void {
  const b = fs.readFileSync(file);
  b[at] = b[at]! ^ 0x01;
  fs.writeFileSync(file, b);
}


const codesOf = (fs_: RepositoryFinding[]) => fs_.map((f) => `${f.code} ${f.path}`).sort();

describe('checkRepository on a clean repository', () => {
  it('finds nothing, counts every entry, ref and image file, changes nothing', async () => {
    const repo = await makeRepo('clean');
    const before = snapshot(repo.dir);
    const { findings, summary } = await run(repo.dir);
    expect(findings).toEqual([]);
    expect(summary).toMatchObject({
      hashAlg: 'sha256',
      secure: false,
      measured: false,
      streamsChecked: 1,
      streamsCorrupted: 0,
      imagesChecked: 1,
      imagesCorrupted: 0,
      refsChecked: 3,
      refsCorrupted: 0,
      brokenLinks: 0,
      escapingLinks: 0,
      wrongKindLinks: 0,
      missingObjects: 0,
      problems: 0,
      byCode: {},
      interrupted: false,
    });
    // Every regular file of small.cfs was checked and passed (20 CAS-backed ones among them).
    expect(summary.imageFiles.checked).toBeGreaterThanOrEqual(20);
    expect(summary.imageFiles.ok).toBe(summary.imageFiles.checked);
    expect(snapshot(repo.dir)).toEqual(before);
  });

  it('an aborted run judges nothing and says so', async () => {
    const repo = await makeRepo('aborted');
    const ac = new AbortController();
    ac.abort();
    const { findings, summary } = await run(repo.dir, { signal: ac.signal });
    expect(findings).toEqual([]);
    expect(summary).toMatchObject({ interrupted: true, imagesChecked: 0, streamsChecked: 0, refsChecked: 0 });
  });
});

describe('checkRepository on a damaged repository: everything found in one run', () => {
  let repo: Repo;
  let findings: RepositoryFinding[];
  let summary: RepositorySummary;
  let imageB: string;
  let imageC: string;
  let flippedC: string;

  beforeAll(async () => {
    repo = await makeRepo('damaged');
    const d = repo.dir;
    const objects = path.join(d, 'objects');

    // Image B: another fixture image, stored, then one byte of its EROFS superblock magic changed in place.
    const b = await repo.store.add(fixture('small-v0.cfs'));
    imageB = b.digest;
    fs.symlinkSync(`../objects/${b.payload}`, path.join(d, 'images', b.digest));
    flipByte(path.join(objects, b.payload), 1024);

    // Image C: another fixture image, stored, then one byte of a metacopy digest changed in place
    // (the EROFS still parses: only the check of /files/rand-8192.bin can tell).
    const c = await repo.store.add(fixture('small-epoch-nodev.cfs'));
    imageC = c.digest;
    fs.symlinkSync(`../objects/${c.payload}`, path.join(d, 'images', c.digest));
    const cBytes = fs.readFileSync(path.join(objects, c.payload));
    const at = cBytes.indexOf(Buffer.from(RAND8192_HEX, 'hex'));
    expect(at).toBeGreaterThan(0);
    flipByte(path.join(objects, c.payload), at + 5);
    const flipped = Buffer.from(RAND8192_HEX, 'hex');
    flipped[5] = flipped[5]! ^ 0x01;
    flippedC = flipped.toString('hex');

    // A wrong object (content changed: /files/rand-4096.bin fails verity=require) and a missing one.
    flipByte(path.join(objects, OBJ.rand4096), 100);
    fs.rmSync(path.join(objects, OBJ.rand4097));

    // images/: a regular file where a link belongs (as upstream's own fsck test does).
    fs.writeFileSync(path.join(d, 'images/bogus-image'), 'not a symlink');
    // images/refs: broken, absolute (escapes), straight to an object (wrong kind).
    fs.symlinkSync(`../${'0'.repeat(64)}`, path.join(d, 'images/refs/gone'));
    fs.symlinkSync('/etc', path.join(d, 'images/refs/abs'));
    fs.symlinkSync(`../../objects/${repo.image.payload}`, path.join(d, 'images/refs/direct'));

    // streams/: broken (no such object), wrong kind (meta.json is no object).
    const brokenStream = `oci-config-sha256:${'2'.repeat(64)}`;
    fs.symlinkSync(`../objects/ab/${'0'.repeat(62)}`, path.join(d, 'streams', brokenStream));
    fs.symlinkSync('../meta.json', path.join(d, 'streams/oci-blob-bad'));
    // streams/refs: escaping the repository by "..", and a ref to the broken stream.
    fs.symlinkSync('../../../../../../../../etc/passwd', path.join(d, 'streams/refs/evil'));
    fs.symlinkSync(`../${brokenStream}`, path.join(d, 'streams/refs/to-broken'));

    ({ findings, summary } = await run(d));
  });

  it('reports each problem with its code', () => {
    const A = `images/${repo.image.digest}`;
    const B = `images/${imageB}`;
    const C = `images/${imageC}`;
    const byImage = (p: string) => findings.filter((f) => f.path === p).map((f) => f.code).sort();
    // Image A (small.cfs): the changed object and the missing one.
    expect(byImage(A)).toEqual(['image-missing-object', 'image-object-digest-mismatch']);
    const mismatch = findings.find((f) => f.path === A && f.code === 'image-object-digest-mismatch')!;
    expect(mismatch).toMatchObject({ hashAlg: 'sha256', expected: hexOf(OBJ.rand4096) });
    expect(mismatch.actual).toMatch(/^[0-9a-f]{64}$/);
    expect(mismatch.detail).toContain('/files/rand-4096.bin');
    expect(mismatch.detail).toContain(`objects/${OBJ.rand4096}`);
    const missing = findings.find((f) => f.path === A && f.code === 'image-missing-object')!;
    expect(missing.detail).toContain('/files/rand-4097.bin');
    // Image B: one byte of its superblock changed.
    expect(byImage(B)).toEqual(['image-invalid']);
    // Image C: the tampered metacopy, plus the same two object problems as A.
    expect(byImage(C)).toEqual(['image-missing-object', 'image-object-digest-mismatch', 'image-object-digest-mismatch']);
    const tampered = findings.find((f) => f.path === C && f.expected === flippedC)!;
    expect(tampered.code).toBe('image-object-digest-mismatch');
    expect(tampered.actual).toBe(RAND8192_HEX);
    expect(tampered.detail).toContain('/files/rand-8192.bin');

    const links = findings.filter((f) => !f.path.startsWith('images/') || !/^images\/[0-9a-f]{64}$/.test(f.path));
    expect(codesOf(links)).toEqual(
      [
        'entry-not-symlink images/bogus-image',
        'broken-symlink images/refs/gone',
        'link-escapes-repository images/refs/abs',
        'link-wrong-kind images/refs/direct',
        `broken-symlink streams/oci-config-sha256:${'2'.repeat(64)}`,
        'link-wrong-kind streams/oci-blob-bad',
        'link-escapes-repository streams/refs/evil',
        'broken-symlink streams/refs/to-broken',
      ].sort(),
    );
    expect(findings.find((f) => f.path === 'streams/refs/to-broken')!.detail).toContain('itself a broken link');
    expect(findings.find((f) => f.path === 'images/refs/abs')!.detail).toContain('absolute');
    expect(findings.find((f) => f.path === 'streams/refs/evil')!.detail).toContain('".." above the repository root');
    expect(findings.find((f) => f.path === 'images/refs/direct')!.detail).toContain('not an entry of images/');
  });

  it('counts as cfsctl does (and refs, which it does not)', () => {
    expect(summary).toMatchObject({
      streamsChecked: 3,
      streamsCorrupted: 2,
      imagesChecked: 4,
      imagesCorrupted: 4,
      refsChecked: 8,
      refsCorrupted: 5,
      brokenLinks: 3,
      escapingLinks: 2,
      wrongKindLinks: 2,
      missingObjects: 2,
      problems: findings.length,
      interrupted: false,
    });
    expect(summary.byCode).toEqual({
      'entry-not-symlink': 1,
      'broken-symlink': 3,
      'link-escapes-repository': 2,
      'link-wrong-kind': 2,
      'image-invalid': 1,
      'image-missing-object': 2,
      'image-object-digest-mismatch': 3,
    });
  });
});

describe('checkRepository never follows a swapped directory or link', () => {
  it('images/ and streams/ replaced by symlinks are reported, not entered', async () => {
    const repo = await makeRepo('swapped');
    const d = repo.dir;
    // Move the real directories outside and leave symlinks; add a broken link out there that
    // would be reported if the symlinks were followed.
    for (const cat of ['images', 'streams']) {
      const outside = path.join(tmp, `swapped-${cat}-outside`);
      fs.renameSync(path.join(d, cat), outside);
      fs.symlinkSync('../nowhere', path.join(outside, 'planted'));
      fs.symlinkSync(outside, path.join(d, cat));
    }
    const { findings, summary } = await run(d);
    expect(findings).toEqual([
      { code: 'unexpected-symlink', path: 'streams', detail: 'symbolic link (not followed)' },
      { code: 'unexpected-symlink', path: 'images', detail: 'symbolic link (not followed)' },
    ]);
    expect(summary).toMatchObject({ imagesChecked: 0, streamsChecked: 0, refsChecked: 0, brokenLinks: 0 });
  });

  it('a refs/ directory replaced by a symlink, or a file, is reported, not entered', async () => {
    const repo = await makeRepo('swapped-refs');
    const d = repo.dir;
    const outside = path.join(tmp, 'swapped-refs-outside');
    fs.renameSync(path.join(d, 'images/refs'), outside);
    fs.symlinkSync('../nowhere', path.join(outside, 'planted'));
    fs.symlinkSync(outside, path.join(d, 'images/refs'));
    fs.rmSync(path.join(d, 'streams/refs'), { recursive: true });
    fs.writeFileSync(path.join(d, 'streams/refs'), '');
    const { findings, summary } = await run(d);
    expect(codesOf(findings)).toEqual(['unexpected-file-type streams/refs', 'unexpected-symlink images/refs']);
    expect(summary).toMatchObject({ imagesChecked: 1, imagesCorrupted: 0, streamsChecked: 1, refsChecked: 0 });
  });

  it('a link through a symlinked objects/XX is the wrong kind, not followed to its file', async () => {
    const repo = await makeRepo('swapped-fanout');
    const d = repo.dir;
    // objects/ee -> a directory outside holding a "valid" object name.
    const outside = path.join(tmp, 'swapped-fanout-outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'e'.repeat(62)), 'outside the repository');
    fs.symlinkSync(outside, path.join(d, 'objects/ee'));
    fs.symlinkSync(`../objects/ee/${'e'.repeat(62)}`, path.join(d, 'streams/outside'));
    // A ref whose target passes through a directory and comes back ("images/refs/../<digest>").
    fs.symlinkSync(`../refs/../${repo.image.digest}`, path.join(d, 'images/refs/roundabout'));
    const { findings, summary } = await run(d);
    expect(codesOf(findings)).toEqual(['link-wrong-kind streams/outside']);
    expect(findings[0]!.detail).toContain('symbolic link objects/ee (not followed)');
    expect(summary).toMatchObject({ streamsChecked: 2, streamsCorrupted: 1, refsChecked: 4, refsCorrupted: 0 });
  });
});

describe('checkRepository: names and algorithms', () => {
  it('an image named for another digest than the object it links to', async () => {
    const repo = await makeRepo('misnamed');
    const other = 'f'.repeat(64);
    fs.symlinkSync(`../objects/${repo.image.payload}`, path.join(repo.dir, 'images', other));
    const { findings, summary } = await run(repo.dir);
    expect(findings).toEqual([
      expect.objectContaining({ code: 'image-name-mismatch', path: `images/${other}`, expected: other, actual: repo.image.digest, hashAlg: 'sha256' }),
    ]);
    expect(summary).toMatchObject({ imagesChecked: 2, imagesCorrupted: 1 });
  });

  it('sha256 object names are not objects of a sha512 repository', async () => {
    const repo = await makeRepo('sha512');
    const { findings, summary } = await run(repo.dir, { hashAlg: 'sha512' });
    expect(codesOf(findings)).toEqual([`link-wrong-kind images/${repo.image.digest}`, `link-wrong-kind streams/${repo.streamName}`]);
    expect(findings[0]!.detail).toContain('objects/XX/<sha512 hex digest>');
    // The refs reach their entries; the entries themselves are what is wrong.
    expect(summary).toMatchObject({ imagesCorrupted: 1, streamsCorrupted: 1, refsChecked: 3, refsCorrupted: 0, wrongKindLinks: 2 });
  });

  it('a repository without images/ or streams/ has nothing to check', async () => {
    const dir = path.join(tmp, 'bare');
    fs.mkdirSync(path.join(dir, 'objects'), { recursive: true });
    const { findings, summary } = await run(dir);
    expect(findings).toEqual([]);
    expect(summary).toMatchObject({ imagesChecked: 0, streamsChecked: 0, refsChecked: 0 });
  });
});

describe('veritree verify-cas REPO: objects and the repository in one run', () => {
  it('finds a tampered image, a broken ref and a wrong object, with cfsctl-style counters', async () => {
    const { run: verifyCasVerb } = await import('../src/cli/verify-cas.js');
    const { memoryIO } = await import('./helpers/cli.js');
    const repo = await makeRepo('cli-damaged');
    const objects = path.join(repo.dir, 'objects');
    flipByte(path.join(objects, repo.image.payload), 1024); // the image: bad EROFS magic
    fs.symlinkSync(`../${'0'.repeat(64)}`, path.join(repo.dir, 'images/refs/gone')); // a broken ref
    flipByte(path.join(objects, OBJ.rand4096), 100); // a wrong object
    const c = memoryIO();
    const status = await verifyCasVerb([repo.dir, '--json', '--threads=1'], c.io);
    expect(status).toBe(1);
    const doc = JSON.parse(c.out()) as { summary: Record<string, unknown>; findings: { code: string; path: string }[] };
    const codes = doc.findings.map((f) => `${f.code} ${f.path}`);
    expect(codes).toEqual(expect.arrayContaining([
      `object-digest-mismatch objects/${OBJ.rand4096}`,
      `object-digest-mismatch objects/${repo.image.payload}`,
      `image-invalid images/${repo.image.digest}`,
      'broken-symlink images/refs/gone',
    ]));
    expect(doc.summary).toMatchObject({ layout: 'composefs-rs', objectsCorrupted: 2, imagesChecked: 1, imagesCorrupted: 1, brokenLinks: 1 });
  });
});
