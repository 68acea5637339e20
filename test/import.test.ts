/**
 * The builder backend: `ObjectStore` and `veritree import` on the fixture source tree
 * (small-src.tar, extracted as root with every xattr, device node and set-id bit), compared with
 * what mkcomposefs 1.0.8 made from the same tree: the object store (objects.tar) and
 * `composefs-info dump small.cfs` (small.dump), field by field.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipAllUnless } from './helpers/skip.js';
import { run as importVerb } from '../src/cli/import.js';
import { run as checkImage } from '../src/cli/check-image.js';
import { parseDumpLine, type DumpRecord } from '../src/composefs/dump.js';
import { composefsDirSize, importTree } from '../src/composefs/import.js';
import { ObjectStore, identityOf } from '../src/composefs/store.js';
import { fixture, unquoteBash } from './helpers/fixtures.js';
import { memoryIO } from './helpers/cli.js';

const isRoot = process.getuid?.() === 0;
const canRun = isRoot;
const NEEDS_ROOT = 'extracting small-src.tar faithfully (devices, trusted.* xattrs) needs root; CI runs as root';

let work: string;
let src: string;
let refObjects: string;

function parseDump(text: string): DumpRecord[] {
  return text.split('\n').filter((l) => l !== '').map((l, i) => parseDumpLine(l, i + 1));
}

function filesBelow(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/** fsverity digest --compact of every regular source file (fixture tsv), by path below small-src. */
function referenceDigests(): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of fs.readFileSync(fixture('small-src.fsverity-sha256.tsv'), 'utf8').split('\n')) {
    if (!line) continue;
    const [hex, quoted] = line.split('\t') as [string, string];
    m.set(path.relative('small-src', unquoteBash(quoted)), hex);
  }
  return m;
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-import-'));
  execFileSync('tar', ['-xf', fixture('objects.tar'), '-C', work]);
  refObjects = path.join(work, 'objects');
  if (!isRoot) return;
  execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-xpf', fixture('small-src.tar'), '-C', work]);
  src = path.join(work, 'small-src');
});

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('importTree on small-src vs mkcomposefs', () => {
  skipAllUnless(canRun ? undefined : NEEDS_ROOT);
  let store: string;
  let dump: string;
  beforeAll(async () => {
    store = path.join(work, 'store-a');
    const r = await importTree(src, new ObjectStore(store));
    dump = r.dump;
    expect(r.files).toEqual({ total: 30, stored: 19, inline: 10, empty: 1 });
    expect(r.objects).toEqual({ referenced: 17, added: 17, existing: 0 });
  });

  it('the dump describes the same tree as small.dump, field by field', () => {
    const ours = parseDump(dump);
    const theirs = parseDump(fs.readFileSync(fixture('small.dump'), 'latin1'));
    const key = (r: DumpRecord) => Buffer.from(r.path).toString('latin1');
    expect(ours.map(key)).toEqual(theirs.map(key));
    const hex = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString('hex'));
    for (const [i, a] of ours.entries()) {
      const b = theirs[i]!;
      const fields = (r: DumpRecord) => ({
        path: key(r), size: r.size, mode: r.mode.toString(8), nlink: r.nlink, uid: r.uid, gid: r.gid, rdev: r.rdev,
        mtime: `${r.mtimeSec}.${r.mtimeNsec}`, payload: hex(r.payload), content: hex(r.content), digest: hex(r.digest), hardlink: r.hardlink,
        xattrs: r.xattrs.map((x) => `${Buffer.from(x.rawName).toString('latin1')}=${hex(x.value)}`).sort(),
      });
      expect(fields(a)).toEqual(fields(b));
    }
  });

  it('…and here it is even byte-identical to composefs-info dump', () => {
    expect(dump).toBe(fs.readFileSync(fixture('small.dump'), 'latin1'));
  });

  it('the object store equals the one mkcomposefs filled: names, bytes, modes', () => {
    expect(filesBelow(store)).toEqual(filesBelow(refObjects));
    for (const rel of filesBelow(store)) {
      expect(fs.readFileSync(path.join(store, rel)).equals(fs.readFileSync(path.join(refObjects, rel)))).toBe(true);
      expect(fs.statSync(path.join(store, rel)).mode & 0o7777).toBe(0o644);
      expect(fs.statSync(path.join(store, path.dirname(rel))).mode & 0o7777).toBe(0o755);
    }
  });

  it('every stored object is named by the fs-verity digest fsverity-utils computes', () => {
    const ref = referenceDigests();
    const byDigest = new Set([...ref.values()]);
    for (const rel of filesBelow(store)) expect(byDigest.has(rel.replace('/', ''))).toBe(true);
  });

  it('importing again writes nothing: identical content is stored once', async () => {
    const before = filesBelow(store).map((f) => fs.statSync(path.join(store, f)).mtimeMs);
    const again = await importTree(src, new ObjectStore(store));
    expect(again.objects).toEqual({ referenced: 17, added: 0, existing: 17 });
    expect(again.dump).toBe(dump);
    expect(filesBelow(store).map((f) => fs.statSync(path.join(store, f)).mtimeMs)).toEqual(before);
  });

  it('the image mkcomposefs built from this tree checks clean against our store', async () => {
    const c = memoryIO('latin1');
    expect(await checkImage([fixture('small.cfs'), '--objects', store, '--verity=require'], c.io)).toBe(0);
    expect(c.out()).toBe('files: 31 checked, 31 ok, 0 problems\n');
  });
});

describe('veritree import (CLI)', () => {
  skipAllUnless(canRun ? undefined : NEEDS_ROOT);
  it('--dump FILE writes the dump atomically; the summary goes to stdout', async () => {
    const c = memoryIO('latin1');
    const dumpFile = path.join(work, 'cli.dump');
    expect(await importVerb([src, '--objects', path.join(work, 'store-cli'), '--dump', dumpFile], c.io)).toBe(0);
    expect(fs.readFileSync(dumpFile, 'latin1')).toBe(fs.readFileSync(fixture('small.dump'), 'latin1'));
    expect(c.out()).toBe('files: 30 regular (19 stored, 10 inline, 1 empty); objects: 17 (17 new, 0 already stored)\n');
    expect(fs.readdirSync(path.dirname(dumpFile)).filter((f) => f.includes('.tmp'))).toEqual([]);
    expect(fs.readdirSync(path.join(work, 'store-cli')).filter((f) => f.startsWith('.tmp'))).toEqual([]);
  });

  it('--image FILE writes the image mkcomposefs writes for the tree, byte for byte', async () => {
    const c = memoryIO('latin1');
    const image = path.join(work, 'cli.cfs');
    expect(await importVerb([src, '--objects', path.join(work, 'store-cli'), '--image', image, '--no-fsync'], c.io)).toBe(0);
    expect(fs.readFileSync(image).equals(fs.readFileSync(fixture('small.cfs')))).toBe(true);
    expect(c.out()).toContain(`image: ${image} (format version 1, fs-verity digest b5a64206c161c8b4a09fdf6049471a6186df5532e0c865b96acf3b4dfe7aab2b)`);
  });

  it('--dump - prints the dump; the summary moves to stderr', async () => {
    const c = memoryIO('latin1');
    expect(await importVerb([src, '--objects', path.join(work, 'store-cli'), '--dump', '-', '--no-fsync'], c.io)).toBe(0);
    expect(c.out()).toBe(fs.readFileSync(fixture('small.dump'), 'latin1'));
    expect(c.err()).toMatch(/^files: 30 regular .* objects: 17 \(0 new, 17 already stored\)\n$/);
  });

  it('--enable: fs-verity on every object, or verity-not-supported reported once where the kernel has none', async () => {
    const c = memoryIO('latin1');
    const status = await importVerb([src, '--objects', path.join(work, 'store-enable')], c.io);
    expect(status).toBe(0);
    const e = memoryIO('latin1');
    const s2 = await importVerb([src, '--objects', path.join(work, 'store-enable'), '--enable'], e.io);
    if (s2 === 0) {
      expect(e.out()).toMatch(/fs-verity: \d+ enabled, \d+ already enabled/);
    } else {
      expect(s2).toBe(1);
      expect(e.err()).toMatch(/^veritree import: verity-not-supported: .*\nveritree import: fs-verity not enabled on 17 objects\n$/);
    }
  });

  it('usage errors exit 2', async () => {
    expect(await importVerb([src], memoryIO('latin1').io)).toBe(2);
    expect(await importVerb(['--objects', path.join(work, 'x')], memoryIO('latin1').io)).toBe(2);
    const c = memoryIO('latin1');
    expect(await importVerb([path.join(work, 'no-such-src'), '--objects', path.join(work, 'x')], c.io)).toBe(2);
    expect(c.err()).toMatch(/not-found/);
  });
});

describe('ObjectStore', () => {
  const content = Buffer.from('composefs object content, more than sixty-four bytes long: 0123456789abcdef');

  it('add(path): named by the fs-verity digest, stored once', async () => {
    const store = new ObjectStore(path.join(work, 'store-api'));
    const f = path.join(work, 'api-file');
    fs.writeFileSync(f, content, { mode: 0o4755 });
    const a = await store.add(f);
    expect(a.added).toBe(true);
    expect(a.payload).toBe(`${a.digest.slice(0, 2)}/${a.digest.slice(2)}`);
    expect(fs.readFileSync(a.objectPath).equals(content)).toBe(true);
    expect(fs.statSync(a.objectPath).mode & 0o7777).toBe(0o644);
    const b = await store.add(f);
    expect(b).toMatchObject({ added: false, digest: a.digest, objectPath: a.objectPath });
    expect(await store.has(a.digest)).toBe(true);
  });

  it('add(Readable): digested from what was stored', async () => {
    const store = new ObjectStore(path.join(work, 'store-api'));
    const again = await store.add(Readable.from([content.subarray(0, 10), content.subarray(10)]));
    expect(again.added).toBe(false);
    const fresh = await store.add(Readable.from([Buffer.from('a different stream of bytes')]));
    expect(fresh.added).toBe(true);
    expect(fs.readFileSync(fresh.objectPath, 'utf8')).toBe('a different stream of bytes');
    expect(fs.readdirSync(store.dir).filter((n) => n.startsWith('.tmp'))).toEqual([]);
  });

  it('the fixture objects: the digest of each object is its name', async () => {
    const store = new ObjectStore(path.join(work, 'store-refs'));
    for (const rel of filesBelow(refObjects).slice(0, 5)) {
      const r = await store.add(path.join(refObjects, rel));
      expect(r.payload).toBe(rel);
    }
  });

  it('refuses symlinks and a source that changed after it was digested', async () => {
    const store = new ObjectStore(path.join(work, 'store-guard'));
    const f = path.join(work, 'guard-file');
    fs.writeFileSync(f, content);
    fs.symlinkSync(f, path.join(work, 'guard-link'));
    await expect(store.add(path.join(work, 'guard-link'))).rejects.toMatchObject({ code: 'not-a-regular-file' });
    const st = fs.lstatSync(f, { bigint: true });
    fs.appendFileSync(f, 'more');
    await expect(store.addDigested(f, 'ab'.repeat(32), identityOf(st))).rejects.toMatchObject({ code: 'file-changed' });
    expect(fs.readdirSync(store.dir).filter((n) => n.startsWith('.tmp'))).toEqual([]);
    expect(() => store.objectPath('XYZ')).toThrow(TypeError);
    expect(() => new ObjectStore('')).toThrow(TypeError);
  });
});

describe('composefsDirSize (docs/FORMATS.md §5.5)', () => {
  it('matches the directory sizes composefs-info prints for the fixture', () => {
    const b = (s: string) => Buffer.from(s);
    expect(composefsDirSize([], false)).toBe(27);
    expect(composefsDirSize(['a', 'b'].map(b), false)).toBe(24 + 3 + 24 + 2);
    // The root: 256 synthetic whiteouts make it one full block.
    expect(composefsDirSize(['empty-dir', 'files'].map(b), true)).toBe(4096);
    // A tail over half a block becomes a full block; a smaller one stays partial.
    const many = Array.from({ length: 400 }, (_, i) => b(`n${String(i).padStart(3, '0')}`));
    // 254 sixteen-byte entries after . and .. fill block 0; the rest form the tail.
    expect(composefsDirSize(many, false)).toBe(8192);
    expect(composefsDirSize(many.slice(0, 300), false)).toBe(4096 + 46 * 16);
    expect(composefsDirSize(many.slice(0, 200), false)).toBe(4096);
    expect(composefsDirSize(many.slice(0, 100), false)).toBe(27 + 100 * 16);
  });
});
