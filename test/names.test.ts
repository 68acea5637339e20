/**
 * File names are bytes: a name that is not UTF-8, or that holds a newline or a backslash, is
 * digested, imported and checked like any other, and never forges a line of text output (names
 * escaped the way GNU sha256sum escapes them), while --json carries the exact bytes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as digest } from '../src/cli/digest.js';
import { run as verifyCas } from '../src/cli/verify-cas.js';
import { parseDumpLine } from '../src/composefs/dump.js';
import { importTree } from '../src/composefs/import.js';
import { buildImage } from '../src/composefs/writer.js';
import { readImage } from '../src/composefs/image.js';
import { formatDump } from '../src/cli/image.js';
import { ObjectStore } from '../src/composefs/store.js';
import { digestBytes } from '../src/merkle/file.js';
import { memoryIO } from './helpers/cli.js';

const FORGED = 'z\nsha256:0000000000000000000000000000000000000000000000000000000000000000 real';
const NOT_UTF8 = Buffer.from([0x6e, 0x6f, 0x74, 0xff, 0xfe, 0x2d, 0x75, 0x74, 0x66, 0x38]); // "not\xff\xfe-utf8"
const BACKSLASH = 'back\\slash';

let work: string;
let tree: string;
const contents = new Map<string, Buffer>(); // key: latin1 of the name bytes

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-names-'));
  tree = path.join(work, 'tree');
  fs.mkdirSync(tree);
  const names = [Buffer.from(FORGED), NOT_UTF8, Buffer.from(BACKSLASH), Buffer.from('plain')];
  names.forEach((name, i) => {
    const content = Buffer.from(`content ${i} `.repeat(20 + i));
    fs.writeFileSync(Buffer.concat([Buffer.from(`${tree}/`), name]), content);
    contents.set(name.toString('latin1'), content);
  });
  // A directory with a non-UTF-8 name, holding a file.
  const dir = Buffer.concat([Buffer.from(`${tree}/`), NOT_UTF8, Buffer.from('-dir')]);
  fs.mkdirSync(dir);
  fs.writeFileSync(Buffer.concat([dir, Buffer.from('/inner')]), 'inner file, more than sixty-four bytes long so it goes to the store');
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

async function cli(verb: typeof digest, args: string[]) {
  const c = memoryIO('latin1');
  const status = await verb(args, c.io);
  return { status, out: Buffer.from(c.out(), 'latin1'), err: c.err() };
}

describe('digest -r on awkward names', () => {
  it('text: one line per file, escaped like sha256sum; raw bytes for non-UTF-8 names', async () => {
    const r = await cli(digest, ['-r', tree, '--threads=1']);
    expect(r.status).toBe(0);
    const lines = r.out.toString('latin1').split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(5);
    // The forged name is one escaped line, and no line claims a digest for "real".
    const forged = lines.find((l) => l.includes('z\\nsha256:'))!;
    expect(forged.startsWith('\\sha256:')).toBe(true);
    expect(lines.some((l) => l.endsWith(' real') && !l.startsWith('\\'))).toBe(false);
    const want = digestBytes(contents.get(Buffer.from(FORGED).toString('latin1'))!).hex;
    expect(forged).toBe(`\\sha256:${want} ${tree}/z\\nsha256:${'0'.repeat(64)} real`);
    // The backslash is doubled (and the line marked); the non-UTF-8 name is written as its bytes.
    expect(lines).toContain(`\\sha256:${digestBytes(contents.get(BACKSLASH)!).hex} ${tree}/back\\\\slash`);
    expect(lines).toContain(`sha256:${digestBytes(contents.get(NOT_UTF8.toString('latin1'))!).hex} ${tree}/${NOT_UTF8.toString('latin1')}`);
  });

  it('--json: exact bytes in pathBytes when the name is not UTF-8', async () => {
    const r = await cli(digest, ['-r', tree, '--json']);
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.out.toString('utf8')) as { files: { path: string; pathBytes?: string; digest: string }[] };
    expect(doc.files).toHaveLength(5);
    const odd = doc.files.filter((f) => f.pathBytes !== undefined);
    expect(odd).toHaveLength(2); // the file and the file inside the directory
    const file = odd.find((f) => Buffer.from(f.pathBytes!, 'base64').equals(Buffer.concat([Buffer.from(`${tree}/`), NOT_UTF8])))!;
    expect(file.digest).toBe(`sha256:${digestBytes(contents.get(NOT_UTF8.toString('latin1'))!).hex}`);
    const forged = doc.files.find((f) => f.path === `${tree}/${FORGED}`)!;
    expect(forged.pathBytes).toBeUndefined();
  });
});

describe('import and image create keep every name byte for byte', () => {
  it('the dump escapes them and parses back to the same bytes; objects are stored; the image reads back the same', async () => {
    const store = new ObjectStore(path.join(work, 'objects'), { fsync: false });
    const r = await importTree(tree, store, { threads: 1 });
    const paths = r.dump.split('\n').filter((l) => l !== '').map((l, i) => Buffer.from(parseDumpLine(l, i + 1).path));
    const want = ['', `/${FORGED}`, `/${BACKSLASH}`, '/plain'].map((s) => Buffer.from(s));
    want.push(Buffer.concat([Buffer.from('/'), NOT_UTF8]), Buffer.concat([Buffer.from('/'), NOT_UTF8, Buffer.from('-dir')]), Buffer.concat([Buffer.from('/'), NOT_UTF8, Buffer.from('-dir/inner')]));
    expect(paths.map((p) => p.toString('latin1')).sort()).toEqual(want.map((p) => p.toString('latin1')).sort());
    // One dump line per entry: the newline in a name is escaped.
    expect(r.dump.split('\n').filter((l) => l !== '')).toHaveLength(want.length);
    expect(r.files).toMatchObject({ total: 5, stored: 5 });
    const result = await cli(verifyCas, [path.join(work, 'objects'), '--json']);
    expect(result.status).toBe(0);
    // dump → image (the writer) → the image reader: the same names, byte for byte.
    const { image } = await buildImage({ kind: 'dump', text: r.dump });
    const back = formatDump(readImage(image, '<names>')).split('\n').filter((l) => l !== '').map((l, i) => Buffer.from(parseDumpLine(l, i + 1).path));
    expect(back.map((p) => p.toString('latin1')).sort()).toEqual(want.map((p) => p.toString('latin1')).sort());
    // and the image from the source tree itself is the same image.
    expect((await buildImage({ kind: 'directory', path: tree }, { threads: 1 })).image.equals(image)).toBe(true);
  });
});

describe('verify-cas findings stay one per line', () => {
  it('a stray name with a newline is one escaped line of text', async () => {
    const store = path.join(work, 'store');
    const content = Buffer.from('object content '.repeat(10));
    const hex = digestBytes(content).hex;
    fs.mkdirSync(path.join(store, hex.slice(0, 2)), { recursive: true });
    fs.writeFileSync(path.join(store, hex.slice(0, 2), hex.slice(2)), content);
    fs.writeFileSync(path.join(store, 'stray\nobject-digest-mismatch fake: forged'), 'x');
    const r = await cli(verifyCas, [store]);
    expect(r.status).toBe(1);
    const lines = r.out.toString('utf8').split('\n').filter((l) => l !== '');
    expect(lines).toEqual(['objects: 1/1 ok', 'unexpected-entry stray\\nobject-digest-mismatch fake: forged: regular file that is not part of the store layout']);
  });
});
