/**
 * The worker pool: bulk results equal the single-threaded engine (small-file batches, byte ranges
 * of large files), a worker killed mid-task loses nothing and hangs nothing, symlinks are never
 * followed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operandRef } from '../src/fs/open.js';
import { HashPool, digestFileSync, digestFiles, digestTree, type FileDigest } from '../src/index.js';
import { InlineRunner, type TaskRunner } from '../src/pool/runner.js';

let dir: string;
const files: string[] = [];
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-pool-'));
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0);
  const sizes = [0, 1, 64, 65, 4095, 4096, 4097, 8192, 100_000, 1 << 20, (1 << 20) + 1, 3 * 1024 * 1024 + 5];
  for (let i = 0; i < 300; i++) sizes.push(rnd() % 40_000);
  sizes.forEach((size, i) => {
    const sub = path.join(dir, `d${i % 7}`);
    fs.mkdirSync(sub, { recursive: true });
    const f = path.join(sub, `f${i}.bin`);
    const buf = Buffer.alloc(size);
    for (let j = 0; j < size; j++) buf[j] = rnd() >>> 24;
    fs.writeFileSync(f, buf);
    files.push(f);
  });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function collect(it: AsyncIterable<FileDigest>): Promise<Map<string, FileDigest>> {
  const m = new Map<string, FileDigest>();
  for await (const r of it) m.set(r.path, r);
  return m;
}

describe('digestFiles on the pool', () => {
  it('equals the single-threaded engine for every file, every backend, with salt and sha512', async () => {
    const pool = new HashPool(2);
    try {
      for (const opts of [
        { backend: 'node-crypto' as const },
        { backend: 'wasm-simd' as const, hashAlg: 'sha512', salt: 'deadbeef' },
        { backend: 'wasm-scalar' as const, blockSize: 1024 },
        { backend: 'noble' as const, blockSize: 65536 },
      ]) {
        const got = await collect(digestFiles(files, { ...opts, pool, filesPerTask: 16 }));
        expect(got.size).toBe(files.length);
        for (const f of files) {
          const r = got.get(f)!;
          expect(r.ok, f).toBe(true);
          if (r.ok) expect(r.hex, `${f} ${JSON.stringify(opts)}`).toBe(digestFileSync(f, opts).hex);
        }
      }
    } finally {
      await pool.destroy();
    }
  });

  it('splits a large file into ranges across workers, bit-identical', async () => {
    const big = path.join(dir, 'big.bin');
    const buf = Buffer.alloc(20 * 1024 * 1024 + 12345);
    for (let j = 0; j + 4 <= buf.length; j += 4) buf.writeUInt32LE((j * 2654435761) >>> 0, j);
    fs.writeFileSync(big, buf);
    const pool = new HashPool(2);
    try {
      for (const alg of ['sha256', 'sha512']) {
        const got = await collect(digestFiles([big, files[5]!], { pool, hashAlg: alg, splitAbove: 1 << 20 }));
        const r = got.get(big)!;
        expect(r.ok).toBe(true);
        if (r.ok) expect(r.hex).toBe(digestFileSync(big, { hashAlg: alg }).hex);
      }
    } finally {
      await pool.destroy();
      fs.rmSync(big);
    }
  });

  it('reports bad paths per file and keeps going', async () => {
    const pool = new HashPool(2);
    try {
      const list = [files[0]!, path.join(dir, 'missing'), dir, files[1]!];
      const got = await collect(digestFiles(list, { pool }));
      expect(got.get(files[0]!)!.ok).toBe(true);
      expect(got.get(files[1]!)!.ok).toBe(true);
      const missing = got.get(path.join(dir, 'missing'))!;
      expect(!missing.ok && missing.error.code).toBe('not-found');
      const d = got.get(dir)!;
      expect(!d.ok && d.error.code).toBe('is-a-directory');
    } finally {
      await pool.destroy();
    }
  });
});

describe('worker results', () => {
  it('are marked for transfer the way piscina move() marks them (its internals still match)', async () => {
    const { createRequire } = await import('node:module');
    const require = createRequire(import.meta.url);
    const common = require(path.join(path.dirname(require.resolve('piscina')), 'common.js')) as { isMovable: (v: unknown) => boolean };
    const { default: run } = await import('../src/pool/worker.js');
    const r = run({ kind: 'files', params: { hashAlg: 'sha256', blockSize: 4096, saltHex: '' }, backend: 'node-crypto', files: [operandRef(files[0]!)], deferAbove: 0 }) as Record<symbol, unknown>;
    expect(common.isMovable(r)).toBe(true);
    const buffers = r[Symbol.for('Piscina.transferable')] as ArrayBuffer[];
    const value = r[Symbol.for('Piscina.valueOf')] as { digests: Uint8Array };
    expect(buffers).toContain(value.digests.buffer);
    expect(Buffer.from(value.digests).toString('hex')).toBe(digestFileSync(files[0]!).hex);
  });
});

describe('worker failure', () => {
  it('tasks queued behind a task that kills its worker are resubmitted, not charged a retry', async () => {
    // One worker holds two tasks: the first kills it (every time), the second never started.
    process.env.VERITREE_TEST_KILL_ON = 'f13.bin';
    const pool = new HashPool(1);
    const task = (p: string) => ({ kind: 'files' as const, params: { hashAlg: 'sha256' as const, blockSize: 4096, saltHex: '' }, backend: 'node-crypto' as const, files: [operandRef(p)], deferAbove: 0 });
    try {
      const killer = files.find((f) => f.endsWith('f13.bin'))!;
      const [bad, good] = await Promise.allSettled([pool.runFiles(task(killer)), pool.runFiles(task(files[0]!))]);
      expect(bad.status).toBe('rejected');
      expect(bad.status === 'rejected' && (bad.reason as { code?: string }).code).toBe('worker-failed');
      expect(good.status).toBe('fulfilled');
      if (good.status === 'fulfilled') expect(Buffer.from(good.value.digests).toString('hex')).toBe(digestFileSync(files[0]!).hex);
    } finally {
      delete process.env.VERITREE_TEST_KILL_ON;
      await pool.destroy();
    }
  });

  it('a worker killed mid-task: the task is retried, no result lost', async () => {
    const marker = path.join(dir, 'kill-once');
    fs.writeFileSync(marker, '');
    process.env.VERITREE_TEST_KILL_WORKER = marker;
    const pool = new HashPool(2);
    try {
      const got = await collect(digestFiles(files, { pool, filesPerTask: 32 }));
      expect(fs.existsSync(marker)).toBe(false); // a worker did die
      expect(got.size).toBe(files.length);
      expect([...got.values()].every((r) => r.ok)).toBe(true);
    } finally {
      delete process.env.VERITREE_TEST_KILL_WORKER;
      await pool.destroy();
    }
  });

  it('a task that kills its worker every time is reported after one retry; the rest completes', async () => {
    process.env.VERITREE_TEST_KILL_ON = 'f13.bin';
    const pool = new HashPool(2);
    try {
      const got = await collect(digestFiles(files, { pool, filesPerTask: 8 }));
      expect(got.size).toBe(files.length);
      const failed = [...got.values()].filter((r) => !r.ok);
      // The batch holding f13.bin (8 files) fails; everything else succeeds.
      expect(failed.length).toBe(8);
      expect(failed.every((r) => !r.ok && r.error.code === 'worker-failed')).toBe(true);
      expect(failed.some((r) => r.path.endsWith('f13.bin'))).toBe(true);
    } finally {
      delete process.env.VERITREE_TEST_KILL_ON;
      await pool.destroy();
    }
  });
});

describe('digestTree', () => {
  it('digests every regular file, never follows symlinks, reports them as skipped', async () => {
    const tree = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-tree-'));
    try {
      fs.mkdirSync(path.join(tree, 'a/b'), { recursive: true });
      fs.writeFileSync(path.join(tree, 'a/b/one'), 'one');
      fs.writeFileSync(path.join(tree, 'two'), 'two');
      fs.symlinkSync('/etc', path.join(tree, 'link-to-etc'));
      fs.symlinkSync('two', path.join(tree, 'link-to-two'));
      const pool = new HashPool(1);
      const out: Record<string, string> = {};
      try {
        for await (const r of digestTree(tree, { pool })) out[path.relative(tree, r.path)] = r.ok ? r.hex : r.error.code;
      } finally {
        await pool.destroy();
      }
      expect(out).toEqual({
        'a/b/one': digestFileSync(path.join(tree, 'a/b/one')).hex,
        two: digestFileSync(path.join(tree, 'two')).hex,
        'link-to-etc': 'not-a-regular-file',
        'link-to-two': 'not-a-regular-file',
      });
    } finally {
      fs.rmSync(tree, { recursive: true, force: true });
    }
  });

  it('refuses a root that is not a directory', async () => {
    await expect(async () => {
      for await (const _ of digestTree(files[0]!)) void _;
    }).rejects.toThrow(/not a directory/);
  });
});

describe('a file that changes while it is hashed', () => {
  it('is reported as file-changed, not given a digest of no version of it', async () => {
    const { digestFile } = await import('../src/index.js');
    const f = path.join(dir, 'growing.bin');
    fs.writeFileSync(f, Buffer.alloc(64 << 20, 1));
    // Append once the digest has started reading (the file's offset in this process has moved,
    // so its first stat is behind it): the async digest yields to the event loop between its
    // 4 MiB reads and noble needs ~20 ms for each, so the append lands with most of the 64 MiB
    // still to hash, however loaded the machine is.
    const readingStarted = () => fs.readdirSync('/proc/self/fd').some((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`) === f && /^pos:\s*[1-9]/m.test(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
      } catch {
        return false;
      }
    });
    const timer = setInterval(() => {
      if (!readingStarted()) return;
      clearInterval(timer);
      fs.appendFileSync(f, 'more');
    }, 1);
    try {
      await expect(digestFile(f, { backend: 'noble' })).rejects.toMatchObject({ code: 'file-changed', path: f });
    } finally {
      clearInterval(timer);
      fs.rmSync(f);
    }
  });

  it('is reported by the pool too (range path), and the other files still get digests', async () => {
    const f = path.join(dir, 'growing2.bin');
    fs.writeFileSync(f, Buffer.alloc(24 << 20, 2));
    // A runner that grows the file after it was listed (batch task) and before its ranges are
    // read: deterministic, unlike racing a second process.
    const inline = new InlineRunner();
    const runner: TaskRunner = {
      threads: 2,
      runFiles: async (task) => {
        const r = await inline.runFiles(task);
        if (task.files.some((x) => x.path === f)) fs.appendFileSync(f, 'more');
        return r;
      },
      runRange: (task) => inline.runRange(task),
      destroy: async () => {},
    };
    try {
      const got = await collect(digestFiles([f, files[7]!], { pool: runner, splitAbove: 1 << 20 }));
      const r = got.get(f)!;
      expect(!r.ok && r.error.code).toBe('file-changed');
      expect(got.get(files[7]!)!.ok).toBe(true);
    } finally {
      fs.rmSync(f);
    }
  });
});
