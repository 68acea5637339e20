/**
 * `veritree image` against composefs-info 1.0.8: every expectation is read from the fixture
 * folder at test time (the .dump files, small.objects, the command outputs recorded in
 * EXPECTED.txt, objects.tar) — nothing is copied into this file.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/cli/image.js';
import { FIXTURES_DIR, fixture } from './helpers/fixtures.js';
import { ESCAPE_STANDARD, NOESCAPE_SPACE, escapeBytes, parseDumpLine } from '../src/composefs/dump.js';

const FIXTURES = FIXTURES_DIR;
const fx = fixture;

/** EXPECTED.txt as { command → output, status } (blocks: `$ cmd`, output, `[exit status: N]`). */
function parseExpected(text: string): Map<string, { output: string; status: number }> {
  const blocks = new Map<string, { output: string; status: number }>();
  let command: string | null = null;
  let output: string[] = [];
  for (const line of text.split('\n')) {
    if (command === null) {
      if (line.startsWith('$ ')) {
        command = line.slice(2);
        output = [];
      }
      continue;
    }
    const end = /^\[exit status: (\d+)\]$/.exec(line);
    if (end !== null) {
      if (!blocks.has(command)) blocks.set(command, { output: output.map((l) => `${l}\n`).join(''), status: Number(end[1]) });
      command = null;
    } else {
      output.push(line);
    }
  }
  return blocks;
}

class Capture extends Writable {
  chunks: Buffer[] = [];
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    cb();
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
  get text(): string {
    return this.bytes.toString('latin1');
  }
}

async function image(...args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await run(args, { stdout, stderr, stdin: Readable.from([]), env: {}, isTTY: false });
  return { code, stdout: stdout.bytes, stderr: stderr.text };
}

/** The `ls` line composefs-info prints for a dump line (hard links print bare). */
function lsLineFromDump(line: string): string | null {
  const r = parseDumpLine(line);
  if (r.path.length === 0) return null;
  let out = escapeBytes(r.path, NOESCAPE_SPACE);
  if (!r.hardlink) {
    const type = r.mode & 0o170000;
    if (type === 0o040000) out += '/\t';
    else if (type === 0o120000) out += `\t-> ${escapeBytes(r.payload ?? new Uint8Array(0), ESCAPE_STANDARD)}`;
    else if (type === 0o100000 && r.payload !== null) out += `\t@ ${escapeBytes(r.payload, ESCAPE_STANDARD)}`;
  }
  return `${out}\n`;
}

describe('veritree image (composefs-info 1.0.8 compatibility)', () => {
  const expected = parseExpected(readFileSync(fx('EXPECTED.txt'), 'latin1'));
  const images = readdirSync(FIXTURES).filter((f) => /^small.*\.cfs$/.test(f)).sort();
  const recorded = (cmd: string): { output: string; status: number } => {
    const b = expected.get(cmd);
    if (b === undefined) throw new Error(`EXPECTED.txt has no block for: ${cmd}`);
    return b;
  };

  it('finds the six fixture images', () => {
    expect(images.length).toBeGreaterThanOrEqual(6);
  });

  it.each(images)('dump %s is byte-identical to its .dump file', async (name) => {
    const ref = fx(name.replace(/\.cfs$/, '.dump'));
    const r = await image('dump', fx(name));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(4000);
    expect(r.stdout.equals(readFileSync(ref))).toBe(true);
  });

  it('dump small.cfs matches the `cat small.dump` output recorded in EXPECTED.txt', async () => {
    const r = await image('dump', fx('small.cfs'));
    expect(r.stdout.toString('latin1')).toBe(recorded('cat small.dump').output);
  });

  it('ls small.cfs is byte-identical to `composefs-info ls small.cfs`', async () => {
    const block = recorded('composefs-info ls small.cfs');
    const r = await image('ls', fx('small.cfs'));
    expect(r.code).toBe(block.status);
    expect(r.stdout.toString('latin1')).toBe(block.output);
  });

  it.each(images)('ls %s agrees with the listing implied by its .dump file', async (name) => {
    const dump = readFileSync(fx(name.replace(/\.cfs$/, '.dump')), 'latin1');
    const want = dump.split('\n').filter((l) => l.length > 0).map(lsLineFromDump).filter((l) => l !== null).join('');
    const r = await image('ls', fx(name));
    expect(r.stdout.toString('latin1')).toBe(want);
  });

  it('ls prints a later hard-link name bare, like composefs-info (mode-less link node)', async () => {
    const r = await image('ls', fx('small-hardlink.cfs'));
    const lines = r.stdout.toString('latin1').split('\n');
    expect(lines).toContain('/links/hardlink-2');
    expect(lines.find((l) => l.startsWith('/links/hardlink-1\t@ '))).toBeDefined();
  });

  it('objects small.cfs is byte-identical to small.objects and to EXPECTED.txt', async () => {
    const r = await image('objects', fx('small.cfs'));
    expect(r.code).toBe(0);
    expect(r.stdout.equals(readFileSync(fx('small.objects')))).toBe(true);
    expect(r.stdout.toString('latin1')).toBe(recorded('composefs-info objects small.cfs').output);
  });

  it('objects of the hard-link image equal small.objects (EXPECTED: same-objects)', async () => {
    expect(recorded('composefs-info objects small-hardlink.cfs | diff - small.objects && echo same-objects').output).toBe('same-objects\n');
    const r = await image('objects', fx('small-hardlink.cfs'));
    expect(r.stdout.equals(readFileSync(fx('small.objects')))).toBe(true);
  });

  it.each(images)('objects %s lists exactly the payloads of its .dump file', async (name) => {
    const dump = readFileSync(fx(name.replace(/\.cfs$/, '.dump')), 'latin1');
    const payloads = new Set<string>();
    for (const line of dump.split('\n').filter((l) => l.length > 0)) {
      const rec = parseDumpLine(line);
      if (!rec.hardlink && (rec.mode & 0o170000) === 0o100000 && rec.payload !== null) payloads.add(Buffer.from(rec.payload).toString('latin1'));
    }
    const want = [...payloads].sort().map((p) => `${p}\n`).join('');
    const r = await image('objects', fx(name));
    expect(r.stdout.toString('latin1')).toBe(want);
  });

  it('objects over several images is one sorted, de-duplicated list', async () => {
    const r = await image('objects', ...images.map(fx));
    expect(r.code).toBe(0);
    expect(r.stdout.equals(readFileSync(fx('small.objects')))).toBe(true);
  });

  it('dump over several images concatenates the dumps', async () => {
    const r = await image('dump', fx('small.cfs'), fx('small-v0.cfs'));
    expect(r.stdout.equals(Buffer.concat([readFileSync(fx('small.dump')), readFileSync(fx('small-v0.dump'))]))).toBe(true);
  });

  describe('missing-objects', () => {
    let store: string;
    beforeAll(() => {
      store = mkdtempSync(path.join(tmpdir(), 'veritree-objects-'));
      execFileSync('tar', ['-xf', fx('objects.tar'), '-C', store]);
    });
    afterAll(() => rmSync(store, { recursive: true, force: true }));

    it('reports nothing with the complete store (EXPECTED: missing-count=0)', async () => {
      const block = recorded('composefs-info --basedir=objects missing-objects small.cfs; echo missing-count=$(composefs-info --basedir=objects missing-objects small.cfs | wc -l)');
      const count = Number(/missing-count=(\d+)/.exec(block.output)![1]);
      const r = await image(`--basedir=${path.join(store, 'objects')}`, 'missing-objects', fx('small.cfs'));
      expect(r.code).toBe(0);
      expect(r.stdout.toString('latin1')).toBe(block.output.replace(/missing-count=\d+\n$/, ''));
      expect(r.stdout.toString('latin1').split('\n').filter(Boolean)).toHaveLength(count);
    });

    it('without --basedir every object is missing (EXPECTED: wc -l = 17)', async () => {
      const count = Number(recorded('composefs-info missing-objects small.cfs | wc -l').output.trim());
      const r = await image('missing-objects', fx('small.cfs'));
      expect(r.stdout.toString('latin1').split('\n').filter(Boolean)).toHaveLength(count);
      expect(r.stdout.equals(readFileSync(fx('small.objects')))).toBe(true);
    });

    it('reports a deleted object, with --basedir given after the command', async () => {
      const objects = readFileSync(fx('small.objects'), 'latin1').split('\n').filter(Boolean);
      const victim = objects[3]!;
      unlinkSync(path.join(store, 'objects', victim));
      const r = await image('missing-objects', '--basedir', path.join(store, 'objects'), fx('small.cfs'), fx('small-hardlink.cfs'));
      expect(r.code).toBe(0);
      expect(r.stdout.toString('latin1')).toBe(`${victim}\n`);
    });

    it('refuses a basedir that does not exist', async () => {
      const r = await image('--basedir=/nonexistent/objects', 'missing-objects', fx('small.cfs'));
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/basedir '\/nonexistent\/objects'/);
    });
  });

  describe('errors', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'veritree-image-'));
      const small = readFileSync(fx('small.cfs'));
      writeFileSync(path.join(dir, 'garbage.img'), Buffer.alloc(8192, 0x41));
      writeFileSync(path.join(dir, 'truncated.cfs'), small.subarray(0, 1100));
      const plain = Buffer.from(small);
      plain.fill(0, 0, 32);
      writeFileSync(path.join(dir, 'plain.erofs'), plain);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('names the path and reason, continues with the other images, exits 2', async () => {
      const missing = path.join(dir, 'nope.cfs');
      const r = await image('dump', missing, fx('small.cfs'), path.join(dir, 'garbage.img'));
      expect(r.code).toBe(2);
      expect(r.stdout.equals(readFileSync(fx('small.dump')))).toBe(true);
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines).toHaveLength(2);
      expect(lines[0]).toContain(`${missing}: no such file or directory`);
      expect(lines[1]).toMatch(/garbage\.img: not an EROFS image \(bad magic 0x41414141, expected 0xe0f5e1e2\), at byte 1024$/);
    });

    it('refuses directories and special files without reading them', async () => {
      const r = await image('dump', dir, '/dev/zero');
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${dir}: is a directory`);
      expect(r.stderr).toContain('/dev/zero: not a regular file (special file)');
    });

    it('reports a truncated image', async () => {
      const r = await image('ls', path.join(dir, 'truncated.cfs'));
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/truncated\.cfs: .*truncated/);
    });

    it('refuses a plain EROFS image without the composefs header as not-composefs', async () => {
      const r = await image('objects', path.join(dir, 'plain.erofs'), fx('small-v0.cfs'));
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/plain\.erofs: EROFS image without a composefs header/);
      expect(r.stdout.equals(readFileSync(fx('small.objects')))).toBe(true);
    });

    it.each([
      [[], /no command/],
      [['frobnicate', 'x.cfs'], /unknown command 'frobnicate'/],
      [['ls'], /no image path/],
      [['--bogus', 'ls', 'x'], /unknown option '--bogus'/],
      [['ls', '--basedir'], /needs a value/],
    ])('usage error %j', async (args, message) => {
      const r = await image(...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
    });

    it('--help prints the usage on stdout', async () => {
      const r = await image('--help');
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toMatch(/missing-objects/);
    });
  });

  it('--filter loads only the named top-level entries', async () => {
    const r = await image('--filter=links', '--filter', 'special', 'ls', fx('small.cfs'));
    const full = recorded('composefs-info ls small.cfs').output.split('\n').filter((l) => /^\/(links|special)\//.test(l));
    expect(r.stdout.toString('latin1')).toBe(full.map((l) => `${l}\n`).join(''));
  });
});
