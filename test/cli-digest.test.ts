/**
 * `veritree digest` as a drop-in for `fsverity digest`: output format, options, bad input, atomic
 * output files — and, where fsverity-utils is installed (CI installs it), side by side with it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipAllUnless } from './helpers/skip.js';
import { CLI, veritree } from './helpers/cli.js';
import { which } from './helpers/fixtures.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-cli-'));
  fs.writeFileSync(path.join(dir, 'hello.txt'), 'hello\n');
  fs.writeFileSync(path.join(dir, 'empty'), '');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const HELLO = '9c76eecc7b76fcb46199cb27b90cf59a660e10575bb0412128905129d5b1c2aa';

describe('veritree digest output', () => {
  it('prints sha256:<hex> <path> like fsverity digest', () => {
    const r = veritree(['digest', path.join(dir, 'hello.txt')]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`sha256:${HELLO} ${path.join(dir, 'hello.txt')}\n`);
  });

  it('supports --compact and --for-builtin-sig', () => {
    const f = path.join(dir, 'hello.txt');
    expect(veritree(['digest', '--compact', f]).stdout).toBe(`${HELLO}\n`);
    expect(veritree(['digest', '--for-builtin-sig', f]).stdout).toBe(`4653566572697479 0100 2000 ${HELLO}`.replace(/ /g, '') + ` ${f}\n`);
    expect(veritree(['digest', '--compact', '--for-builtin-sig', f]).stdout).toBe(`46535665726974790100200${'0'}${HELLO}\n`);
  });

  it('reads standard input for -', () => {
    const r = veritree(['digest', '-'], { input: 'hello\n' });
    expect(r.stdout).toBe(`sha256:${HELLO} -\n`);
  });

  it('gives every backend the same answer', () => {
    for (const backend of ['wasm-simd', 'wasm-scalar', 'node-crypto', 'noble', 'auto']) {
      const r = veritree(['digest', '--compact', `--backend=${backend}`, path.join(dir, 'hello.txt')]);
      expect(r.stdout, backend).toBe(`${HELLO}\n`);
    }
  });

  it('honours VERITREE_BACKEND', () => {
    const r = veritree(['digest', '--json', path.join(dir, 'hello.txt')], { env: { VERITREE_BACKEND: 'noble' } });
    expect(JSON.parse(r.stdout).backend).toBe('noble');
  });

  it('emits one JSON document with --json', () => {
    const r = veritree(['digest', '--json', '--hash-alg=sha512', path.join(dir, 'hello.txt'), path.join(dir, 'missing')]);
    expect(r.status).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.hashAlg).toBe('sha512');
    expect(doc.files).toHaveLength(1);
    expect(doc.files[0].digest).toMatch(/^sha512:[0-9a-f]{128}$/);
    expect(doc.errors).toEqual([expect.objectContaining({ code: 'not-found', path: path.join(dir, 'missing') })]);
    expect(doc.summary).toEqual({ files: 2, ok: 1, failed: 1, skipped: 0 });
  });

  it('writes the Merkle tree and descriptor atomically', () => {
    const big = path.join(dir, 'big.bin');
    fs.writeFileSync(big, Buffer.alloc(3 * 4096 + 5, 7));
    const tree = path.join(dir, 'out.merkle');
    const desc = path.join(dir, 'out.desc');
    const r = veritree(['digest', big, `--out-merkle-tree=${tree}`, `--out-descriptor=${desc}`]);
    expect(r.status).toBe(0);
    expect(fs.statSync(tree).size).toBe(4096);
    expect(fs.statSync(desc).size).toBe(256);
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });
});

describe('veritree digest bad input', () => {
  const cases: [string, string[], number, RegExp][] = [
    ['nonexistent path', ['missing.bin'], 1, /missing\.bin: no such file or directory/],
    ['directory', ['.'], 1, /: is a directory/],
    ['block size not a power of two', ['--block-size=3000', 'hello.txt'], 2, /block size 3000 is not a power of two/],
    ['block size out of range', ['--block-size=32', 'hello.txt'], 2, /block size 32 out of range/],
    ['block size not a number', ['--block-size=4k', 'hello.txt'], 2, /block-size: "4k" is not a non-negative integer/],
    ['salt too long', [`--salt=${'ab'.repeat(33)}`, 'hello.txt'], 2, /salt is 33 bytes; at most 32/],
    ['salt not hex', ['--salt=xyz1', 'hello.txt'], 2, /salt "xyz1" is not a hex string/],
    ['unknown algorithm', ['--hash-alg=md5', 'hello.txt'], 2, /unknown hash algorithm "md5"/],
    ['unknown backend', ['--backend=gpu', 'hello.txt'], 2, /unknown backend "gpu"/],
    ['unknown option', ['--frobnicate', 'hello.txt'], 2, /Unknown option '--frobnicate'/],
    ['no file', [], 2, /no FILE given/],
    ['tree output for several files', ['--out-merkle-tree=t', 'hello.txt', 'empty'], 2, /single FILE/],
  ];
  for (const [name, args, code, message] of cases) {
    it(`${name}: exit ${code} with one clear line`, () => {
      const r = veritree(['digest', ...args], { cwd: dir });
      expect(r.status).toBe(code);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    });
  }

  it('keeps digesting the other files and exits 1', () => {
    const r = veritree(['digest', 'hello.txt', 'missing', '.', 'empty'], { cwd: dir });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe(`sha256:${HELLO} hello.txt\nsha256:3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95 empty\n`);
    expect(r.stderr.trim().split('\n')).toHaveLength(2);
  });

  it('permission denied: names the file, others still digested', () => {
    const f = path.join(dir, 'secret');
    fs.writeFileSync(f, 'x', { mode: 0o000 });
    fs.chmodSync(dir, 0o755);
    // Root ignores mode bits, so run the CLI as an unprivileged user when we are root.
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const r = veritree(['digest', f, path.join(dir, 'hello.txt')], asNobody);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`veritree digest: ${f}: permission denied\n`);
    expect(r.stdout).toContain(HELLO);
  });

  it('a FIFO is refused at once instead of hanging', () => {
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const r = veritree(['digest', fifo, 'hello.txt'], { cwd: dir, timeout: 20_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/fifo: not a regular file \(fifo\)/);
    expect(r.stdout).toContain(HELLO);
  });

  it('unwritable output path: error names it, no partial file left', () => {
    const out = path.join(dir, 'no-such-dir', 'tree.bin');
    const r = veritree(['digest', `--out-merkle-tree=${out}`, path.join(dir, 'hello.txt')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${out}: cannot write: no such file or directory`);
    expect(fs.existsSync(path.dirname(out))).toBe(false);
  });
});

const FSVERITY = which('fsverity');
describe('side by side with fsverity digest', () => {
  skipAllUnless(FSVERITY ? undefined : 'fsverity (Debian package fsverity) is not installed');
  it('agrees on awkward sizes, algorithms, block sizes and salts', () => {
    const sizes = [0, 1, 63, 64, 65, 4095, 4096, 4097, 8191, 8193, 524287, 524288, 524289, 128 * 4096 + 1, 3 * 1024 * 1024 + 17];
    const files = sizes.map((s) => {
      const f = path.join(dir, `size-${s}.bin`);
      const buf = Buffer.alloc(s);
      for (let i = 0; i < s; i++) buf[i] = (i * 7 + (i >> 9)) & 0xff;
      fs.writeFileSync(f, buf);
      return f;
    });
    for (const opts of [[], ['--hash-alg=sha512'], ['--block-size=1024'], ['--block-size=65536', '--salt=00ff'], ['--hash-alg=sha512', '--block-size=2048', `--salt=${'11'.repeat(32)}`]]) {
      const theirs = execFileSync(FSVERITY!, ['digest', ...opts, ...files]).toString();
      const ours = veritree(['digest', ...opts, ...files]);
      expect(ours.status).toBe(0);
      expect(ours.stdout, opts.join(' ')).toBe(theirs);
    }
  });

  it('agrees on a file of 100 MiB + 1 byte, Merkle tree and descriptor included', () => {
    const f = path.join(dir, 'large.bin');
    const chunk = Buffer.alloc(1 << 20);
    const fd = fs.openSync(f, 'w');
    for (let i = 0; i < 100; i++) {
      for (let j = 0; j < chunk.length; j += 4) chunk.writeUInt32LE((i * 2654435761 + j * 40503) >>> 0, j);
      fs.writeSync(fd, chunk);
    }
    fs.writeSync(fd, Buffer.from([0x42]));
    fs.closeSync(fd);
    const theirs = execFileSync(FSVERITY!, ['digest', f, `--out-merkle-tree=${f}.t1`, `--out-descriptor=${f}.d1`]).toString();
    const ours = veritree(['digest', f, `--out-merkle-tree=${f}.t2`, `--out-descriptor=${f}.d2`]);
    expect(ours.stdout).toBe(theirs);
    expect(fs.readFileSync(`${f}.t2`).equals(fs.readFileSync(`${f}.t1`))).toBe(true);
    expect(fs.readFileSync(`${f}.d2`).equals(fs.readFileSync(`${f}.d1`))).toBe(true);
    fs.rmSync(f);
  });
});

if (!FSVERITY) console.warn('SKIPPED: differential tests against fsverity digest — `fsverity` is not installed (apt-get install fsverity)');

describe('veritree digest -r', () => {
  it('digests a tree like find -type f | xargs fsverity digest, skipping symlinks', () => {
    const tree = path.join(dir, 'tree');
    fs.mkdirSync(path.join(tree, 'a/b'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'a/b/x'), 'hello\n');
    fs.writeFileSync(path.join(tree, 'y'), '');
    fs.symlinkSync('/etc/passwd', path.join(tree, 'link'));
    const r = veritree(['digest', '-r', tree]);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n').sort()).toEqual(
      [`sha256:${HELLO} ${path.join(tree, 'a/b/x')}`, `sha256:3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95 ${path.join(tree, 'y')}`].sort(),
    );
    const j = JSON.parse(veritree(['digest', '-r', tree, '--json']).stdout);
    expect(j.skipped).toEqual([expect.objectContaining({ code: 'not-a-regular-file', path: path.join(tree, 'link') })]);
  });

  it('runs its pool when node itself was given V8 / per-process flags (workers reject those)', () => {
    const tree = path.join(dir, 'tree-node-flags');
    fs.mkdirSync(tree, { recursive: true });
    for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(tree, `f${i}`), 'hello\n');
    const r = spawnSync(process.execPath, ['--max-old-space-size=512', '--stack-trace-limit=20', CLI, 'digest', '-r', tree, '--threads', '2'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(5);
    expect(r.stdout).toContain(`sha256:${HELLO} ${path.join(tree, 'f0')}`);
  });

  it('a missing tree root: exit 1 naming it', () => {
    const r = veritree(['digest', '-r', path.join(dir, 'nope')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${path.join(dir, 'nope')}: no such file or directory`);
  });

  it('SIGINT stops cleanly with the partial output and exit 2', async () => {
    const tree = path.join(dir, 'many');
    for (let d = 0; d < 40; d++) {
      fs.mkdirSync(path.join(tree, String(d)), { recursive: true });
      for (let i = 0; i < 200; i++) fs.writeFileSync(path.join(tree, String(d), String(i)), Buffer.alloc(20_000, i));
    }
    const { spawn } = await import('node:child_process');
    const { CLI } = await import('./helpers/cli.js');
    const child = spawn(process.execPath, [CLI, 'digest', '--threads=1', '-r', tree], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!sent) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(code).toBe(2);
    expect(stderr).toContain('interrupted');
    const lines = stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThan(8000);
    expect(lines.every((l) => /^sha256:[0-9a-f]{64} /.test(l))).toBe(true);
  });
});
