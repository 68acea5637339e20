/**
 * `veritree verify-cas`, run as a user would (the built CLI): the mkcomposefs 1.0.8 digest store
 * from the fixtures checks clean; every kind of damage is reported by its code; the store is left
 * untouched unless --quarantine is given, and then only corrupt objects move, by rename; composefs-rs
 * repositories (sha512, meta.json) are understood; stores that cannot be checked exit 2; Ctrl-C
 * gives a partial report.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshot } from './helpers/snapshot.js';
import { CLI, veritree } from './helpers/cli.js';
import { digestFileSync, type HashPool } from '../src/index.js';
import { verifyCas } from '../src/cas/check.js';
import type { Finding } from '../src/cas/findings.js';
import type { CasSummary } from '../src/cas/check.js';
import { createReporter } from '../src/cas/report.js';
import { PassThrough } from 'node:stream';
import { fixture } from './helpers/fixtures.js';

const FIXTURE_TAR = fixture('objects.tar');

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-cas-'));
  // Readable by the unprivileged user the permission test runs the CLI as.
  fs.chmodSync(tmp, 0o755);
});
afterAll(() => {
  // Undo chmod 000 so the cleanup can remove everything.
  execFileSync('chmod', ['-R', 'u+rwx', tmp]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A fresh copy of the fixture store; returns its objects/ directory (a composefs digest store). */
function extractFixture(name: string): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { mode: 0o755 });
  execFileSync('tar', ['-xf', FIXTURE_TAR, '-C', dir]);
  return path.join(dir, 'objects');
}

function objectFiles(store: string): string[] {
  return fs
    .readdirSync(store)
    .filter((d) => /^[0-9a-f]{2}$/.test(d))
    .sort()
    .flatMap((d) => fs.readdirSync(path.join(store, d)).sort().map((f) => `${d}/${f}`));
}


function flipByte(file: string, at: number): void {
  const b = fs.readFileSync(file);
  b[at] = b[at]! ^ 0x01;
  fs.writeFileSync(file, b);
}

interface Damage {
  store: string;
  corrupted: string;
  renamed: string;
}

/** The fixture store with one of each kind of damage. */
function damagedStore(name: string): Damage {
  const store = extractFixture(name);
  const objs = objectFiles(store);
  const corrupted = objs[3]!;
  flipByte(path.join(store, corrupted), 10);
  const renameFrom = objs[5]!;
  const renamed = renameFrom.slice(0, 3) + renameFrom.slice(3).toUpperCase();
  fs.renameSync(path.join(store, renameFrom), path.join(store, renamed));
  const [d0, d1, d2, d3] = objs.map((o) => o.slice(0, 2));
  fs.symlinkSync(`../${objs[0]}`, path.join(store, d1!, 'a'.repeat(62)));
  execFileSync('mkfifo', [path.join(store, d2!, 'b'.repeat(62))]);
  fs.mkdirSync(path.join(store, d3!, 'c'.repeat(62)));
  fs.writeFileSync(path.join(store, '.tmpK3x9Qz'), 'half-written');
  fs.writeFileSync(path.join(store, d0!, `${'d'.repeat(62)}.tmp`), 'x');
  fs.writeFileSync(path.join(store, 'NOTES.txt'), 'not an object');
  return { store, corrupted, renamed };
}

describe('verify-cas on the mkcomposefs 1.0.8 digest store', () => {
  it('checks the clean store: exit 0, objects: 17/17 ok, nothing on stderr', () => {
    const store = extractFixture('clean');
    const r = veritree(['verify-cas', store]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('objects: 17/17 ok\n');
    expect(r.status).toBe(0);
    const j = JSON.parse(veritree(['verify-cas', '--json', store]).stdout);
    expect(j).toMatchObject({ ok: true, interrupted: false, findings: [] });
    expect(j.summary).toMatchObject({ layout: 'composefs', hashAlg: 'sha256', blockSize: 4096, objectsChecked: 17, objectsOk: 17, objectsCorrupted: 0, problems: 0 });
    // The directory holding objects/ reads as an (old-format, no meta.json) composefs-rs repository.
    const parent = veritree(['verify-cas', '--json', path.dirname(store)]);
    expect(parent.status).toBe(0);
    expect(JSON.parse(parent.stdout).summary).toMatchObject({ layout: 'composefs-rs', hashAlg: 'sha256', algorithmSource: 'object-names', objectsOk: 17 });
  });

  it('reports every kind of damage by code, exit 1, and changes nothing in the store', () => {
    const { store, corrupted, renamed } = damagedStore('damaged');
    const before = snapshot(store);
    const r = veritree(['verify-cas', store]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    // 17 files (one corrupt, one misnamed) + symlink + fifo + directory where objects belong.
    expect(lines[0]).toBe('objects: 15/20 ok');
    const codes = new Map(lines.slice(1).map((l) => [l.slice(l.indexOf(' ') + 1, l.indexOf(': ')), l.slice(0, l.indexOf(' '))]));
    expect(codes.get(corrupted)).toBe('object-digest-mismatch');
    expect(codes.get(renamed)).toBe('object-invalid-name');
    const byCode = [...codes.values()].sort();
    expect(byCode).toEqual(
      ['object-digest-mismatch', 'object-invalid-name', 'stray-temp-file', 'stray-temp-file', 'unexpected-entry', 'unexpected-file-type', 'unexpected-file-type', 'unexpected-symlink'].sort(),
    );
    for (const l of lines.slice(1)) expect(l).toMatch(/^[a-z]+(-[a-z]+)* \S+: .+$/);
    expect(r.stdout).toContain('.tmpK3x9Qz: ');
    expect(r.stdout).toMatch(/unexpected-file-type \S+: fifo/);
    expect(r.stdout).toMatch(/unexpected-file-type \S+: directory/);
    // A read-only check: same names, modes, sizes, mtimes, inodes and contents afterwards.
    expect(snapshot(store)).toEqual(before);
  });

  it('--json: one document with summary counts and findings in cfsctl shape', () => {
    const { store, corrupted } = damagedStore('damaged-json');
    const r = veritree(['verify-cas', '--json', store]);
    expect(r.status).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.ok).toBe(false);
    expect(j.summary).toMatchObject({ objectsChecked: 20, objectsOk: 15, objectsCorrupted: 5, problems: 8 });
    expect(j.summary.byCode).toMatchObject({ 'object-digest-mismatch': 1, 'unexpected-file-type': 2, 'stray-temp-file': 2 });
    expect(j.findings).toHaveLength(8);
    const paths = j.findings.map((f: { path: string }) => f.path);
    expect(paths).toEqual([...paths].sort());
    for (const f of j.findings) {
      expect(f.type).toBe(f.code);
      expect(typeof f.path).toBe('string');
      expect(typeof f.detail).toBe('string');
    }
    const m = j.findings.find((f: { code: string }) => f.code === 'object-digest-mismatch');
    const actual = digestFileSync(path.join(store, corrupted)).hex;
    expect(m).toMatchObject({ path: corrupted, hashAlg: 'sha256', expected: corrupted.replace('/', ''), actual, measured: actual });
    expect(m.quarantinedTo).toBeUndefined();
  });

  it('--ndjson: a start event, one finding per line, a summary last', () => {
    const { store } = damagedStore('damaged-ndjson');
    const r = veritree(['verify-cas', '--ndjson', store]);
    expect(r.status).toBe(1);
    const events = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(events[0]).toMatchObject({ event: 'start', layout: 'composefs', hashAlg: 'sha256' });
    const last = events.at(-1);
    expect(last).toMatchObject({ event: 'summary', ok: false, interrupted: false, objectsChecked: 20, objectsOk: 15, problems: 8 });
    const findings = events.slice(1, -1);
    expect(findings).toHaveLength(8);
    for (const f of findings) expect(f).toMatchObject({ event: 'finding', type: f.code });
  });

  it('reports unreadable objects and directories (run unprivileged: root reads everything)', (ctx) => {
    const store = extractFixture('unreadable');
    const objs = objectFiles(store);
    const unreadableFile = objs[0]!;
    const unreadableDir = objs.find((o) => !o.startsWith(unreadableFile.slice(0, 2)))!.slice(0, 2);
    fs.chmodSync(path.join(store, unreadableFile), 0o000);
    fs.chmodSync(path.join(store, unreadableDir), 0o000);
    const asRoot = process.getuid?.() === 0;
    const r = veritree(['verify-cas', '--json', store], asRoot ? { uid: 65534, gid: 65534 } : {});
    if (asRoot && r.status === null) ctx.skip('running the CLI as uid 65534 was refused in this sandbox');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.findings).toHaveLength(2);
    expect(j.findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ code: 'object-open-failed', path: unreadableFile, errno: 'EACCES' }),
        expect.objectContaining({ code: 'directory-open-failed', path: unreadableDir, errno: 'EACCES' }),
      ]),
    );
    // The unreadable file counts as checked and not ok; the unreadable directory's are not seen.
    expect(j.summary.objectsOk).toBe(j.summary.objectsChecked - 1);
  });
});

describe('verify-cas --quarantine', () => {
  it('moves only the corrupt object aside by rename, records where, never overwrites', () => {
    const { store, corrupted } = damagedStore('quarantine');
    const qdir = path.join(tmp, 'quarantine-dir');
    const before = snapshot(store).filter((l) => !l.startsWith(`${corrupted} `));
    const ino = fs.lstatSync(path.join(store, corrupted)).ino;
    const r = veritree(['verify-cas', '--json', '--quarantine', qdir, store]);
    expect(r.status).toBe(1);
    const m = JSON.parse(r.stdout).findings.find((f: { code: string }) => f.code === 'object-digest-mismatch');
    expect(m.quarantinedTo).toBe(path.join(qdir, corrupted));
    expect(JSON.parse(r.stdout).summary.quarantined).toBe(1);
    expect(fs.existsSync(path.join(store, corrupted))).toBe(false);
    // Same inode: renamed, not copied.
    expect(fs.lstatSync(m.quarantinedTo).ino).toBe(ino);
    // Everything else as it was; the fan-out directory keeps its other entries (mtime of the
    // directory itself changes with the rename, so compare entries below it).
    const after = snapshot(store);
    const dirOf = `${corrupted.slice(0, 2)} `;
    expect(after.filter((l) => !l.startsWith(dirOf))).toEqual(before.filter((l) => !l.startsWith(dirOf)));

    // The same corrupt name again: a suffix, the first quarantined copy untouched.
    const fresh = extractFixture('quarantine-again');
    flipByte(path.join(fresh, corrupted), 20);
    const r2 = veritree(['verify-cas', '--ndjson', '--quarantine', qdir, fresh]);
    const m2 = r2.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.code === 'object-digest-mismatch');
    expect(m2.quarantinedTo).toBe(`${path.join(qdir, corrupted)}.1`);
    expect(fs.lstatSync(m.quarantinedTo).ino).toBe(ino);
    expect(veritree(['verify-cas', fresh]).stdout).toBe('objects: 16/16 ok\n');
  });

  it('refuses a quarantine directory inside the objects', () => {
    const store = extractFixture('quarantine-inside');
    const r = veritree(['verify-cas', '--quarantine', path.join(store, 'q'), store]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/must not be inside/);
    expect(fs.existsSync(path.join(store, 'q'))).toBe(false);
  });

  it('on another filesystem (EXDEV): quarantine-failed, the object stays, nothing is copied', (ctx) => {
    const other = ['/dev/shm', '/run'].find((d) => fs.existsSync(d) && fs.statSync(d).dev !== fs.statSync(tmp).dev && isWritable(d));
    if (!other) {
      ctx.skip('no writable directory on another filesystem (/dev/shm, /run)');
    }
    const store = extractFixture('exdev');
    const victim = objectFiles(store)[2]!;
    flipByte(path.join(store, victim), 0);
    const qdir = fs.mkdtempSync(path.join(other, 'veritree-q-'));
    try {
      const r = veritree(['verify-cas', '--json', '--quarantine', qdir, store]);
      expect(r.status).toBe(1);
      const j = JSON.parse(r.stdout);
      expect(j.findings.map((f: { code: string }) => f.code).sort()).toEqual(['object-digest-mismatch', 'quarantine-failed']);
      expect(j.findings.find((f: { code: string }) => f.code === 'quarantine-failed')).toMatchObject({ path: victim, errno: 'EXDEV' });
      expect(fs.existsSync(path.join(store, victim))).toBe(true);
      expect(fs.readdirSync(qdir)).toEqual([]);
    } finally {
      fs.rmSync(qdir, { recursive: true, force: true });
    }
  });
});

function isWritable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

describe('verify-cas on composefs-rs repositories', () => {
  /** A small repository named by veritree's own sha512 fs-verity digests. */
  function makeRepo(name: string, withMeta: boolean): { repo: string; objects: string[] } {
    const repo = path.join(tmp, name);
    fs.mkdirSync(path.join(repo, 'objects'), { recursive: true });
    if (withMeta)
      fs.writeFileSync(path.join(repo, 'meta.json'), `${JSON.stringify({ version: 1, algorithm: 'fsverity-sha512-12', features: { compatible: [], 'read-only-compatible': [], incompatible: [] } }, null, 2)}\n`);
    const objects: string[] = [];
    [1, 100, 4096, 4097, 70_000].forEach((size, i) => {
      const staging = path.join(tmp, `${name}-staging-${i}`);
      fs.writeFileSync(staging, Buffer.alloc(size, i + 1));
      const hex = digestFileSync(staging, { hashAlg: 'sha512' }).hex;
      const rel = `objects/${hex.slice(0, 2)}/${hex.slice(2)}`;
      fs.mkdirSync(path.join(repo, path.dirname(rel)), { recursive: true });
      fs.renameSync(staging, path.join(repo, rel));
      objects.push(rel);
    });
    // streams/: a stream linked into objects/ and a ref to it, as composefs-rs lays them out (the
    // repository check, test/repository.test.ts, covers images/ and every broken or wrong link).
    fs.mkdirSync(path.join(repo, 'streams/refs'), { recursive: true });
    fs.mkdirSync(path.join(repo, 'images/refs'), { recursive: true });
    const stream = `oci-layer-sha256:${'1'.repeat(64)}`;
    fs.symlinkSync(`../${objects[0]}`, path.join(repo, 'streams', stream));
    fs.symlinkSync(`../${stream}`, path.join(repo, 'streams/refs/layer'));
    return { repo, objects };
  }

  it('checks sha512 objects per meta.json, and the streams/ links', () => {
    const { repo } = makeRepo('rs-meta', true);
    const r = veritree(['verify-cas', repo]);
    expect(r.stdout).toBe('objects: 5/5 ok\nimages: 0/0 ok (0/0 files), streams: 1/1 ok, refs: 1/1 ok\n');
    expect(r.status).toBe(0);
    const j = JSON.parse(veritree(['verify-cas', '--json', repo]).stdout);
    expect(j.summary).toMatchObject({ layout: 'composefs-rs', hashAlg: 'sha512', blockSize: 4096, algorithmSource: 'meta.json' });
  });

  it('infers sha512 from object names without meta.json; finds damage under objects/', () => {
    const { repo, objects } = makeRepo('rs-nometa', false);
    expect(JSON.parse(veritree(['verify-cas', '--json', repo]).stdout).summary).toMatchObject({ hashAlg: 'sha512', algorithmSource: 'object-names', objectsOk: 5 });
    flipByte(path.join(repo, objects[4]!), 5000);
    // A sha256-length name in a sha512 repository is not a valid name.
    const short = `${path.dirname(objects[0]!)}/${'e'.repeat(62)}`;
    fs.writeFileSync(path.join(repo, short), 'x');
    fs.writeFileSync(path.join(repo, 'stray'), '');
    const r = veritree(['verify-cas', '--json', repo]);
    expect(r.status).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.findings.map((f: { code: string; path: string }) => `${f.code} ${f.path}`)).toEqual(
      [`object-invalid-name ${short}`, `object-digest-mismatch ${objects[4]}`, 'unexpected-entry stray'].sort((a, b) => (a.split(' ')[1]! < b.split(' ')[1]! ? -1 : 1)),
    );
    const m = j.findings.find((f: { code: string }) => f.code === 'object-digest-mismatch');
    expect(m.hashAlg).toBe('sha512');
    expect(m.expected).toHaveLength(128);
  });

  it('honours --layout and reports a malformed meta.json; refuses a newer repository format', () => {
    const { repo } = makeRepo('rs-badmeta', true);
    fs.writeFileSync(path.join(repo, 'meta.json'), '{ not json');
    const r = veritree(['verify-cas', '--json', repo]);
    expect(r.status).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.findings).toEqual([expect.objectContaining({ code: 'metadata-parse-failed', path: 'meta.json' })]);
    expect(j.summary).toMatchObject({ hashAlg: 'sha512', algorithmSource: 'object-names', objectsOk: 5 });

    fs.writeFileSync(path.join(repo, 'meta.json'), JSON.stringify({ version: 2, algorithm: 'fsverity-sha512-12' }));
    const newer = veritree(['verify-cas', repo]);
    expect(newer.status).toBe(2);
    expect(newer.stderr).toMatch(/format version 2/);

    // Forced to the C layout, the repository's top level is all unexpected.
    const forced = veritree(['verify-cas', '--json', '--layout', 'composefs', repo]);
    expect(forced.status).toBe(1);
    expect(JSON.parse(forced.stdout).summary.layout).toBe('composefs');
  });
});

describe('verify-cas when the check cannot run', () => {
  it('exits 2 for a missing store, a file, an unknown layout and usage errors', () => {
    const missing = veritree(['verify-cas', path.join(tmp, 'no-such-store')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/no such file or directory/);
    expect(missing.stdout).toBe('');

    const file = path.join(tmp, 'a-file');
    fs.writeFileSync(file, 'x');
    const notDir = veritree(['verify-cas', file]);
    expect(notDir.status).toBe(2);
    expect(notDir.stderr).toMatch(/not a directory/);

    const empty = path.join(tmp, 'empty-dir');
    fs.mkdirSync(empty);
    const unknown = veritree(['verify-cas', empty]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/not a known object store.*--layout/);
    // Told what it is, an empty store is a clean one.
    expect(veritree(['verify-cas', '--layout=composefs', empty])).toMatchObject({ status: 0, stdout: 'objects: 0/0 ok\n' });

    for (const args of [[], [empty, empty], ['--json', '--ndjson', empty], ['--layout=zfs', empty], ['--threads=0', empty], ['--bogus', empty]]) {
      const r = veritree(['verify-cas', ...args]);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/verify-cas --help/);
    }
    expect(veritree(['verify-cas', '--help'])).toMatchObject({ status: 0 });
  });
});

describe('verify-cas interrupted (SIGINT)', () => {
  it('stops submitting, finishes work in flight, prints a partial report marked interrupted, exits 2', async () => {
    // 4000 objects of 32 KiB whose names do not match: every checked object streams a finding.
    const store = path.join(tmp, 'large');
    const N = 4000;
    for (let i = 0; i < N; i++) {
      const d = path.join(store, (i % 256).toString(16).padStart(2, '0'));
      if (i < 256) fs.mkdirSync(d, { recursive: true });
      fs.writeFileSync(path.join(d, crypto.createHash('sha256').update(String(i)).digest('hex').slice(2)), Buffer.alloc(32 << 10, i & 0xff));
    }
    const child = spawn(process.execPath, [CLI, 'verify-cas', '--ndjson', '--threads=1', store], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      if (!signalled && stdout.includes('\n')) {
        signalled = true;
        child.kill('SIGINT');
      }
    });
    const code = await exit;
    expect(signalled).toBe(true);
    expect(code).toBe(2);
    const events = stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    const summary = events.at(-1);
    expect(summary).toMatchObject({ event: 'summary', interrupted: true, ok: false });
    expect(summary.objectsChecked).toBeLessThan(N);
    // Every judged object was reported, and nothing after the summary.
    expect(events.filter((e) => e.event === 'finding')).toHaveLength(summary.objectsChecked);
    expect(stderr).toMatch(/interrupted/);
  }, 60_000);
});

describe('verifyCas: failures the pool reports become findings', () => {
  it('maps file-changed, open and read failures, counting each as a checked object', async () => {
    const store = path.join(tmp, 'pool-failures');
    const names = ['0a', '0b', '0c'].map((d, i) => `${d}/${String(i).repeat(62)}`);
    for (const n of names) {
      fs.mkdirSync(path.join(store, path.dirname(n)), { recursive: true });
      fs.writeFileSync(path.join(store, n), 'x');
    }
    const failures: Record<string, { code: string; message: string; errno?: string }> = {
      '0a': { code: 'file-changed', message: 'file changed while it was hashed (size 1 → 2, read 2 bytes)' },
      '0b': { code: 'permission-denied', message: 'permission denied', errno: 'EACCES' },
      '0c': { code: 'io-error', message: 'input/output error', errno: 'EIO' },
    };
    // A pool whose every file fails the way a worker reports it.
    const pool = {
      threads: 1,
      async runFiles(task: { files: readonly { path: string }[] }) {
        const n = task.files.length;
        return {
          digests: new Uint8Array(n * 32),
          sizes: new Float64Array(n),
          inos: new BigUint64Array(n),
          status: new Uint8Array(n).fill(1),
          errors: task.files.map(({ path: p }) => ({ ...failures[path.basename(path.dirname(p))]!, path: p })),
        };
      },
      async runRange(): Promise<never> {
        throw new Error('no ranges here');
      },
    } as unknown as HashPool;
    const found: Finding[] = [];
    const summary = await verifyCas(store, { pool, backend: 'node-crypto', layout: 'composefs', onFinding: (f) => void found.push(f) });
    expect(found.map((f) => [f.path, f.code, f.errno])).toEqual(
      expect.arrayContaining([
        [names[0], 'file-changed', undefined],
        [names[1], 'object-open-failed', 'EACCES'],
        [names[2], 'object-verity-failed', 'EIO'],
      ]),
    );
    expect(summary).toMatchObject({ objects: { checked: 3, ok: 0 }, problems: 3, interrupted: false });
  });
});

describe('reporters', () => {
  const summary = (over: Partial<CasSummary> = {}): CasSummary => ({
    store: '/s',
    layout: 'composefs',
    hashAlg: 'sha256',
    blockSize: 4096,
    algorithmSource: 'layout',
    objects: { checked: 3, ok: 1 },
    bytesHashed: 10,
    problems: 2,
    byCode: { 'object-invalid-name': 2 },
    quarantined: 0,
    interrupted: false,
    elapsedMs: 1,
    ...over,
  });
  const collect = async (format: 'text' | 'json' | 'ndjson', findings: Finding[], s: CasSummary, quiet = false) => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString()));
    const r = createReporter(format, out, { quiet });
    await r.start(s);
    for (const f of findings) await r.finding(f);
    await r.finish(s);
    return text;
  };
  const bad = (p: string): Finding => ({ code: 'object-invalid-name', path: p, detail: 'bad name' });

  it('text: count line, problems sorted by path, interrupted marked; --quiet keeps only problems', async () => {
    const s = summary({ interrupted: true });
    expect(await collect('text', [bad('b/2'), bad('a/1')], s)).toBe(
      'objects: 1/3 ok\nobject-invalid-name a/1: bad name\nobject-invalid-name b/2: bad name\ninterrupted: partial report, the check did not finish\n',
    );
    expect(await collect('text', [bad('b/2')], summary(), true)).toBe('object-invalid-name b/2: bad name\n');
  });

  it('json: a valid document however many findings, sorted by path', async () => {
    const many = Array.from({ length: 5000 }, (_, i) => bad(`${(4999 - i).toString(16).padStart(4, '0')}/x`));
    const doc = JSON.parse(await collect('json', many, summary({ problems: 5000 })));
    expect(doc.findings).toHaveLength(5000);
    expect(doc.findings[0]).toEqual({ type: 'object-invalid-name', code: 'object-invalid-name', path: '0000/x', detail: 'bad name' });
    expect(doc.summary).toMatchObject({ objectsChecked: 3, objectsOk: 1, objectsCorrupted: 2 });
    expect(JSON.parse(await collect('json', [], summary({ problems: 0 })))).toMatchObject({ ok: true, findings: [] });
  });

  it('ndjson: start, findings as they come (unsorted), summary', async () => {
    const lines = (await collect('ndjson', [bad('b'), bad('a')], summary())).trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.event, l.path])).toEqual([['start', undefined], ['finding', 'b'], ['finding', 'a'], ['summary', undefined]]);
  });
});

describe('verify-cas --measure and --enable (host kernel without fs-verity)', () => {
  it('auto falls back to hashing every object: clean, exit 0, none measured by the kernel', () => {
    const store = extractFixture('measure-auto');
    const r = veritree(['verify-cas', '--measure=auto', '--json', store]);
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.summary).toMatchObject({ measure: 'auto', objectsChecked: 17, objectsOk: 17, kernelMeasured: 0, enabled: 0 });
  });

  it('kernel and both cannot run where fs-verity is unavailable: exit 2 with the hint', () => {
    const store = extractFixture('measure-kernel');
    for (const mode of ['kernel', 'both']) {
      const r = veritree(['verify-cas', `--measure=${mode}`, store]);
      expect(r.status, mode).toBe(2);
      expect(r.stderr).toMatch(/fs-verity is not available here \(EOPNOTSUPP\).*mkfs\.ext4 -O verity/);
    }
  });

  it('--enable says once that the filesystem cannot do it, after checking every object', () => {
    const store = extractFixture('measure-enable');
    const r = veritree(['verify-cas', '--measure=auto', '--enable', '--json', store]);
    expect(r.status).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.summary.objectsOk).toBe(17);
    expect(doc.findings).toHaveLength(1);
    expect(doc.findings[0]).toMatchObject({ code: 'verity-not-supported', errno: 'EOPNOTSUPP' });
  });

  it('usage errors: --enable without the kernel, an unknown mode', () => {
    const store = extractFixture('measure-usage');
    expect(veritree(['verify-cas', '--enable', store]).stderr).toMatch(/--enable needs --measure kernel, auto or both/);
    const bad = veritree(['verify-cas', '--measure=gpu', store]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--measure: "gpu" is not one of userspace, kernel, auto, both/);
  });
});
