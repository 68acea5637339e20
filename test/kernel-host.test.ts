/**
 * Kernel bindings on the development host, whose kernel has no fs-verity (docs/FORMATS.md §2.3: the
 * ioctls fail with EOPNOTSUPP/ENOTTY): real FFI calls, xattrs, statx, and the CLI verbs' error
 * lines and exit codes. Real fs-verity behaviour is covered by kernel-vm.test.ts.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipAllUnless } from './helpers/skip.js';
import * as kernel from '../src/kernel/index.js';
import { orderedMap } from '../src/cli/ordered.js';
import { run as enableRun } from '../src/cli/enable.js';
import { run as measureRun } from '../src/cli/measure.js';
import { run as dumpRun } from '../src/cli/dump-metadata.js';
import type { Verb } from '../src/cli/io.js';
import { VeritreeError } from '../src/report/errors.js';

let dir: string;
let file: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-kernel-'));
  file = path.join(dir, 'hello.txt');
  fs.writeFileSync(file, 'hello\n');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function cli(verb: Verb, ...args: string[]) {
  const sink = () => {
    const chunks: Buffer[] = [];
    const s = new Writable({ write(c, _e, cb) { chunks.push(Buffer.from(c)); cb(); } });
    return { s, text: () => Buffer.concat(chunks).toString('utf8') };
  };
  const out = sink();
  const err = sink();
  const code = await verb(args, { stdout: out.s, stderr: err.s, stdin: process.stdin, env: {}, isTTY: false });
  return { code, out: out.text(), err: err.text() };
}

/** The host either lacks fs-verity entirely or lacks it on this filesystem. */
function expectNotSupported(e: unknown) {
  expect(e).toBeInstanceOf(VeritreeError);
  const v = e as VeritreeError;
  expect(v.code).toBe('verity-not-supported');
  expect(['EOPNOTSUPP', 'ENOTTY']).toContain(v.errno);
  expect(v.path).toBe(file);
}

describe('ioctls on a host without fs-verity', () => {
  it('enable (sync and async) → verity-not-supported', async () => {
    expect(() => kernel.enableVeritySync(file)).toThrow(VeritreeError);
    try {
      kernel.enableVeritySync(file);
    } catch (e) {
      expectNotSupported(e);
    }
    await kernel.enableVerity(file).then(() => expect.fail('enabled?'), expectNotSupported);
  });
  it('measure and read-metadata → verity-not-supported', async () => {
    await kernel.measureVerity(file).then(() => expect.fail('measured?'), expectNotSupported);
    await kernel.readVerityMetadata(file, 'descriptor').then(() => expect.fail('read?'), expectNotSupported);
    expect(() => kernel.measureVeritySync(file)).toThrow(/fs-verity/);
  });
  it('parameter errors come before the file is touched', () => {
    expect(() => kernel.enableVeritySync(path.join(dir, 'missing'), { hashAlg: 'md5' })).toThrow(/unknown hash algorithm/);
  });
  it('open errors are mapped', async () => {
    await kernel.measureVerity(path.join(dir, 'missing')).then(
      () => expect.fail(),
      (e: VeritreeError) => expect(e.toJSON()).toMatchObject({ code: 'not-found', errno: 'ENOENT' }),
    );
  });
  it('statx and FS_IOC_GETFLAGS work and show no verity', async () => {
    const st = kernel.statxVeritySync(file);
    expect(st).toMatchObject({ verity: false, size: 6, kind: 'file' });
    expect((await kernel.statxVerity(dir)).kind).toBe('directory');
    try {
      expect(kernel.getFlagsSync(file) & kernel.FS_VERITY_FL).toBe(0);
    } catch (e) {
      // tmpfs has no inode flags.
      expect((e as VeritreeError).code).toBe('verity-not-supported');
    }
  });
  it('guards arguments', () => {
    expect(() => kernel.measureVeritySync('')).toThrow(TypeError);
    expect(() => kernel.measureVeritySync('a\0b')).toThrow(TypeError);
    expect(() => kernel.readVerityMetadataSync(file, 'bogus' as never)).toThrow();
    expect(() => kernel.setMaxInFlight(0)).toThrow(RangeError);
  });
});

/** Whether the temp directory's filesystem takes user.* xattrs at all (tmpfs before 6.6 does not). */
function userXattrsUnsupported(): string | undefined {
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-xattr-probe-'));
  try {
    fs.writeFileSync(path.join(probe, 'f'), '');
    kernel.setXattrSync(path.join(probe, 'f'), 'user.veritree.probe', Uint8Array.of(1));
    return undefined;
  } catch (e) {
    if ((e as VeritreeError).code === 'xattrs-not-supported') return `${os.tmpdir()} does not support user.* xattrs`;
    throw e;
  } finally {
    fs.rmSync(probe, { recursive: true, force: true });
  }
}

describe('xattrs (binary values, not following symlinks)', () => {
  skipAllUnless(userXattrsUnsupported());
  it('round-trips user.* values sync and async', async () => {
    const f = path.join(dir, 'x');
    fs.writeFileSync(f, '');
    const value = Uint8Array.from([0, 1, 0, 255, 10]);
    kernel.setXattrSync(f, 'user.veritree.a', value);
    expect(kernel.getXattrSync(f, 'user.veritree.a')).toEqual(value);
    const big = new Uint8Array(3000).map((_, i) => i & 0xff);
    await kernel.setXattr(f, 'user.veritree.big', big);
    expect(await kernel.getXattr(f, 'user.veritree.big')).toEqual(big);
    expect(kernel.listXattrSync(f).filter((n) => n.startsWith('user.veritree.')).sort()).toEqual(['user.veritree.a', 'user.veritree.big']);
    await kernel.setXattr(f, 'user.veritree.empty', new Uint8Array(0));
    expect(kernel.getXattrSync(f, 'user.veritree.empty')).toEqual(new Uint8Array(0));
    expect(() => kernel.setXattrSync(f, 'user.veritree.a', value, 'create')).toThrow(VeritreeError);
    kernel.removeXattrSync(f, 'user.veritree.a');
    expect(kernel.getXattrSync(f, 'user.veritree.a')).toBeUndefined();
    expect(() => kernel.removeXattrSync(f, 'user.veritree.a')).toThrow(expect.objectContaining({ code: 'no-such-xattr' }));
    const all = await kernel.getAllXattrs(f);
    expect(all.get('user.veritree.big')).toEqual(big);
    // l* calls: a symlink's own xattrs, not its target's (user.* is not allowed on symlinks).
    const link = path.join(dir, 'link');
    fs.symlinkSync(f, link);
    expect(kernel.getXattrSync(link, 'user.veritree.big')).toBeUndefined();
  });

  it('reads name lists and values past the first-try buffer (the ERANGE → size probe path)', () => {
    const f = path.join(dir, 'many');
    fs.writeFileSync(f, '');
    const names = Array.from({ length: 40 }, (_, i) => `user.veritree.${'n'.repeat(30)}${String(i).padStart(2, '0')}`);
    for (const n of names) kernel.setXattrSync(f, n, Uint8Array.of(1));
    // 40 names of 46 bytes + NUL: a 1,880-byte list, beyond the 1 KiB first read.
    expect(kernel.listXattrSync(f).filter((n) => n.startsWith('user.veritree.')).sort()).toEqual(names);
    for (const size of [0, 1, 1023, 1024, 1025, 2000]) {
      // One file each: ext4 keeps all of a file's xattrs in one 4 KiB block.
      const g = path.join(dir, `size-${size}`);
      fs.writeFileSync(g, '');
      const v = new Uint8Array(size).map((_, i) => (i * 7) & 0xff);
      kernel.setXattrSync(g, `user.veritree.s${size}`, v);
      expect(kernel.getXattrSync(g, `user.veritree.s${size}`)).toEqual(v);
    }
  });
  it('guards names and values', () => {
    expect(() => kernel.getXattrSync(file, '')).toThrow(TypeError);
    expect(() => kernel.setXattrSync(file, 'user.a', 'x' as never)).toThrow(TypeError);
    expect(() => kernel.setXattrSync(file, 'user.a', new Uint8Array(65537))).toThrow(RangeError);
  });
});

describe('CLI verbs on the host', () => {
  it('enable: one line per failure, summary, exit 1', async () => {
    const r = await cli(enableRun, file);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^veritree enable: ${file}: [^\\n]*\\((EOPNOTSUPP|ENOTTY)\\)[^\\n]*tune2fs -O verity[^\\n]*\\n$`));
    expect(r.out).toBe('veritree enable: 1 file: 0 enabled, 0 already enabled, 0 skipped, 1 failed\n');
  });
  it('enable --json', async () => {
    const r = await cli(enableRun, '--json', file);
    const lines = r.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ path: file, status: 'failed', code: 'verity-not-supported' });
    expect(lines[1].summary).toMatchObject({ files: 1, failed: 1 });
  });
  it('enable -r reports symlinks and special files as skipped', async () => {
    const tree = path.join(dir, 'tree');
    fs.mkdirSync(path.join(tree, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'sub', 'a'), 'a');
    fs.symlinkSync('sub/a', path.join(tree, 'l'));
    const fifo = spawnSync('mkfifo', [path.join(tree, 'p')]).status === 0;
    const r = await cli(enableRun, '-r', tree);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`veritree enable: ${path.join(tree, 'l')}: skipped: symbolic link (not followed)\n`);
    if (fifo) expect(r.err).toContain(`veritree enable: ${path.join(tree, 'p')}: skipped: named pipe (not a regular file)\n`);
    expect(r.err).toContain(`veritree enable: ${path.join(tree, 'sub', 'a')}: `);
    expect(r.out).toMatch(new RegExp(`: 0 enabled, 0 already enabled, ${fifo ? 2 : 1} skipped, 1 failed\\n$`));
  });
  it('usage errors exit 2', async () => {
    for (const args of [[], ['--hash-alg', 'md5', file], ['--block-size', 'x', file], ['--salt', 'zz', file], ['--bogus', file], ['--signature', path.join(dir, 'nope'), file], ['-j', '0', file]]) {
      const r = await cli(enableRun, ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toMatch(/^veritree enable: /);
    }
    expect((await cli(enableRun, '--help')).code).toBe(0);
  });
  it('measure: fsverity-style errors, exit 1; usage exit 2', async () => {
    const r = await cli(measureRun, file, path.join(dir, 'missing'));
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    const lines = r.err.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^veritree measure: ${file}: .*\\((EOPNOTSUPP|ENOTTY)\\)`));
    expect(lines[1]).toBe(`veritree measure: ${path.join(dir, 'missing')}: no such file or directory (ENOENT)`);
    expect((await cli(measureRun)).code).toBe(2);
  });
  it('dump-metadata: exit 1 on kernel errors, 2 on usage', async () => {
    const r = await cli(dumpRun, 'merkle_tree', file);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^veritree dump-metadata: .*fs-verity/);
    expect((await cli(dumpRun, 'tree', file)).code).toBe(2);
    expect((await cli(dumpRun, 'descriptor')).code).toBe(2);
    expect((await cli(dumpRun, 'descriptor', file, '--offset', '-1')).code).toBe(2);
  });
});

describe('orderedMap', () => {
  it('keeps input order with bounded concurrency', async () => {
    let active = 0;
    let peak = 0;
    const out: number[] = [];
    for await (const v of orderedMap([5, 1, 4, 2, 3], 2, async (n) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, n * 3));
      active--;
      return n * 10;
    })) out.push(v);
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(peak).toBeLessThanOrEqual(2);
  });
});
