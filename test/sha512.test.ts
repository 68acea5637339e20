/**
 * SHA-512 object stores (composefs-rs repositories, `meta.json` "fsverity-sha512-12"): import
 * fills one, verify-cas checks it by meta.json, check-overlay judges SHA-512 metacopy digests
 * (algorithm 2), and every object name is what `fsverity digest --hash-alg=sha512` prints.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as importVerb } from '../src/cli/import.js';
import { run as verifyCas } from '../src/cli/verify-cas.js';
import { run as checkOverlay } from '../src/cli/check-overlay.js';
import { run as checkImage } from '../src/cli/check-image.js';
import { run as imageVerb } from '../src/cli/image.js';
import { parseDumpLine } from '../src/composefs/dump.js';
import { setXattrSync } from '../src/kernel/index.js';
import { formatMetacopy } from '../src/overlay/metacopy.js';
import { memoryIO } from './helpers/cli.js';
import { which } from './helpers/fixtures.js';
import { skipAllUnless } from './helpers/skip.js';

let work: string;
let src: string;
let repo: string;
const FSVERITY = which('fsverity');

async function cli(verb: typeof importVerb, args: string[]) {
  const c = memoryIO();
  const status = await verb(args, c.io);
  return { status, out: c.out(), err: c.err() };
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-sha512-'));
  src = path.join(work, 'src');
  fs.mkdirSync(path.join(src, 'd'), { recursive: true });
  for (const [name, size] of [['a', 100], ['b', 4096], ['c', 4097], ['d/e', 300_000], ['small', 10]] as const) {
    fs.writeFileSync(path.join(src, name), Buffer.alloc(size, name.charCodeAt(0)));
  }
  repo = path.join(work, 'repo');
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('a SHA-512 composefs-rs repository', () => {
  let dump: string;

  it('import --repo --hash-alg sha512 writes meta.json and 128-hex objects, the dump carries them', async () => {
    const r = await cli(importVerb, [src, '--repo', repo, '--hash-alg', 'sha512', '--dump', '-', '--no-fsync']);
    expect(r.err).toContain('4 stored');
    expect(r.status).toBe(0);
    dump = r.out;
    expect(JSON.parse(fs.readFileSync(path.join(repo, 'meta.json'), 'utf8'))).toEqual({ version: 1, algorithm: 'fsverity-sha512-12' });
    const records = dump.split('\n').filter((l) => l !== '').map((l, i) => parseDumpLine(l, i + 1));
    const stored = records.filter((rec) => rec.digest !== null);
    expect(stored).toHaveLength(4);
    for (const rec of stored) {
      expect(rec.digest!.length).toBe(64);
      const hex = Buffer.from(rec.digest!).toString('hex');
      expect(Buffer.from(rec.payload!).toString()).toBe(`${hex.slice(0, 2)}/${hex.slice(2)}`);
      expect(fs.existsSync(path.join(repo, 'objects', hex.slice(0, 2), hex.slice(2)))).toBe(true);
    }
  });

  describe('object names match fsverity digest --hash-alg=sha512', () => {
    skipAllUnless(FSVERITY ? undefined : 'fsverity (Debian package fsverity) is not installed');
    it('every one', () => {
      for (const name of ['a', 'b', 'c', 'd/e']) {
        const out = execFileSync(FSVERITY!, ['digest', '--hash-alg=sha512', '--compact', path.join(src, name)], { encoding: 'utf8' }).trim();
        expect(fs.existsSync(path.join(repo, 'objects', out.slice(0, 2), out.slice(2))), name).toBe(true);
      }
    });
  });

  it('verify-cas takes the algorithm from meta.json and finds every object good', async () => {
    const r = await cli(verifyCas, [repo, '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.out).summary).toMatchObject({ layout: 'composefs-rs', hashAlg: 'sha512', algorithmSource: 'meta.json', objectsChecked: 4, objectsOk: 4 });
  });

  it('check-overlay judges SHA-512 metacopy digests (algorithm 2), and a tampered object', async () => {
    const lower = path.join(work, 'lower');
    fs.mkdirSync(lower);
    const records = dump.split('\n').filter((l) => l !== '').map((l, i) => parseDumpLine(l, i + 1)).filter((rec) => rec.digest !== null);
    records.forEach((rec, i) => {
      const f = path.join(lower, `f${i}`);
      fs.writeFileSync(f, '');
      setXattrSync(f, 'user.overlay.metacopy', formatMetacopy(2, rec.digest!));
      setXattrSync(f, 'user.overlay.redirect', Buffer.concat([Buffer.from('/'), Buffer.from(rec.payload!)]));
    });
    const ok = await cli(checkOverlay, [lower, '--data', path.join(repo, 'objects'), '--json']);
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.out).summary).toMatchObject({ filesChecked: records.length, filesOk: records.length });
    const victim = Buffer.from(records[0]!.payload!).toString();
    const objectPath = path.join(repo, 'objects', victim);
    fs.chmodSync(objectPath, 0o644);
    fs.appendFileSync(objectPath, 'x');
    const bad = await cli(checkOverlay, [lower, '--data', path.join(repo, 'objects'), '--json']);
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.out).findings).toEqual([expect.objectContaining({ path: '/f0', code: 'object-digest-mismatch', expected: expect.stringMatching(/^sha512:[0-9a-f]{128}$/) })]);
    const cas = await cli(verifyCas, [repo, '--json']);
    expect(cas.status).toBe(1);
    expect(JSON.parse(cas.out).findings).toEqual([expect.objectContaining({ code: 'object-digest-mismatch', path: `objects/${victim}` })]);
  });

  it('image create --repo writes SHA-512 metacopy digests (algorithm 2); check-image and the repository fsck judge them', async () => {
    const image = path.join(work, 'sha512.cfs');
    const fresh = path.join(work, 'repo-image');
    const made = await cli(imageVerb, ['create', src, image, '--repo', fresh, '--hash-alg', 'sha512', '--no-fsync']);
    expect(made.err).toBe('');
    expect(made.status).toBe(0);
    // composefs-info (and so `image dump`) shows SHA-256 metacopy digests only: the SHA-512 ones
    // show as 128-hex payloads here, and check-image below reads their metacopy (algorithm 2).
    const dumped = await cli(imageVerb, ['dump', image]);
    const stored = dumped.out.split('\n').filter((l) => l !== '').map((l, i) => parseDumpLine(l, i + 1)).filter((rec) => rec.payload !== null && rec.mode >= 0o100000 && rec.mode < 0o120000);
    expect(stored.map((rec) => Buffer.from(rec.payload!).toString().length)).toEqual([129, 129, 129, 129]);
    // The same image from the dump import wrote for the same tree.
    const fromDump = path.join(work, 'sha512-from-dump.cfs');
    fs.writeFileSync(path.join(work, 'sha512.dump'), dump, 'latin1');
    expect((await cli(imageVerb, ['create', '--from-file', path.join(work, 'sha512.dump'), fromDump])).status).toBe(0);
    expect(fs.readFileSync(fromDump).equals(fs.readFileSync(image))).toBe(true);
    const ok = await cli(checkImage, [image, '--objects', path.join(fresh, 'objects'), '--verity=require', '--json']);
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.out).summary).toMatchObject({ filesChecked: 5, filesOk: 5, objectsHashed: 4 });
    // In the repository as composefs-rs keeps images (images/<digest> -> ../objects/…), fsck'd whole.
    const hex = execFileSync(FSVERITY ?? 'fsverity', ['digest', '--hash-alg=sha512', '--compact', image], { encoding: 'utf8' }).trim();
    fs.mkdirSync(path.join(fresh, 'objects', hex.slice(0, 2)), { recursive: true });
    fs.copyFileSync(image, path.join(fresh, 'objects', hex.slice(0, 2), hex.slice(2)));
    fs.mkdirSync(path.join(fresh, 'images'));
    fs.symlinkSync(`../objects/${hex.slice(0, 2)}/${hex.slice(2)}`, path.join(fresh, 'images', hex));
    const fsck = await cli(verifyCas, [fresh, '--json']);
    expect(fsck.status).toBe(0);
    expect(JSON.parse(fsck.out).summary).toMatchObject({ hashAlg: 'sha512', imagesChecked: 1, imagesCorrupted: 0 });
  });

  it('refuses to mix algorithms, and SHA-512 in a composefs digest store', async () => {
    const mixed = await cli(importVerb, [src, '--repo', repo, '--hash-alg', 'sha256', '--no-fsync']);
    expect(mixed.status).toBe(2);
    expect(mixed.err).toMatch(/unsupported-repository: .*holds sha512 objects/);
    const store = await cli(importVerb, [src, '--objects', path.join(work, 'o'), '--hash-alg', 'sha512']);
    expect(store.status).toBe(2);
    expect(store.err).toMatch(/needs --repo/);
    expect(fs.existsSync(path.join(work, 'o'))).toBe(false);
  });
});
