/**
 * Hostile filesystems: while each verb runs, another process swaps a directory inside the tree
 * for a symlink to a directory outside it, thousands of times (test/helpers/swap-dir.mjs). The
 * files outside carry unique contents (so unique digests) and the names the verb would look for:
 * whatever the timing, nothing outside the given root may be hashed, reported as OK, or moved.
 * Before src/fs (paths opened as whole strings after a separate lstat) every one of these failed
 * within a few runs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as digest } from '../src/cli/digest.js';
import { run as verifyCas } from '../src/cli/verify-cas.js';
import { run as checkOverlay } from '../src/cli/check-overlay.js';
import { run as importVerb } from '../src/cli/import.js';
import { setXattrSync } from '../src/kernel/index.js';
import { digestBytes } from '../src/merkle/file.js';
import { formatMetacopy } from '../src/overlay/metacopy.js';
import { memoryIO } from './helpers/cli.js';
import { whileSwapping } from './helpers/race.js';

const RUNS = 12;
const MIN_SWAPS = 200;
const FILES = 400;

let work: string;
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-race-'));
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** Inode, size and mtime of every file below `dir`: what "nothing was moved or touched" means. */
function snapshot(dir: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const name of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const st = fs.lstatSync(path.join(dir, name));
    if (st.isFile()) m.set(name, `${st.ino}/${st.size}/${st.mtimeMs}`);
  }
  return m;
}

async function cli(verb: typeof digest, args: string[]) {
  const c = memoryIO();
  const status = await verb(args, c.io);
  return { status, out: c.out(), err: c.err() };
}

describe('digest -r while a directory is swapped for a symlink out of the tree', () => {
  it('never prints the digest of a file outside the tree', async () => {
    const tree = path.join(work, 'd-tree');
    const outside = path.join(work, 'd-outside');
    fs.mkdirSync(path.join(tree, 'sub'), { recursive: true });
    fs.mkdirSync(outside);
    const outsideHex = new Set<string>();
    for (let i = 0; i < FILES; i++) {
      fs.writeFileSync(path.join(tree, 'sub', `f${i}`), `inside ${i}\n`);
      const content = `outside ${i}\n`;
      fs.writeFileSync(path.join(outside, `f${i}`), content);
      outsideHex.add(digestBytes(Buffer.from(content)).hex);
    }
    const { results, swaps } = await whileSwapping(path.join(tree, 'sub'), outside, RUNS, MIN_SWAPS, () => cli(digest, ['-r', tree, '--json', '--threads=2']));
    let digested = 0;
    for (const r of results) {
      const doc = JSON.parse(r.out) as { files: { path: string; digest: string }[] };
      for (const f of doc.files) {
        expect(outsideHex.has(f.digest.slice('sha256:'.length)), `${f.path} hashed from outside the tree`).toBe(false);
        expect(f.path.startsWith(`${tree}/`)).toBe(true);
      }
      digested += doc.files.length;
    }
    expect(digested).toBeGreaterThan(0);
    expect(swaps).toBeGreaterThanOrEqual(MIN_SWAPS);
  });
});

describe('verify-cas --quarantine while a fan-out directory is swapped for a symlink out of the store', () => {
  it('never moves (or judges) a file outside the store', async () => {
    const store = path.join(work, 'c-store');
    const outside = path.join(work, 'c-outside');
    const quarantine = path.join(work, 'c-quarantine');
    fs.mkdirSync(store);
    fs.mkdirSync(outside);
    // Good objects that all land in one fan-out directory; outside, the same names with other bytes.
    let fanout: string | undefined;
    for (let i = 0; fs.existsSync(outside) && (fanout === undefined || fs.readdirSync(path.join(store, fanout)).length < FILES / 4); i++) {
      const content = Buffer.from(`object ${i}\n`);
      const hex = digestBytes(content).hex;
      fanout ??= hex.slice(0, 2);
      if (hex.slice(0, 2) !== fanout) continue;
      fs.mkdirSync(path.join(store, fanout), { recursive: true });
      fs.writeFileSync(path.join(store, fanout, hex.slice(2)), content);
      fs.writeFileSync(path.join(outside, hex.slice(2)), `not the object ${i}\n`);
      if (i > 200_000) throw new Error('could not fill one fan-out directory');
    }
    const before = snapshot(outside);
    const { results, swaps } = await whileSwapping(path.join(store, fanout!), outside, RUNS, MIN_SWAPS, () =>
      cli(verifyCas, ['--json', '--layout=composefs', `--quarantine=${quarantine}`, '--threads=2', store]),
    );
    expect(snapshot(outside)).toEqual(before);
    const movedInodes = fs.existsSync(quarantine) ? [...snapshot(quarantine).values()].map((v) => v.split('/')[0]) : [];
    const outsideInodes = new Set([...before.values()].map((v) => v.split('/')[0]));
    expect(movedInodes.filter((ino) => outsideInodes.has(ino))).toEqual([]);
    for (const r of results) {
      expect(r.err).toBe('');
      const doc = JSON.parse(r.out) as { findings: { code: string }[] };
      // The store's objects are all good: a mismatch could only come from hashing the outside files.
      expect(doc.findings.filter((f) => f.code === 'object-digest-mismatch')).toEqual([]);
    }
    expect(swaps).toBeGreaterThanOrEqual(MIN_SWAPS);
  });
});

describe('check-overlay while a data-layer directory is swapped for a symlink out of the layer', () => {
  it('never judges a file OK through an object outside the data layer', async () => {
    const data = path.join(work, 'o-data');
    const lower = path.join(work, 'o-lower');
    const outside = path.join(work, 'o-outside');
    for (const d of [data, lower, outside]) fs.mkdirSync(d);
    // Inside the layer each object's bytes do NOT match the metacopy digest; outside they do.
    const names: string[] = [];
    let fanout: string | undefined;
    for (let i = 0; names.length < FILES / 4; i++) {
      const good = Buffer.from(`the real object ${i}\n`.repeat(8));
      const hex = digestBytes(good).hex;
      fanout ??= hex.slice(0, 2);
      if (hex.slice(0, 2) !== fanout) continue;
      fs.mkdirSync(path.join(data, fanout), { recursive: true });
      fs.writeFileSync(path.join(data, fanout, hex.slice(2)), `tampered ${i}\n`.repeat(8));
      fs.writeFileSync(path.join(outside, hex.slice(2)), good);
      const f = path.join(lower, `f${names.length}`);
      fs.writeFileSync(f, '');
      setXattrSync(f, 'user.overlay.metacopy', formatMetacopy(1, Buffer.from(hex, 'hex')));
      setXattrSync(f, 'user.overlay.redirect', Buffer.from(`/${fanout}/${hex.slice(2)}`));
      names.push(`/f${names.length}`);
    }
    const { results, swaps } = await whileSwapping(path.join(data, fanout!), outside, RUNS, MIN_SWAPS, () =>
      cli(checkOverlay, [lower, '--data', data, '--json', '--threads=2']),
    );
    for (const r of results) {
      const doc = JSON.parse(r.out) as { findings: { path: string; severity: string }[]; summary: { filesChecked: number; filesOk: number } };
      expect(r.status).toBe(1);
      expect(doc.summary).toMatchObject({ filesChecked: names.length, filesOk: 0 });
      const failing = new Set(doc.findings.filter((f) => f.severity === 'error').map((f) => f.path));
      expect(names.filter((n) => !failing.has(n))).toEqual([]);
    }
    expect(swaps).toBeGreaterThanOrEqual(MIN_SWAPS);
  });
});

describe('import while a source directory is swapped for a symlink out of the tree', () => {
  it('never stores or lists a file from outside the source tree', async () => {
    const src = path.join(work, 'i-src');
    const outside = path.join(work, 'i-outside');
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    fs.mkdirSync(outside);
    const outsideHex = new Set<string>();
    for (let i = 0; i < FILES / 2; i++) {
      fs.writeFileSync(path.join(src, 'sub', `f${i}`), `inside file ${i}, long enough to be stored as an object\n`);
      const content = `outside file ${i}, long enough to be stored as an object\n`;
      fs.writeFileSync(path.join(outside, `f${i}`), content);
      outsideHex.add(digestBytes(Buffer.from(content)).hex);
    }
    const { results, swaps } = await whileSwapping(path.join(src, 'sub'), outside, RUNS, MIN_SWAPS, (i) =>
      cli(importVerb, [src, '--objects', path.join(work, `i-objects-${i}`), '--dump', '-', '--no-fsync']),
    );
    let imported = 0;
    results.forEach((r, i) => {
      const objects = path.join(work, `i-objects-${i}`);
      const stored = fs.existsSync(objects) ? (fs.readdirSync(objects, { recursive: true }) as string[]).filter((n) => /^[0-9a-f]{2}\/[0-9a-f]{62}$/.test(n)).map((n) => n.replace('/', '')) : [];
      expect(stored.filter((hex) => outsideHex.has(hex))).toEqual([]);
      for (const hex of outsideHex) expect(r.out).not.toContain(hex);
      if (r.status === 0) imported++;
    });
    // The swap shows as a symlink entry or a changed directory, never as outside content; most runs succeed.
    expect(imported).toBeGreaterThan(0);
    expect(swaps).toBeGreaterThanOrEqual(MIN_SWAPS);
  });
});
