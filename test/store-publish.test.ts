/**
 * Object stores written the fast way: write-once files (src/fs/publish.ts: O_TMPFILE or a hidden
 * name, then linkat) and pool workers storing the files they hash from the bytes they hashed
 * (pool/batch-store.ts). Checked: names, bytes and modes of what is stored; an existing name is
 * never replaced; nothing is left under a temporary name; a failure fails that file alone; and a
 * store on a full filesystem ends with a clear error, exit 2, and only whole objects in it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDirectory } from '../src/fs/dir.js';
import { PendingFile } from '../src/fs/publish.js';
import { digestFile } from '../src/merkle/file.js';
import { digestFiles, type FileDigest } from '../src/pool/scheduler.js';
import { ObjectStore } from '../src/composefs/store.js';
import { veritree } from './helpers/cli.js';

let work: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-publish-'));
});

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** Files of seeded random content and the given sizes, in a new directory. */
function makeFiles(dir: string, sizes: readonly number[], seed: number): string[] {
  fs.mkdirSync(dir, { recursive: true });
  return sizes.map((size, i) => {
    const p = path.join(dir, `f${i}`);
    const bytes = crypto.createHash('sha512').update(`${seed}/${i}`).digest();
    const data = Buffer.alloc(size);
    for (let at = 0; at < size; at += bytes.length) bytes.copy(data, at);
    if (size > 0) data.writeUInt32LE(i, 0);
    fs.writeFileSync(p, data, { mode: 0o600 });
    return p;
  });
}

function leftovers(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith('.tmp')) out.push(path.join(d, e.name));
      if (e.isDirectory()) walk(path.join(d, e.name));
    }
  };
  walk(dir);
  return out;
}

describe('PendingFile (fs/publish.ts)', () => {
  for (const named of [false, true]) {
    const how = named ? 'a hidden temporary name' : 'O_TMPFILE';
    it(`through ${how}: named only at commit, with the exact mode; an existing name is kept`, () => {
      const dirPath = path.join(work, `pending-${named}`);
      fs.mkdirSync(dirPath);
      const dir = openDirectory(dirPath);
      try {
        const a = PendingFile.create(dir.fd, 0o644, path.join(dirPath, 'obj'), { named });
        a.write(Buffer.from('first writer'));
        a.sync();
        expect(fs.readdirSync(dirPath).filter((n) => n === 'obj')).toEqual([]);
        expect(a.commit('obj')).toBe(true);
        expect(fs.readFileSync(path.join(dirPath, 'obj'), 'utf8')).toBe('first writer');
        expect(fs.statSync(path.join(dirPath, 'obj')).mode & 0o7777).toBe(0o644);

        const b = PendingFile.create(dir.fd, 0o644, path.join(dirPath, 'obj'), { named });
        b.write(Buffer.from('second writer'));
        expect(b.commit('obj')).toBe(false);
        expect(fs.readFileSync(path.join(dirPath, 'obj'), 'utf8')).toBe('first writer');

        const c = PendingFile.create(dir.fd, 0o600, path.join(dirPath, 'gone'), { named });
        c.write(Buffer.from('never named'));
        c.discard();
        c.discard();
        expect(fs.readdirSync(dirPath)).toEqual(['obj']);
      } finally {
        dir.release();
      }
    });
  }

  it('copyFrom copies a file in the kernel, every byte', async () => {
    const [src] = makeFiles(path.join(work, 'copy-src'), [3 * 1024 * 1024 + 17], 7);
    const dirPath = path.join(work, 'copy-dst');
    fs.mkdirSync(dirPath);
    const dir = openDirectory(dirPath);
    const fd = fs.openSync(src!, 'r');
    try {
      const p = PendingFile.create(dir.fd, 0o644, path.join(dirPath, 'copy'));
      expect(await p.copyFrom(fd, 3 * 1024 * 1024 + 17, src!)).toBe(3 * 1024 * 1024 + 17);
      expect(p.commit('copy')).toBe(true);
      expect(fs.readFileSync(path.join(dirPath, 'copy')).equals(fs.readFileSync(src!))).toBe(true);
    } finally {
      fs.closeSync(fd);
      dir.release();
    }
  });
});

describe('pool workers store what they hash (BulkDigestOptions.store)', () => {
  // Sizes across the staged path (≤ 1 MiB) and one larger file the workers leave to the caller.
  const sizes = [65, 100, 4096, 4097, 8192, 100_000, 1 << 20, (1 << 20) + 1, 2_500_000, ...Array.from({ length: 300 }, (_, i) => 200 + i * 37)];

  async function run(files: string[], store: ObjectStore, threads: number): Promise<FileDigest[]> {
    const out: FileDigest[] = [];
    try {
      for await (const d of digestFiles(files, { hashAlg: store.hashAlg, threads, filesPerTask: 64, store: store.sink() })) out.push(d);
    } finally {
      store.close();
    }
    return out.sort((a, b) => a.index - b.index);
  }

  for (const [durability, threads] of [['syncfs', 2], ['none', 1]] as const) {
    it(`stores every staged file under its digest, bytes and mode exact (${durability}, ${threads} thread${threads > 1 ? 's' : ''})`, async () => {
      const files = makeFiles(path.join(work, `src-${durability}`), sizes, 1);
      const storeDir = path.join(work, `store-${durability}`);
      const store = new ObjectStore(storeDir, { fsync: durability === 'syncfs' });
      const results = await run(files, store, threads);
      expect(results).toHaveLength(files.length);
      for (const d of results) {
        if (!d.ok) throw d.error;
        const size = fs.statSync(files[d.index]!).size;
        // Independent of the pool: the single-file engine's digest of the source.
        expect(d.hex).toBe((await digestFile(files[d.index]!)).hex);
        if (size > 1 << 20) {
          expect(d.stored).toBeUndefined();
          continue;
        }
        expect(d.stored).toBe('added');
        const obj = store.objectPath(d.hex);
        expect(fs.readFileSync(obj).equals(fs.readFileSync(files[d.index]!))).toBe(true);
        expect(fs.statSync(obj).mode & 0o7777).toBe(0o644);
        expect(fs.statSync(path.dirname(obj)).mode & 0o7777).toBe(0o755);
      }
      expect(leftovers(storeDir)).toEqual([]);

      // Again: everything is there already, nothing is written.
      const mtimes = results.filter((d) => d.ok && d.stored).map((d) => fs.statSync(store.objectPath((d as { hex: string }).hex)).mtimeMs);
      const again = await run(files, store, threads);
      expect(again.filter((d) => d.ok && d.stored === 'existing')).toHaveLength(mtimes.length);
      expect(again.filter((d) => d.ok && d.stored).map((d) => fs.statSync(store.objectPath((d as { hex: string }).hex)).mtimeMs)).toEqual(mtimes);
    });
  }

  it('identical files in one batch: one object, one of them added', async () => {
    const dir = path.join(work, 'dups');
    fs.mkdirSync(dir);
    const files = Array.from({ length: 20 }, (_, i) => {
      const p = path.join(dir, `same${i}`);
      fs.writeFileSync(p, 'the same content, long enough to be stored as an object, twenty times');
      return p;
    });
    const store = new ObjectStore(path.join(work, 'store-dups'));
    const results = await run(files, store, 2);
    expect(new Set(results.map((d) => (d.ok ? d.hex : 'failed'))).size).toBe(1);
    expect(results.filter((d) => d.ok && d.stored === 'added')).toHaveLength(1);
    expect(results.filter((d) => d.ok && d.stored === 'existing')).toHaveLength(19);
    expect(fs.readdirSync(path.join(work, 'store-dups')).length).toBe(1);
  });

  it('a name taken by a directory fails that file alone, naming the object', async () => {
    const files = makeFiles(path.join(work, 'src-blocked'), [300, 400, 500, 600], 3);
    const blocked = (await digestFile(files[1]!)).hex;
    const storeDir = path.join(work, 'store-blocked');
    fs.mkdirSync(path.join(storeDir, blocked.slice(0, 2), blocked.slice(2)), { recursive: true });
    const results = await run(files, new ObjectStore(storeDir), 1);
    expect(results[1]).toMatchObject({ ok: false, error: { code: 'write-failed', path: path.join(storeDir, blocked.slice(0, 2), blocked.slice(2)) } });
    expect(results.filter((d) => d.ok && d.stored === 'added')).toHaveLength(3);
  });
});

describe('a store on a full filesystem', () => {
  const isRoot = process.getuid?.() === 0;
  let mnt: string | undefined;
  let why: string | undefined;
  beforeAll(() => {
    if (!isRoot) {
      why = 'mounting a small tmpfs needs root; CI runs as root';
      return;
    }
    mnt = path.join(work, 'small-fs');
    fs.mkdirSync(mnt);
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
    if (r.status !== 0) {
      why = `cannot mount a tmpfs here: ${r.stderr.toString().trim()}`;
      mnt = undefined;
    }
  });
  afterAll(() => {
    if (mnt) execFileSync('umount', [mnt]);
  });

  it('import: exit 2 with write-failed naming the object, only whole objects left, none under a temporary name', async (ctx) => {
    if (!mnt) return ctx.skip(why);
    // 40 files of 20 KiB: more than the 256 KiB filesystem holds.
    const src = path.join(work, 'src-full');
    makeFiles(src, Array.from({ length: 40 }, () => 20_000), 5);
    const store = path.join(mnt, 'objects');
    const r = veritree(['import', src, '--objects', store, '--dump', path.join(work, 'full.dump')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^veritree import: write-failed: .*\/objects\/[0-9a-f]{2}\/[0-9a-f]{62}: cannot write: no space left on device|^veritree import: write-failed: .*objects\/[0-9a-f]{2}\/[0-9a-f]{62}: no space left on device/m);
    expect(fs.existsSync(path.join(work, 'full.dump'))).toBe(false);
    expect(leftovers(store)).toEqual([]);
    // Whatever is in the store is whole: the fsck finds every object's digest equal to its name.
    const fsck = veritree(['verify-cas', store]);
    expect(fsck.stderr).toBe('');
    expect(fsck.status).toBe(0);
  });
});

describe('builders refuse early and report the first failure', () => {
  it('image create --digest-store: a socket is refused when the walk reaches it: exit 2, one line, no image, nothing of its batch stored', async () => {
    const net = await import('node:net');
    const src = path.join(work, 'src-socket');
    makeFiles(src, [5000, 6000, 7000], 11);
    const sock = path.join(src, 'zz.sock');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      const store = path.join(work, 'store-socket');
      const r = veritree(['image', 'create', src, path.join(work, 'socket.cfs'), '--digest-store', store]);
      expect(r.status).toBe(2);
      expect(r.stderr).toBe(`veritree image create: import-unsupported: ${sock}: socket (cannot be stored in a composefs image)\n`);
      expect(fs.existsSync(path.join(work, 'socket.cfs'))).toBe(false);
      expect(fs.existsSync(store) ? leftovers(store).concat(fs.readdirSync(store)) : []).toEqual([]);
    } finally {
      server.close();
    }
  });

  it('import: a large file whose copy fails (a directory holds its object name) ends it with exit 2 naming the object', async () => {
    const src = path.join(work, 'src-bigfail');
    const [big] = makeFiles(src, [3_000_000, 500, 600], 13);
    const hex = (await digestFile(big!)).hex;
    const store = path.join(work, 'store-bigfail');
    const objectPath = path.join(store, hex.slice(0, 2), hex.slice(2));
    fs.mkdirSync(objectPath, { recursive: true });
    const r = veritree(['import', src, '--objects', store, '--dump', path.join(work, 'bigfail.dump')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`veritree import: write-failed: ${objectPath}: a directory occupies the object name\n`);
    expect(fs.existsSync(path.join(work, 'bigfail.dump'))).toBe(false);
    expect(leftovers(store)).toEqual([]);
  });
});

describe('an unprivileged importer', () => {
  it('stores objects (linkat through /proc/self/fd, AT_EMPTY_PATH being for CAP_DAC_READ_SEARCH)', async (ctx) => {
    if (process.getuid?.() !== 0) return ctx.skip('needs root to run the CLI as another user; CI runs as root');
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-unpriv-'));
    try {
      fs.chmodSync(base, 0o755);
      const src = path.join(base, 'src');
      makeFiles(src, [3000, 6000, 3_000_000], 17);
      execFileSync('chown', ['-R', '65534:65534', base]);
      const store = path.join(base, 'objects');
      const r = veritree(['import', src, '--objects', store, '--dump', path.join(base, 'd')], { uid: 65534, gid: 65534, cwd: base });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toBe('files: 3 regular (3 stored, 0 inline, 0 empty); objects: 3 (3 new, 0 already stored)\n');
      const fsck = veritree(['verify-cas', store]);
      expect(fsck.stdout).toBe('objects: 3/3 ok\n');
      expect(leftovers(store)).toEqual([]);
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});
