/**
 * The composefs image writer (src/composefs/writer.ts, writer-erofs.ts) and `veritree image
 * create`, against what mkcomposefs 1.0.8 wrote (test/fixtures/composefs-small, EXPECTED.txt):
 *
 * - every fixture image rebuilt byte for byte from its own dump (`--from-file`, with the
 *   version options EXPECTED.txt records), and from the extracted source tree with the exact
 *   options of each recorded mkcomposefs run (needs root to extract devices and trusted.* xattrs);
 * - `--print-digest` prints the digest EXPECTED.txt records; `--digest-store` fills a store equal
 *   to objects.tar;
 * - a seeded fast-check round trip: random tree → dump → image → the project's reader → the same
 *   dump (xattr order aside: composefs-info lists shared xattrs after inline ones);
 * - bad inputs (bad dump lines, a socket, an unreadable file, conflicting options) fail with a
 *   VeritreeError / exit 2 and leave no output file.
 *
 * Against a real mkcomposefs 1.0.8 binary on random dumps: test/differential/mkcomposefs.test.ts
 * (`npm run test:mkcomposefs`, not part of `npm test`: Debian ships no composefs).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipAllUnless } from './helpers/skip.js';
import { memoryIO, veritree } from './helpers/cli.js';
import { run as imageVerb } from '../src/cli/image.js';
import { parseDumpLine } from '../src/composefs/dump.js';
import { entryArb, expectedDump, normalize } from './helpers/composefs-model.js';
import { buildImage, treeFromDump, writeImage, type ImageOptions } from '../src/composefs/writer.js';
import { xxh32 } from '../src/composefs/writer-erofs.js';
import { readImage } from '../src/composefs/image.js';
import { formatDump } from '../src/cli/image.js';
import { closeSharedPool } from '../src/pool/pool.js';
import { VeritreeError } from '../src/report/errors.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/composefs-small');
const fixture = (name: string) => path.join(FIXTURES, name);
const isRoot = process.getuid?.() === 0;

/** Each fixture image, the dump it is rebuilt from, and the mkcomposefs options EXPECTED.txt records for it. */
const IMAGES: ReadonlyArray<{ image: string; dump: string; args: string[]; options: ImageOptions; fromSource: boolean }> = [
  { image: 'small.cfs', dump: 'small.dump', args: [], options: {}, fromSource: true },
  { image: 'small-v0.cfs', dump: 'small-v0.dump', args: ['--max-version=0'], options: { maxVersion: 0 }, fromSource: true },
  { image: 'small-user-xattrs.cfs', dump: 'small-user-xattrs.dump', args: ['--user-xattrs'], options: { userXattrs: true }, fromSource: true },
  { image: 'small-skip-xattrs.cfs', dump: 'small-skip-xattrs.dump', args: ['--skip-xattrs'], options: { skipXattrs: true }, fromSource: true },
  { image: 'small-epoch-nodev.cfs', dump: 'small-epoch-nodev.dump', args: ['--use-epoch', '--skip-devices'], options: { useEpoch: true, skipDevices: true }, fromSource: true },
  { image: 'small-hardlink.cfs', dump: 'small-hardlink.input.dump', args: [], options: {}, fromSource: false },
];

/** `sha256:HEX NAME.cfs` lines of EXPECTED.txt's `fsverity digest *.cfs` run. */
function expectedDigests(): Map<string, string> {
  const m = new Map<string, string>();
  for (const match of fs.readFileSync(fixture('EXPECTED.txt'), 'utf8').matchAll(/^sha256:([0-9a-f]{64}) (\S+\.cfs)$/gm)) m.set(match[2]!, match[1]!);
  return m;
}
const DIGESTS = expectedDigests();

let work: string;
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-image-writer-'));
});
afterAll(async () => {
  await closeSharedPool();
  fs.rmSync(work, { recursive: true, force: true });
});

async function create(args: string[], stdin?: Buffer): Promise<{ code: number; out: Buffer; err: string }> {
  const m = memoryIO('latin1');
  const io = stdin === undefined ? m.io : { ...m.io, stdin: Readable.from([stdin]) };
  const code = await imageVerb(['create', ...args], io);
  return { code, out: Buffer.from(m.out(), 'latin1'), err: m.err() };
}

function filesIn(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

describe('fixture images from their dumps (mkcomposefs --from-file)', () => {
  it('EXPECTED.txt records a digest for every fixture image', () => {
    for (const c of IMAGES) expect(DIGESTS.get(c.image), c.image).toMatch(/^[0-9a-f]{64}$/);
  });

  for (const c of IMAGES) {
    it(`${c.image} from ${c.dump}${c.args.length > 0 ? ` (${c.args.join(' ')})` : ''}: byte-identical, same digest`, async () => {
      const out = path.join(work, `dump-${c.image}`);
      const r = await create(['--from-file', '--print-digest', ...c.args, fixture(c.dump), out]);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out.toString()).toBe(`${DIGESTS.get(c.image)}\n`);
      expect(fs.readFileSync(out).equals(fs.readFileSync(fixture(c.image)))).toBe(true);
    });
  }

  it('each image from the dump of the image itself (small-hardlink.dump, as composefs-info printed it)', async () => {
    const r = await buildImage({ kind: 'dump', text: fs.readFileSync(fixture('small-hardlink.dump')) });
    expect(r.image.equals(fs.readFileSync(fixture('small-hardlink.cfs')))).toBe(true);
  });

  it('reads the dump from standard input and writes the image to standard output', async () => {
    const r = await create(['--from-file', '-', '-'], fs.readFileSync(fixture('small.dump')));
    expect(r.code).toBe(0);
    expect(r.out.equals(fs.readFileSync(fixture('small.cfs')))).toBe(true);
  });

  it('--min-version=1 --max-version=1 gives small.cfs; --min-version=1 alone too (max is raised to min)', async () => {
    const ref = fs.readFileSync(fixture('small.cfs'));
    const text = fs.readFileSync(fixture('small.dump'));
    expect((await buildImage({ kind: 'dump', text }, { minVersion: 1, maxVersion: 1 })).image.equals(ref)).toBe(true);
    expect((await buildImage({ kind: 'dump', text }, { minVersion: 1 })).image.equals(ref)).toBe(true);
    const v0 = await buildImage({ kind: 'dump', text: fs.readFileSync(fixture('small-epoch-nodev.dump')) });
    expect(v0.version).toBe(0); // no whiteout left: stays at min
  });

  it('the image reader shows the written image as the dump it came from', async () => {
    for (const c of IMAGES) {
      const r = await buildImage({ kind: 'dump', text: fs.readFileSync(fixture(c.dump)) }, c.options);
      const expected = c.image === 'small-hardlink.cfs' ? 'small-hardlink.dump' : c.dump;
      expect(formatDump(readImage(r.image, c.image)), c.image).toBe(fs.readFileSync(fixture(expected), 'latin1'));
    }
  });

  it('xattr name filter hash: xxh32 reference values', () => {
    expect(xxh32(new Uint8Array(0), 0)).toBe(0x02cc5d05);
    expect(xxh32(Buffer.from('a'), 0)).toBe(0x550d7456);
    expect(xxh32(Buffer.from('Nobody inspects the spammish repetition'), 0)).toBe(0xe2293b2f);
  });
});

describe('fixture images from the source tree (mkcomposefs SRC)', () => {
  skipAllUnless(isRoot ? undefined : 'extracting small-src.tar faithfully (devices, trusted.* xattrs) needs root');
  let src: string;
  let refObjects: string;
  beforeAll(() => {
    if (!isRoot) return;
    const dir = path.join(work, 'src');
    fs.mkdirSync(dir);
    execFileSync('tar', ['--xattrs', "--xattrs-include=*", '-xpf', fixture('small-src.tar'), '-C', dir]);
    src = path.join(dir, 'small-src');
    const ref = path.join(work, 'ref');
    fs.mkdirSync(ref);
    execFileSync('tar', ['-xf', fixture('objects.tar'), '-C', ref]);
    refObjects = path.join(ref, 'objects');
  });

  for (const c of IMAGES.filter((i) => i.fromSource)) {
    it(`${c.image}: mkcomposefs --print-digest ${c.args.join(' ')} small-src`, async () => {
      const out = path.join(work, `src-${c.image}`);
      const r = await create(['--print-digest', ...c.args, src, out]);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out.toString()).toBe(`${DIGESTS.get(c.image)}\n`);
      expect(fs.readFileSync(out).equals(fs.readFileSync(fixture(c.image)))).toBe(true);
    });
  }

  it('--digest-store fills a store equal to objects.tar (names, bytes, modes), --threads=1', async () => {
    const store = path.join(work, 'store');
    const out = path.join(work, 'stored.cfs');
    const r = await create(['--print-digest', `--digest-store=${store}`, '--threads=1', src, out]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(fs.readFileSync(out).equals(fs.readFileSync(fixture('small.cfs')))).toBe(true);
    const list = (root: string) => filesIn(root).flatMap((d) => filesIn(path.join(root, d)).map((f) => `${d}/${f}`));
    const want = list(refObjects);
    expect(want.length).toBe(17);
    expect(list(store)).toEqual(want);
    expect(filesIn(store).filter((n) => n.startsWith('.'))).toEqual([]); // no temporary files left
    for (const rel of want) {
      const mine = path.join(store, rel);
      expect(fs.readFileSync(mine).equals(fs.readFileSync(path.join(refObjects, rel))), rel).toBe(true);
      expect(fs.statSync(mine).mode & 0o7777, rel).toBe(0o644);
      expect(fs.statSync(path.dirname(mine)).mode & 0o7777, rel).toBe(0o755);
    }
    // A second run finds every object already stored.
    const again = await writeImage({ kind: 'directory', path: src }, out, { digestStore: store });
    expect(again.objects).toEqual({ referenced: 17, added: 0, existing: 17 });
    expect(again.files).toEqual({ total: 30, external: 19, inline: 10, empty: 1 });
  });

  it('--print-digest-only prints the digest and writes nothing', async () => {
    const before = filesIn(work);
    const r = await create(['--print-digest-only', src]);
    expect(r.code).toBe(0);
    expect(r.out.toString()).toBe(`${DIGESTS.get('small.cfs')}\n`);
    expect(filesIn(work)).toEqual(before);
  });

  it('--skip-xattrs with --user-xattrs is refused, as mkcomposefs does (EINVAL)', async () => {
    const out = path.join(work, 'conflict.cfs');
    const r = await create(['--skip-xattrs', '--user-xattrs', src, out]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^veritree image create: .*--skip-xattrs.*--user-xattrs.*\nRun 'veritree image create --help' for usage\.\n$/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('a socket in the source: exit 2, one line naming it, no image', async () => {
    const dir = path.join(work, 'with-socket');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'f'), 'x');
    const sock = path.join(dir, 'sock');
    const net = await import('node:net');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(sock, () => resolve()));
    const out = path.join(work, 'socket.cfs');
    try {
      expect(fs.lstatSync(sock).isSocket()).toBe(true);
      const r = await create([dir, out]);
      expect(r.code).toBe(2);
      expect(r.err).toBe(`veritree image create: import-unsupported: ${sock}: socket (cannot be stored in a composefs image)\n`);
      expect(fs.existsSync(out)).toBe(false);
      await expect(buildImage({ kind: 'directory', path: dir })).rejects.toMatchObject({ code: 'import-unsupported', path: sock });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('failures leave no image', () => {
  const smallDump = () => fs.readFileSync(fixture('small.dump'), 'latin1').split('\n').filter((l) => l !== '');

  it('a bad dump line: exit 2, "DUMP: dump line N: reason", no output file, no temporary file', async () => {
    const lines = smallDump();
    lines[2] = lines[2]!.replace(' 40755 ', ' 4x755 ');
    const dump = path.join(work, 'bad.dump');
    fs.writeFileSync(dump, `${lines.join('\n')}\n`, 'latin1');
    const dir = path.join(work, 'out-bad');
    fs.mkdirSync(dir);
    const out = path.join(dir, 'bad.cfs');
    const r = await create(['--from-file', dump, out]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`veritree image create: dump-invalid: ${dump}: dump line 3: mode "4x755" is not octal\n`);
    expect(filesIn(dir)).toEqual([]);
  });

  it.each([
    ['a missing parent', (l: string[]) => [l[0]!, '/nope/x 0 100644 1 0 0 0 0.0 - - -'], 2, /parent directory missing/],
    ['a child before the root', (l: string[]) => ['/x 0 100644 1 0 0 0 0.0 - - -', ...l], 1, /root .* must come first/],
    ['a second root', (l: string[]) => [...l, l[0]!], 53, /second root/],
    ['a duplicate path', (l: string[]) => [...l, l[1]!], 53, /already exists/],
    ['content longer than SIZE', (l: string[]) => [l[0]!, '/f 2 100644 1 0 0 0 0.0 - abc -'], 2, /content is 3 bytes, size says 2/],
    ['an empty symlink target', (l: string[]) => [l[0]!, '/s 0 120777 1 0 0 0 0.0 - - -'], 2, /symlink needs a non-empty target/],
    ['a hard link to nothing', (l: string[]) => [l[0]!, '/h 0 @100644 1 0 0 0 0.0 /nothing - -'], 2, /no hard-link target/],
    ['a hard link to a directory', (l: string[]) => [...l, '/h 0 @100644 1 0 0 0 0.0 /files - -'], 53, /hard link to a directory/],
    ['a hard-link loop', (l: string[]) => [l[0]!, '/a 0 @100644 1 0 0 0 0.0 /b - -', '/b 0 @100644 1 0 0 0 0.0 /a - -'], 2, /hard-link loop/],
    ['an unknown file type', (l: string[]) => [l[0]!, '/x 0 170644 1 0 0 0 0.0 - - -'], 2, /invalid mode/],
    ['a bad escape', (l: string[]) => [l[0]!, '/x\\q 0 100644 1 0 0 0 0.0 - - -'], 2, /unknown escape/],
    ['an embedded NUL', (l: string[]) => [l[0]!, '/x 0 100644 1 0 0 0 0.0 - - -\0'], 2, /embedded NUL/],
    ['too few fields', (l: string[]) => [l[0]!, '/x 0 100644'], 2, /at least 11 fields/],
  ] as const)('%s is a dump-invalid error with its line number', async (_what, edit, lineNo, reason) => {
    const text = `${edit(smallDump()).join('\n')}\n`;
    const out = path.join(work, 'never.cfs');
    const err = await writeImage({ kind: 'dump', text }, out).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(VeritreeError);
    expect((err as VeritreeError).code).toBe('dump-invalid');
    expect((err as VeritreeError).message).toMatch(new RegExp(`^dump line ${lineNo}: `));
    expect((err as VeritreeError).message).toMatch(reason);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('an empty dump is refused', async () => {
    await expect(buildImage({ kind: 'dump', text: '' })).rejects.toMatchObject({ code: 'dump-invalid' });
  });

  it('an unreadable source file: its error (permission-denied), no image', async (ctx) => {
    // Root reads any file whatever its mode: the CLI runs as an unprivileged user instead.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-unreadable-'));
    fs.chmodSync(dir, 0o777);
    const src = path.join(dir, 'src');
    fs.mkdirSync(src, { mode: 0o755 });
    fs.chmodSync(src, 0o755);
    const secret = path.join(src, 'secret.txt');
    fs.writeFileSync(secret, 'short and secret\n', { mode: 0o000 });
    fs.chmodSync(secret, 0o000);
    const out = path.join(dir, 'unreadable.cfs');
    try {
      const asRoot = process.getuid?.() === 0;
      const r = veritree(['image', 'create', src, out], asRoot ? { uid: 65534, gid: 65534 } : {});
      if (asRoot && r.status === null) ctx.skip('running the CLI as uid 65534 was refused in this sandbox');
      expect(r.status).toBe(2);
      expect(r.stderr).toBe(`veritree image create: permission-denied: ${secret}: permission denied\n`);
      expect(fs.existsSync(out)).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a missing source, a file as source, and bad options: exit 2', async () => {
    const out = path.join(work, 'x.cfs');
    expect((await create([path.join(work, 'missing'), out])).err).toBe(`veritree image create: not-found: ${path.join(work, 'missing')}: no such file or directory\n`);
    expect((await create([fixture('small.dump'), out])).err).toBe(`veritree image create: not-a-directory: ${fixture('small.dump')}: not a directory\n`);
    for (const args of [['--max-version=2', fixture('small.dump'), out], ['--min-version=x', fixture('small.dump'), out],
      ['--threads=0', fixture('small.dump'), out], [fixture('small.dump')], ['--print-digest-only', fixture('small.dump'), out],
      ['-', out], ['--bogus', fixture('small.dump'), out]]) {
      const r = await create(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err.split('\n'), r.err).toEqual([expect.stringMatching(/^veritree image create: /), "Run 'veritree image create --help' for usage.", '']); // the reason, the hint
      expect(r.err.startsWith('veritree image create: ')).toBe(true);
    }
    expect(fs.existsSync(out)).toBe(false);
  });

  it('an existing image is left as it was when the new one fails', async () => {
    const out = path.join(work, 'keep.cfs');
    fs.writeFileSync(out, 'old');
    const r = await create(['--from-file', '-', out], Buffer.from('/ 0 100644 1 0 0 0 0.0 - - -\n'));
    expect(r.code).toBe(2);
    expect(r.err).toBe('veritree image create: dump-invalid: <stdin>: dump line 1: the root must be a directory\n');
    expect(fs.readFileSync(out, 'utf8')).toBe('old');
  });

  it('--help', async () => {
    const r = await create(['--help']);
    expect(r.code).toBe(0);
    expect(r.out.toString()).toMatch(/^Usage: veritree image create/);
  });
});

// --- round trip -----------------------------------------------------------------------------------

describe('round trip: random tree → dump → image → reader → the same dump', () => {
  it('fast-check, seeded', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(fc.integer({ min: 0, max: 2 ** 32 }), fc.integer({ min: 0, max: 999_999_999 })),
        fc.array(entryArb, { maxLength: 60 }),
        async (mtime, entries) => {
          const dump = expectedDump({ mtime: mtime as [number, number] }, entries);
          // Every line parses, and the tree is the one the writer builds.
          dump.split('\n').filter((l) => l !== '').forEach((l, i) => parseDumpLine(l, i + 1));
          treeFromDump(dump);
          const { image } = await buildImage({ kind: 'dump', text: dump });
          const back = formatDump(readImage(image, '<round-trip>'));
          expect(normalize(back)).toEqual(normalize(dump));
          // And the image written from the reader's dump is the same image.
          expect((await buildImage({ kind: 'dump', text: back })).image.equals(image)).toBe(true);
        },
      ),
      { seed: 0x5eed_cf5, numRuns: 120, endOnFailure: true },
    );
  });
});
