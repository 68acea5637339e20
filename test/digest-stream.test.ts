/**
 * `veritree digest --files-from` as a streaming service for builders: names as bytes from a file or
 * standard input (newline- or NUL-separated), results in input or completion order, --ndjson lines
 * written as files finish, a bad file never stopping the stream, Merkle trees and descriptors in a
 * directory byte for byte as `fsverity digest` writes them, Ctrl-C, and a long list in bounded
 * memory. Plus the scheduler pieces under it (trees from the pool, the input-order window).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, veritree } from './helpers/cli.js';
import { which } from './helpers/fixtures.js';
import { skipAllUnless } from './helpers/skip.js';
import { digestFileSync } from '../src/merkle/file.js';
import { HashPool } from '../src/pool/pool.js';
import { digestFileBatches, type FileDigest } from '../src/pool/scheduler.js';
import { InlineRunner, type TaskRunner } from '../src/pool/runner.js';

const FSVERITY = which('fsverity');
const HELLO = '9c76eecc7b76fcb46199cb27b90cf59a660e10575bb0412128905129d5b1c2aa';
const EMPTY = '3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95';
const NEWLINE_NAME = Buffer.from('new\nline');
const NOT_UTF8 = Buffer.from([0x6e, 0x6f, 0x74, 0xff, 0xfe, 0x2d, 0x75, 0x74, 0x66, 0x38]); // "not\xff\xfe-utf8"

let dir: string;
/** Small files by name, in list order. */
const small: string[] = [];
const SIZES: Record<string, number> = {
  'tiny.bin': 100,
  'one-block.bin': 4096,
  'empty.bin': 0,
  'two-levels.bin': 600 * 1024, // 150 blocks: leaf level of 2 blocks under a root block
  'just-over-1m.bin': (1 << 20) + 1, // range-split with 2+ threads (one range)
  'ranges.bin': 9 * 1024 * 1024 + 123, // several ranges
};

function fill(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-stream-'));
  fs.writeFileSync(path.join(dir, 'hello.txt'), 'hello\n');
  fs.writeFileSync(path.join(dir, 'empty'), '');
  for (let i = 0; i < 40; i++) {
    const name = `s${i}.bin`;
    fs.writeFileSync(path.join(dir, name), fill(1 + i * 997, i + 1));
    small.push(name);
  }
  Object.entries(SIZES).forEach(([name, size], i) => fs.writeFileSync(path.join(dir, name), fill(size, 1000 + i)));
  fs.writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), NEWLINE_NAME]), 'named with a newline\n');
  fs.writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), NOT_UTF8]), 'named in no encoding\n');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The digest of the file named by these exact bytes in `dir` (a FileRef: names are bytes). */
function hexOfBytes(name: Buffer): string {
  return digestFileSync({ dirfd: -100 /* AT_FDCWD */, name: Buffer.concat([Buffer.from(`${dir}/`), name]), path: name.toString(), follow: true }).hex;
}

interface Line {
  path?: string;
  pathBytes?: string;
  digest?: string;
  size?: number;
  error?: { code: string; message: string; errno?: string };
  summary?: { files: number; ok: number; failed: number; interrupted?: boolean };
}
const parseLines = (stdout: string): Line[] => stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Line);

describe('--files-from', () => {
  it('reads the list from standard input, prints in list order like the operands would', () => {
    const names = ['hello.txt', ...small, 'empty', 'ranges.bin', 'hello.txt'];
    const r = veritree(['digest', '--files-from=-'], { input: names.join('\n') + '\n', cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const asOperands = veritree(['digest', ...names], { cwd: dir });
    expect(r.stdout).toBe(asOperands.stdout);
    expect(r.stdout.split('\n')[0]).toBe(`sha256:${HELLO} hello.txt`);
  });

  it('reads the list from a file; the last name needs no separator; blank lines are ignored', () => {
    const list = path.join(dir, 'list.txt');
    fs.writeFileSync(list, `hello.txt\n\nempty\n\n${small[3]}`);
    const r = veritree(['digest', `--files-from=${list}`, '--ndjson'], { cwd: dir });
    expect(r.status).toBe(0);
    const lines = parseLines(r.stdout);
    expect(lines.map((l) => l.path)).toEqual(['hello.txt', 'empty', small[3], undefined]);
    expect(lines[0]).toEqual({ path: 'hello.txt', digest: `sha256:${HELLO}`, size: 6 });
    expect(lines[1]).toEqual({ path: 'empty', digest: `sha256:${EMPTY}`, size: 0 });
    expect(lines[3]).toEqual({ summary: { files: 3, ok: 3, failed: 0 } });
  });

  it('-0: names with newlines and invalid UTF-8 are digested like any other, exact in --ndjson', () => {
    const list = Buffer.concat([Buffer.from('hello.txt\0'), NEWLINE_NAME, Buffer.from('\0'), NOT_UTF8, Buffer.from('\0')]);
    const r = veritree(['digest', '--files-from=-', '-0', '--ndjson'], { input: list, cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = parseLines(r.stdout);
    expect(lines).toHaveLength(4);
    expect(lines[1]).toEqual({ path: 'new\nline', digest: `sha256:${hexOfBytes(NEWLINE_NAME)}`, size: 21 });
    expect(lines[2]!.pathBytes).toBe(NOT_UTF8.toString('base64'));
    expect(Buffer.from(lines[2]!.pathBytes!, 'base64').equals(NOT_UTF8)).toBe(true);
    expect(lines[2]!.digest).toBe(`sha256:${hexOfBytes(NOT_UTF8)}`);
    expect(lines[3]!.summary).toEqual({ files: 3, ok: 3, failed: 0 });
  });

  it('-0 text output: a newline in a name is escaped as sha256sum does, other bytes written as they are', () => {
    const list = Buffer.concat([NEWLINE_NAME, Buffer.from('\0'), NOT_UTF8]);
    const r = veritree(['digest', '--files-from=-', '-0'], { input: list, cwd: dir });
    expect(r.status).toBe(0);
    const expected = Buffer.concat([
      Buffer.from(`\\sha256:${hexOfBytes(NEWLINE_NAME)} new\\nline\n`),
      Buffer.from(`sha256:${hexOfBytes(NOT_UTF8)} `),
      NOT_UTF8,
      Buffer.from('\n'),
    ]);
    expect(r.stdoutBytes.equals(expected)).toBe(true);
  });

  it('without -0 a name with a NUL byte is an error line (no file can have it), the rest go on', () => {
    const r = veritree(['digest', '--files-from=-', '--ndjson'], { input: Buffer.from('hello.txt\0junk\nempty\n'), cwd: dir });
    expect(r.status).toBe(1);
    const lines = parseLines(r.stdout);
    expect(lines[0]!.error?.code).toBe('not-found');
    expect(lines[0]!.error?.message).toMatch(/NUL byte.*-0/);
    expect(lines[1]!.digest).toBe(`sha256:${EMPTY}`);
  });

  it('a name of PATH_MAX bytes or more is an error line; memory for it stays bounded', () => {
    const long = 'x/'.repeat(40_000);
    const r = veritree(['digest', '--files-from=-', '--ndjson'], { input: `${long}\nhello.txt\n`, cwd: dir });
    expect(r.status).toBe(1);
    const lines = parseLines(r.stdout);
    expect(lines[0]!.error).toEqual(expect.objectContaining({ code: 'not-found', errno: 'ENAMETOOLONG' }));
    expect(lines[0]!.path!.length).toBe(4096);
    expect(lines[1]!.digest).toBe(`sha256:${HELLO}`);
  });

  it('a missing file in the middle is an error line in its place; the rest continue; exit 1', () => {
    const names = [...small.slice(0, 10), 'missing.bin', ...small.slice(10)];
    const r = veritree(['digest', '--files-from=-', '--ndjson'], { input: names.join('\n'), cwd: dir });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('');
    const lines = parseLines(r.stdout);
    expect(lines).toHaveLength(names.length + 1);
    expect(lines.slice(0, -1).map((l) => l.path)).toEqual(names);
    expect(lines[10]).toEqual({ path: 'missing.bin', error: { code: 'not-found', message: 'no such file or directory', errno: 'ENOENT' } });
    for (const [i, l] of lines.slice(0, -1).entries()) {
      if (i === 10) continue;
      expect(l.digest, l.path).toBe(`sha256:${digestFileSync(path.join(dir, l.path!)).hex}`);
      expect(l.size).toBe(fs.statSync(path.join(dir, l.path!)).size);
    }
    expect(lines.at(-1)).toEqual({ summary: { files: names.length, ok: names.length - 1, failed: 1 } });
    // Text mode: the error goes to stderr, one line, in its place among the others.
    const t = veritree(['digest', '--files-from=-'], { input: names.join('\n'), cwd: dir });
    expect(t.status).toBe(1);
    expect(t.stderr).toBe('veritree digest: missing.bin: no such file or directory\n');
    expect(t.stdout.trimEnd().split('\n')).toHaveLength(names.length - 1);
  });

  it('both orders give the same results; input order holds a slow large file first in its place', () => {
    const names = ['ranges.bin', ...small, 'two-levels.bin', ...small];
    const input = veritree(['digest', '--files-from=-', '--ndjson', '--threads=2'], { input: names.join('\n'), cwd: dir });
    const completion = veritree(['digest', '--files-from=-', '--ndjson', '--order=completion', '--threads=2'], { input: names.join('\n'), cwd: dir });
    expect(input.status).toBe(0);
    expect(completion.status).toBe(0);
    const a = parseLines(input.stdout);
    const b = parseLines(completion.stdout);
    expect(a.slice(0, -1).map((l) => l.path)).toEqual(names);
    const key = (l: Line) => `${l.path} ${l.digest} ${l.size}`;
    expect(b.slice(0, -1).map(key).sort()).toEqual(a.slice(0, -1).map(key).sort());
    expect(b.at(-1)).toEqual(a.at(-1));
    // And the text lines, in both orders.
    const t = veritree(['digest', '--files-from=-', '--order=completion'], { input: names.join('\n'), cwd: dir });
    expect(t.stdout.trimEnd().split('\n').sort()).toEqual(veritree(['digest', ...names], { cwd: dir }).stdout.trimEnd().split('\n').sort());
  });

  it('prints each result while the list is still open (no waiting for a full batch)', async () => {
    const child = spawn(process.execPath, [CLI, 'digest', '--files-from=-', '--ndjson', '--threads=2'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let onLine = () => {};
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      onLine();
    });
    /** Resolves once `n` whole lines are out. */
    const got = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only got: ${out}`)), 20_000);
        onLine = () => {
          if (out.split('\n').length > n) {
            clearTimeout(timer);
            resolve();
          }
        };
        onLine();
      });
    child.stdin.write('hello.txt\nempty\n');
    await got(2);
    expect(parseLines(out).map((l) => l.path)).toEqual(['hello.txt', 'empty']);
    child.stdin.write(`${small[0]}\n`);
    await got(3);
    child.stdin.end();
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(parseLines(out).at(-1)).toEqual({ summary: { files: 3, ok: 3, failed: 0 } });
  });

  it('Ctrl-C stops reading (even mid-wait on stdin), prints what finished, marks the summary, exits 2', async () => {
    const child = spawn(process.execPath, [CLI, 'digest', '--files-from=-', '--ndjson'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!sent && out.includes('\n')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin.write(small.map((s) => `${s}\n`).join('')); // and the list is never closed
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(2);
    expect(err).toContain('interrupted');
    const lines = parseLines(out);
    const summary = lines.at(-1)!.summary!;
    expect(summary.interrupted).toBe(true);
    expect(summary.files).toBe(lines.length - 1);
    expect(lines.slice(0, -1).every((l) => /^sha256:[0-9a-f]{64}$/.test(l.digest ?? ''))).toBe(true);
  });

  it('usage and operational failures exit 2 with one line', () => {
    const cases: [string[], RegExp][] = [
      [['-0', 'hello.txt'], /-0\/--null.*--files-from/],
      [['--files-from=-', 'hello.txt'], /no FILE operands or -r/],
      [['--files-from=-', '--order=random'], /--order must be input or completion/],
      [['--files-from=-', '--json'], /use --ndjson/],
      [['--files-from=-', '--ndjson', '--compact'], /--compact/],
      [['--files-from=-', '--out-merkle-tree=t'], /--out-merkle-tree-dir/],
      [['--ndjson', '-'], /--files-from=-/],
      [['--files-from=no-such-list'], /no-such-list: no such file or directory/],
      [['--files-from=.'], /\.: is a directory/],
      [['--files-from=-', '--out-merkle-tree-dir=hello.txt'], /hello\.txt/],
    ];
    for (const [args, message] of cases) {
      const r = veritree(['digest', ...args], { cwd: dir, input: 'hello.txt\n' });
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stdout, args.join(' ')).toBe('');
    }
  });

  it('--help documents the streaming options', () => {
    const r = veritree(['digest', '--help']);
    for (const opt of ['--files-from=LIST', '-0, --null', '--order=ORDER', '--ndjson', '--out-merkle-tree-dir=DIR']) expect(r.stdout).toContain(opt);
  });

  it('--ndjson and --out-merkle-tree-dir work with FILE operands and -r too', () => {
    const r = veritree(['digest', '--ndjson', 'hello.txt', 'missing', 'empty'], { cwd: dir });
    expect(r.status).toBe(1);
    expect(parseLines(r.stdout).map((l) => l.path ?? 'summary')).toEqual(['hello.txt', 'missing', 'empty', 'summary']);
    const tree = path.join(dir, 'tree');
    fs.mkdirSync(path.join(tree, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'sub', 'x'), 'hello\n');
    fs.symlinkSync('/etc/passwd', path.join(tree, 'link'));
    const out = path.join(dir, 'tree-merkle');
    const t = veritree(['digest', '-r', tree, '--ndjson', `--out-merkle-tree-dir=${out}`]);
    expect(t.status).toBe(0);
    const lines = parseLines(t.stdout);
    expect(lines).toContainEqual({ path: path.join(tree, 'sub', 'x'), digest: `sha256:${HELLO}`, size: 6 });
    expect(lines).toContainEqual(expect.objectContaining({ path: path.join(tree, 'link'), skipped: expect.objectContaining({ code: 'not-a-regular-file' }) }));
    expect(lines.at(-1)).toEqual({ summary: { files: 1, ok: 1, failed: 0, skipped: 1 } });
    expect(fs.readdirSync(out).sort()).toEqual([`${HELLO}.desc`, `${HELLO}.merkle`]);
  });
});

describe('--out-merkle-tree-dir', () => {
  skipAllUnless(FSVERITY ? undefined : 'fsverity (Debian package fsverity) is not installed');
  const names = Object.keys(SIZES);

  /** fsverity's own tree and descriptor of each file, by hex digest. */
  function theirs(opts: string[]): Map<string, { tree: Buffer; desc: Buffer }> {
    const m = new Map<string, { tree: Buffer; desc: Buffer }>();
    for (const name of names) {
      const t = path.join(dir, `${name}.fsverity-tree`);
      const d = path.join(dir, `${name}.fsverity-desc`);
      const hex = execFileSync(FSVERITY!, ['digest', '--compact', ...opts, path.join(dir, name), `--out-merkle-tree=${t}`, `--out-descriptor=${d}`]).toString().trim();
      m.set(hex, { tree: fs.readFileSync(t), desc: fs.readFileSync(d) });
      fs.rmSync(t);
      fs.rmSync(d);
    }
    return m;
  }

  for (const [label, opts] of [
    ['sha256, 4 KiB blocks', []],
    ['sha512, 1 KiB blocks, salted', ['--hash-alg=sha512', '--block-size=1024', '--salt=0011aabb']],
  ] as [string, string[]][]) {
    for (const threads of [1, 2]) {
      it(`equals fsverity digest --out-merkle-tree/--out-descriptor byte for byte (${label}, ${threads} thread${threads > 1 ? 's' : ''})`, () => {
        const expected = theirs(opts);
        const out = path.join(dir, `merkle-${label.replace(/\W+/g, '-')}-${threads}`);
        // Small, one-block, empty, two levels, and >1 MiB (range-split across the pool with 2 threads).
        const r = veritree(['digest', '--files-from=-', '--ndjson', `--out-merkle-tree-dir=${out}`, `--threads=${threads}`, ...opts], { input: names.join('\n'), cwd: dir });
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        const lines = parseLines(r.stdout).slice(0, -1);
        expect(lines.map((l) => l.path)).toEqual(names);
        const files = fs.readdirSync(out).sort();
        expect(files).toEqual([...expected.keys()].flatMap((h) => [`${h}.desc`, `${h}.merkle`]).sort());
        for (const l of lines) {
          const hex = l.digest!.split(':')[1]!;
          const want = expected.get(hex);
          expect(want, l.path).toBeDefined();
          expect(fs.readFileSync(path.join(out, `${hex}.merkle`)).equals(want!.tree), `${l.path} tree`).toBe(true);
          expect(fs.readFileSync(path.join(out, `${hex}.desc`)).equals(want!.desc), `${l.path} descriptor`).toBe(true);
        }
        // The trees of the sizes asked for are really there: empty ones for 0 and 1 block, more above.
        const sizeOfTree = (name: string) => fs.statSync(path.join(out, `${lines[names.indexOf(name)]!.digest!.split(':')[1]}.merkle`)).size;
        const B = opts.length ? 1024 : 4096;
        expect(sizeOfTree('empty.bin')).toBe(0);
        expect(sizeOfTree('tiny.bin')).toBe(0);
        if (B === 4096) expect(sizeOfTree('one-block.bin')).toBe(0);
        expect(sizeOfTree('two-levels.bin')).toBeGreaterThan(B); // more than a root block
        expect(sizeOfTree('ranges.bin')).toBeGreaterThan(sizeOfTree('two-levels.bin'));
      });
    }
  }

  it('skips files already there (same inode, same mtime), writes only what is missing, leaves no temp file', () => {
    const out = path.join(dir, 'merkle-again');
    const r1 = veritree(['digest', '--files-from=-', `--out-merkle-tree-dir=${out}`], { input: 'hello.txt\ntwo-levels.bin\n', cwd: dir });
    expect(r1.status).toBe(0);
    const before = new Map(fs.readdirSync(out).map((f) => [f, fs.statSync(path.join(out, f))]));
    expect(before.size).toBe(4);
    const gone = [...before.keys()].find((f) => f.endsWith('.merkle') && f.startsWith(HELLO))!;
    fs.rmSync(path.join(out, gone));
    const r2 = veritree(['digest', '--files-from=-', `--out-merkle-tree-dir=${out}`], { input: 'hello.txt\ntwo-levels.bin\nhello.txt\n', cwd: dir });
    expect(r2.status).toBe(0);
    for (const [f, st] of before) {
      const now = fs.statSync(path.join(out, f));
      if (f === gone) expect(now.size).toBe(0);
      else {
        expect(now.ino, f).toBe(st.ino);
        expect(now.mtimeMs, f).toBe(st.mtimeMs);
      }
    }
    expect(fs.readdirSync(out).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('a file whose tree cannot be written is an error line; exit 1', () => {
    const out = path.join(dir, 'merkle-blocked');
    fs.mkdirSync(out);
    // A directory where the tree file should go: the rename onto it fails.
    fs.mkdirSync(path.join(out, `${HELLO}.merkle`));
    const r = veritree(['digest', '--files-from=-', '--ndjson', `--out-merkle-tree-dir=${out}`], { input: 'hello.txt\nempty\n', cwd: dir });
    expect(r.status).toBe(1);
    const lines = parseLines(r.stdout);
    expect(lines[0]!.path).toBe('hello.txt');
    expect(lines[0]!.error?.message).toContain(`${HELLO}.merkle`);
    expect(lines[1]!.digest).toBe(`sha256:${EMPTY}`);
    expect(lines[2]!.summary).toEqual({ files: 2, ok: 1, failed: 1 });
  });
});

describe('a long list in bounded memory', () => {
  it('20,000 names: every line in order, peak RSS under 200 MB', () => {
    const n = 20_000;
    const names = Array.from({ length: n }, (_, i) => small[i % small.length]!);
    const list = path.join(dir, 'long-list');
    fs.writeFileSync(list, names.join('\n') + '\n');
    // Reports the CLI's own peak RSS (VmHWM) when its main thread exits.
    const hwmFile = path.join(dir, 'hwm.txt');
    const preload = path.join(dir, 'hwm.cjs');
    fs.writeFileSync(
      preload,
      `const { isMainThread } = require('node:worker_threads');
if (isMainThread) process.on('exit', () => {
  const m = /VmHWM:\\s+(\\d+) kB/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'));
  require('node:fs').writeFileSync(${JSON.stringify(hwmFile)}, m ? m[1] : 'none');
});\n`,
    );
    const r = spawnSync(process.execPath, ['-r', preload, CLI, 'digest', `--files-from=${list}`, '--ndjson', '--threads=2'], { cwd: dir, maxBuffer: 64 << 20, timeout: 120_000 });
    expect(r.stderr.toString()).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.toString().trimEnd().split('\n');
    expect(lines).toHaveLength(n + 1);
    const want = new Map(small.map((s) => [s, `sha256:${digestFileSync(path.join(dir, s)).hex}`]));
    for (let i = 0; i < n; i += 997) {
      const l = JSON.parse(lines[i]!) as Line;
      expect(l.path).toBe(names[i]);
      expect(l.digest).toBe(want.get(names[i]!));
    }
    expect(JSON.parse(lines[n]!)).toEqual({ summary: { files: n, ok: n, failed: 0 } });
    const hwmKb = Number(fs.readFileSync(hwmFile, 'utf8'));
    expect(hwmKb).toBeGreaterThan(0);
    expect(hwmKb / 1024).toBeLessThan(200);
  });
});

describe('the scheduler under it', () => {
  const runners: [string, () => TaskRunner][] = [
    ['pool of 2', () => new HashPool(2)],
    ['inline', () => new InlineRunner()],
  ];
  for (const [label, make] of runners) {
    it(`returns each file's Merkle tree and descriptor as the single-threaded engine builds them (${label})`, async () => {
      const pool = make();
      try {
        const files = [...Object.keys(SIZES), ...small.slice(0, 5)].map((n) => path.join(dir, n));
        const seen = new Set<number>();
        for await (const batch of digestFileBatches(files, { pool, merkleTree: true, filesPerTask: 3 })) {
          for (const r of batch) {
            expect(r.ok).toBe(true);
            if (!r.ok) continue;
            seen.add(r.index);
            const ref = digestFileSync(files[r.index]!, { merkleTree: true });
            expect(r.hex).toBe(ref.hex);
            expect(Buffer.from(r.merkleTree!).equals(Buffer.from(ref.merkleTree ?? new Uint8Array(0))), r.path).toBe(true);
            expect(Buffer.from(r.descriptor!).equals(Buffer.from(ref.descriptor)), r.path).toBe(true);
          }
        }
        expect(seen.size).toBe(files.length);
      } finally {
        await pool.destroy();
      }
    });
  }

  it('maxAhead: never takes a path more than N past the earliest result not yet out', async () => {
    const pool = new HashPool(2);
    try {
      const big = path.join(dir, 'ranges.bin');
      const smallPaths = small.map((s) => path.join(dir, s));
      const maxAhead = 200;
      let taken = 0;
      let bigDone = false;
      let takenBeforeBig = 0;
      async function* source(): AsyncGenerator<string> {
        for (let i = 0; i < 1500; i++) {
          taken++;
          yield i === 0 ? big : smallPaths[i % smallPaths.length]!;
        }
      }
      const results: FileDigest[] = [];
      for await (const batch of digestFileBatches(source(), { pool, maxAhead, filesPerTask: 16 })) {
        for (const r of batch) {
          if (r.index === 0) {
            bigDone = true;
            takenBeforeBig = taken;
          }
          results.push(r);
        }
      }
      expect(bigDone).toBe(true);
      expect(takenBeforeBig).toBeLessThanOrEqual(maxAhead + 1);
      expect(results).toHaveLength(1500);
      expect(new Set(results.map((r) => r.index)).size).toBe(1500);
    } finally {
      await pool.destroy();
    }
  });
});
