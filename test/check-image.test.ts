/**
 * `veritree check-image` on the composefs-small fixture images (made by mkcomposefs 1.0.8) against
 * the extracted fixture object store: clean, then with one object corrupted, one deleted, one
 * replaced by a symlink or a directory — each finding checked. Expectations come from the
 * fixture files (small.dump, objects.tar), not from this code.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as checkImage } from '../src/cli/check-image.js';
import { parseDumpLine } from '../src/composefs/dump.js';
import { digestBytes } from '../src/merkle/file.js';
import { FIXTURES_DIR, fixture } from './helpers/fixtures.js';
import { memoryIO } from './helpers/cli.js';

const IMAGES = ['small.cfs', 'small-v0.cfs', 'small-hardlink.cfs', 'small-user-xattrs.cfs', 'small-skip-xattrs.cfs', 'small-epoch-nodev.cfs'];

let work: string;
let objects: string;

interface JsonReport {
  ok: boolean;
  summary: Record<string, number | string | string[]>;
  findings: { type: string; code: string; severity: string; path: string; object?: string; redirect?: string; expected?: string; actual?: string; detail: string }[];
}

async function check(args: string[]): Promise<{ status: number; out: string; err: string }> {
  const c = memoryIO();
  const status = await checkImage(args, c.io);
  return { status, out: c.out(), err: c.err() };
}

async function checkJson(image: string, layers: string[], extra: string[] = []): Promise<{ status: number; report: JsonReport }> {
  const r = await check([fixture(image), ...layers.flatMap((l) => ['--objects', l]), '--json', ...extra]);
  return { status: r.status, report: JSON.parse(r.out) as JsonReport };
}

/** Regular files of a dump with their payload and digest (the ground truth for the findings). */
function dumpFiles(name: string): Map<string, { payload: string | null; digest: string | null }> {
  const out = new Map<string, { payload: string | null; digest: string | null }>();
  const text = fs.readFileSync(fixture(name), 'latin1');
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const r = parseDumpLine(line, i + 1);
    if ((r.mode & 0o170000) !== 0o100000 || r.hardlink) continue;
    out.set(r.path.length === 0 ? '/' : Buffer.from(r.path).toString('utf8'), {
      payload: r.payload ? Buffer.from(r.payload).toString() : null,
      digest: r.digest ? Buffer.from(r.digest).toString('hex') : null,
    });
  }
  return out;
}

/** A copy of the fixture store to break. */
function storeCopy(name: string): string {
  const dir = path.join(work, name);
  fs.cpSync(objects, dir, { recursive: true });
  return dir;
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-check-image-'));
  execFileSync('tar', ['-xf', fixture('objects.tar'), '-C', work]);
  objects = path.join(work, 'objects');
});

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('check-image on the fixture images', () => {
  it.each(IMAGES)('%s is clean against the fixture objects (verity=on and require)', async (image) => {
    for (const mode of ['on', 'require']) {
      const { status, report } = await checkJson(image, [objects], ['--verity', mode]);
      expect(report.findings).toEqual([]);
      expect(status).toBe(0);
      expect(report.ok).toBe(true);
      expect(report.summary.xattrPrefix).toBe('trusted');
    }
  });

  it('counts: every regular file checked, each object hashed once however many files use it', async () => {
    const { report } = await checkJson('small.cfs', [objects]);
    const files = dumpFiles('small.dump');
    // The whiteout is an empty regular file inside the image (docs/FORMATS.md §4.6), a file for overlayfs too.
    expect(report.summary.filesChecked).toBe(files.size + 1);
    const objectNames = fs.readFileSync(fixture('small.objects'), 'utf8').trim().split('\n');
    expect(report.summary.objectsReferenced).toBe(objectNames.length);
    expect(Number(report.summary.objectsMeasured) + Number(report.summary.objectsHashed)).toBe(objectNames.length);
    expect([...files.values()].filter((f) => f.payload !== null).length).toBeGreaterThan(objectNames.length);
  });

  it('text output ends with the summary line', async () => {
    const r = await check([fixture('small.cfs'), '--objects', objects]);
    expect(r.status).toBe(0);
    expect(r.out).toBe('files: 31 checked, 31 ok, 0 problems\n');
  });

  it('a corrupted object: object-digest-mismatch with the expected and actual digests', async () => {
    const files = dumpFiles('small.dump');
    const target = files.get('/files/rand-4096.bin')!;
    const store = storeCopy('corrupt');
    const objPath = path.join(store, target.payload!);
    const data = fs.readFileSync(objPath);
    data[100] ^= 0xff;
    fs.writeFileSync(objPath, data);
    const { status, report } = await checkJson('small.cfs', [store]);
    expect(status).toBe(1);
    expect(report.findings).toHaveLength(1);
    expect(report.findings[0]).toMatchObject({
      type: 'object-digest-mismatch',
      code: 'object-digest-mismatch',
      severity: 'error',
      path: '/files/rand-4096.bin',
      object: objPath,
      redirect: `/${target.payload}`,
      expected: `sha256:${target.digest}`,
      actual: `sha256:${digestBytes(data).hex}`,
    });
    expect(report.summary).toMatchObject({ problems: 1, filesOk: 30 });
  });

  it('a deleted object: missing-object on every file that uses it', async () => {
    const files = dumpFiles('small.dump');
    const payload = files.get('/files/dup-a.bin')!.payload!;
    const users = [...files].filter(([, f]) => f.payload === payload).map(([p]) => p).sort();
    expect(users).toEqual(['/files/dup-a.bin', '/files/dup-b.bin']);
    const store = storeCopy('deleted');
    fs.rmSync(path.join(store, payload));
    const { status, report } = await checkJson('small.cfs', [store]);
    expect(status).toBe(1);
    expect(report.findings.map((f) => [f.path, f.code])).toEqual(users.map((p) => [p, 'missing-object']));
    expect(report.findings[0]!.detail).toContain('does not exist');
  });

  it('an object replaced by a symlink (even to the right content) or a directory: object-not-regular', async () => {
    const files = dumpFiles('small.dump');
    const big = files.get('/files/rand-1048699.bin')!.payload!;
    const small65 = files.get('/files/rand-65.bin')!.payload!;
    const store = storeCopy('symlinked');
    const moved = path.join(work, 'moved-object');
    fs.renameSync(path.join(store, big), moved);
    fs.symlinkSync(moved, path.join(store, big));
    fs.rmSync(path.join(store, small65));
    fs.mkdirSync(path.join(store, small65));
    const { report } = await checkJson('small.cfs', [store]);
    expect(report.findings.map((f) => [f.path, f.code])).toEqual([
      ['/files/rand-1048699.bin', 'object-not-regular'],
      ['/files/rand-65.bin', 'object-not-regular'],
    ]);
    expect(report.findings[0]!.detail).toContain('symlink');
    expect(report.findings[1]!.detail).toContain('directory');
  });

  it('a symlinked fan-out directory is never followed: redirect-escapes-layer', async () => {
    const files = dumpFiles('small.dump');
    const payload = files.get('/files/rand-8192.bin')!.payload!;
    const store = storeCopy('fanout-link');
    const fan = path.join(store, payload.slice(0, 2));
    fs.renameSync(fan, path.join(work, 'elsewhere'));
    fs.symlinkSync(path.join(work, 'elsewhere'), fan);
    const { report } = await checkJson('small.cfs', [store]);
    expect(report.findings.map((f) => [f.path, f.code])).toEqual([['/files/rand-8192.bin', 'redirect-escapes-layer']]);
  });

  it('data layers in order: a later --objects supplies what the first lacks (first hit wins)', async () => {
    const store = storeCopy('partial');
    for (const d of fs.readdirSync(store).slice(0, 5)) fs.rmSync(path.join(store, d), { recursive: true });
    const alone = await checkJson('small.cfs', [store]);
    expect(alone.status).toBe(1);
    const both = await checkJson('small.cfs', [store, objects]);
    expect(both.report.findings).toEqual([]);
    // A corrupt object in the first layer is used even though the second has a good one.
    const corrupt = storeCopy('corrupt-first');
    const files = dumpFiles('small.dump');
    fs.writeFileSync(path.join(corrupt, files.get('/links/hardlink-1')!.payload!), 'x'.repeat(3000));
    const first = await checkJson('small.cfs', [corrupt, objects]);
    expect(first.report.findings.map((f) => [f.path, f.code])).toEqual([
      ['/links/hardlink-1', 'object-digest-mismatch'],
      ['/links/hardlink-2', 'object-digest-mismatch'],
    ]);
  });

  it('hard links in an image: every name of the inode is reported', async () => {
    const store = storeCopy('hardlink');
    const files = dumpFiles('small-hardlink.dump');
    fs.rmSync(path.join(store, files.get('/links/hardlink-1')!.payload!));
    const { report } = await checkJson('small-hardlink.cfs', [store]);
    expect(report.findings.map((f) => [f.path, f.code])).toEqual([
      ['/links/hardlink-1', 'missing-object'],
      ['/links/hardlink-2', 'missing-object'],
    ]);
  });

  it('--ndjson: a finding event per line and a summary event', async () => {
    const store = storeCopy('ndjson');
    fs.rmSync(path.join(store, dumpFiles('small.dump').get('/xattr/trusted-xattrs.bin')!.payload!));
    const r = await check([fixture('small.cfs'), '--objects', store, '--ndjson', '--no-measure']);
    const events = r.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.map((e) => e.event)).toEqual(['finding', 'summary']);
    expect(events[0]).toMatchObject({ code: 'missing-object', path: '/xattr/trusted-xattrs.bin' });
    expect(events[1]).toMatchObject({ ok: false, problems: 1, filesChecked: 31 });
  });

  it('--xattr-prefix=user: composefs images carry trusted.overlay.* only, nothing to check', async () => {
    const { status, report } = await checkJson('small.cfs', [objects], ['--xattr-prefix', 'user', '--verity', 'require']);
    expect(status).toBe(0);
    expect(report.summary.objectsReferenced).toBe(0);
  });

  it('an image found invalid partway through the streamed walk: exit 2 with image-invalid, nothing hangs', async () => {
    const whole = fs.readFileSync(fixture('small.cfs'));
    // Cut inside the data of a directory deep in the tree: the superblock and the first entries
    // read fine, the walk fails later, after objects were already queued for hashing.
    const cut = path.join(work, 'truncated.cfs');
    fs.writeFileSync(cut, whole.subarray(0, Math.floor(whole.length * 0.7)));
    const r = await check([cut, '--objects', objects]);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/check-image: image-invalid: .*truncated\.cfs.*beyond the end of the image/);
  });

  it('exit 2: unreadable or invalid image, missing object dir, usage', async () => {
    expect((await check([path.join(work, 'nope.cfs'), '--objects', objects])).status).toBe(2);
    const junk = path.join(work, 'junk.cfs');
    fs.writeFileSync(junk, Buffer.alloc(8192, 0x5a));
    const bad = await check([junk, '--objects', objects]);
    expect(bad.status).toBe(2);
    expect(bad.err).toMatch(/check-image: /);
    const noDir = await check([fixture('small.cfs'), '--objects', path.join(work, 'missing-store')]);
    expect(noDir.status).toBe(2);
    expect(noDir.err).toMatch(/data-layer-unusable/);
    expect((await check([fixture('small.cfs')])).status).toBe(2);
    expect((await check([fixture('small.cfs'), '--objects', objects, '--bogus'])).status).toBe(2);
    expect((await check([fixture('small.cfs'), '--objects', objects, '--json', '--ndjson'])).status).toBe(2);
  });
});

describe('the lower layer check-image streams (raw EROFS, what overlayfs reads)', () => {
  it('agrees with the composefs view on every fixture image; its extras are only the whiteouts composefs hides', async () => {
    const { openErofs } = await import('../src/erofs/index.js');
    const { openImage } = await import('../src/composefs/image.js');
    const { imageEntries } = await import('../src/composefs/info.js');
    const { erofsEntries } = await import('../src/overlay/lower.js');
    const line = (e: { path: string; type: string; xattrs: ReadonlyMap<string, Uint8Array> }) =>
      `${e.path} ${e.type} ${[...e.xattrs].map(([k, v]) => `${k}=${Buffer.from(v).toString('hex')}`).sort().join(',')}`;
    const images = fs.readdirSync(FIXTURES_DIR).filter((f) => f.endsWith('.cfs'));
    expect(images.length).toBeGreaterThan(3);
    for (const name of images) {
      const composefs = [...imageEntries(await openImage(fixture(name)))];
      const raw = [...erofsEntries(await openErofs(fixture(name)))];
      // What check-image runs: the same walk without the parse caches.
      expect([...erofsEntries(await openErofs(fixture(name), { cacheEntries: false }))].map(line)).toEqual(raw.map(line));
      const rawLines = new Set(raw.map(line));
      for (const e of composefs) expect(rawLines.has(line(e)), `${name}: ${line(e)}`).toBe(true);
      const composefsPaths = new Set(composefs.map((e) => e.path));
      const extras = raw.filter((e) => !composefsPaths.has(e.path));
      // composefs 1.0.8 puts a 0/0 char device (an overlay whiteout) for each of /00…/ff in the root.
      expect(extras.map((e) => e.path).sort()).toEqual(Array.from({ length: 256 }, (_, i) => `/${i.toString(16).padStart(2, '0')}`));
      expect(extras.every((e) => e.type === 'other' && e.xattrs.size === 0)).toBe(true);
    }
  });
});
