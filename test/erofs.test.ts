/**
 * The EROFS / composefs reader: raw facts checked against dump.erofs and the kernel getfattr
 * output recorded with the fixtures (EXPECTED.txt, small.erofs-xattrs.txt), the composefs view
 * against the .dump files, and features the fixtures do not use (extended inodes, multi-block
 * directories, 8-byte chunk indexes, symlinks in data blocks, long xattr prefixes) against small
 * images built here. Malformed images must fail with image-invalid, naming offset and reason.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { FIXTURES_DIR, fixture } from './helpers/fixtures.js';
import { describe, expect, it } from 'vitest';
import { parseDumpLine } from '../src/composefs/dump.js';
import { dumpRecord } from '../src/cli/image.js';
import { formatDumpLine } from '../src/composefs/dump.js';
import { ErofsImage, decodeDev } from '../src/erofs/index.js';
import type { ErofsInode } from '../src/erofs/index.js';
import { readImage } from '../src/composefs/image.js';
import type { ComposefsNode } from '../src/composefs/image.js';
import { ImageInvalidError, VeritreeError } from '../src/report/errors.js';

const FIXTURES = FIXTURES_DIR;
const fx = fixture;
const load = (name: string): Uint8Array => new Uint8Array(readFileSync(fx(name)));
const text = (b: Uint8Array | null | undefined): string => (b == null ? '<null>' : Buffer.from(b).toString('latin1'));
const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function parseExpected(src: string): Map<string, string> {
  const blocks = new Map<string, string>();
  let command: string | null = null;
  let out: string[] = [];
  for (const line of src.split('\n')) {
    if (command === null) {
      if (line.startsWith('$ ')) [command, out] = [line.slice(2), []];
      continue;
    }
    if (/^\[exit status: \d+\]$/.test(line)) {
      if (!blocks.has(command)) blocks.set(command, out.join('\n'));
      command = null;
    } else out.push(line);
  }
  return blocks;
}

/** Expects `fn` to throw image-invalid; returns the error for further checks. */
function expectInvalid(fn: () => unknown, reason?: RegExp): ImageInvalidError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ImageInvalidError);
    const e = err as ImageInvalidError;
    expect(e.code).toBe('image-invalid');
    if (reason) expect(e.message).toMatch(reason);
    return e;
  }
  throw new Error('expected an image-invalid error');
}

const TYPE_WORDS: Record<string, string> = {
  'directory': 'directory', 'regular file': 'file', 'symlink file': 'symlink', 'char dev': 'char-device',
  'block dev': 'block-device', 'FIFO file': 'fifo', 'socket file': 'socket',
};

describe('EROFS raw view vs dump.erofs / kernel (fixtures)', () => {
  const expected = parseExpected(readFileSync(fx('EXPECTED.txt'), 'latin1'));
  const small = new ErofsImage(load('small.cfs'), 'small.cfs');

  it('superblock matches `dump.erofs -s`', () => {
    const out = expected.get('dump.erofs -s small.cfs')!;
    const field = (label: string): string => new RegExp(`^${label}:\\s+(.*)$`, 'm').exec(out)![1]!.trim();
    const sb = small.superblock;
    expect(field('Filesystem magic number').toLowerCase()).toBe('0xe0f5e1e2');
    expect(sb.blocks).toBe(Number(field('Filesystem blocks')));
    expect(sb.metaBlockAddr).toBe(Number(field('Filesystem inode metadata start block')));
    expect(sb.xattrBlockAddr).toBe(Number(field('Filesystem shared xattr metadata start block')));
    expect(sb.rootNid).toBe(Number(field('Filesystem root nid')));
    expect(sb.inodeCount).toBe(BigInt(field('Filesystem inode count')));
    expect(sb.buildTime).toBe(BigInt(Date.parse(`${field('Filesystem created')} UTC`) / 1000));
    expect(field('Filesystem features')).toBe('mtime');
    expect(sb.featureCompat & 0x2).toBe(0x2);
    expect(sb.featureIncompat).toBe(0);
    expect(sb.blockSize).toBe(4096);
  });

  it('composefs headers match the od output recorded for every image', () => {
    const block = [...expected.entries()].find(([cmd]) => cmd.startsWith('for i in *.cfs; do echo "$i composefs_version'))![1];
    const lines = block.split('\n').filter((l) => / composefs_version=/.test(l));
    expect(lines.length).toBe(6);
    for (const line of lines) {
      const m = /^(\S+) composefs_version=(\d+) header_magic=([0-9a-f]+) header_version=(\d+) header_flags=(\d+)$/.exec(line)!;
      const img = new ErofsImage(load(m[1]!), m[1]!);
      expect(img.header).not.toBeNull();
      expect(img.header!.composefsVersion).toBe(Number(m[2]));
      expect(img.header!.magic.toString(16)).toBe(m[3]);
      expect(img.header!.version).toBe(Number(m[4]));
      expect(img.header!.flags).toBe(Number(m[5]));
    }
  });

  const pathBlocks = [...expected.entries()].filter(([cmd]) => /^dump\.erofs (-e )?--path='?[^' ;]+'? small\.cfs$/.test(cmd));
  it('EXPECTED.txt has dump.erofs --path blocks to compare with', () => expect(pathBlocks.length).toBeGreaterThan(3));
  it.each(pathBlocks.map(([cmd, out]) => [/--path='?([^' ]+)'?/.exec(cmd)![1]!, out]))('inode %s matches dump.erofs --path', (p, out) => {
    const inode = small.lookup(p)!;
    expect(inode).toBeDefined();
    const num = (re: RegExp): number => Number(re.exec(out)![1]);
    expect(inode.nid).toBe(num(/NID: (\d+)/));
    expect(inode.size).toBe(num(/^Size: (\d+)/m));
    expect(inode.nlink).toBe(num(/Links: (\d+)/));
    expect(inode.layout).toBe(num(/Layout: (\d+)/));
    expect(inode.inodeSize).toBe(num(/Inode size: (\d+)/));
    expect(inode.xattrSize).toBe(num(/Xattr size: (\d+)/));
    expect(inode.uid).toBe(num(/Uid: (\d+)/));
    expect(inode.gid).toBe(num(/Gid: (\d+)/));
    expect(inode.mode & 0o7777).toBe(parseInt(/Access: (\d+)/.exec(out)![1]!, 8));
    const type = /On-disk size: \d+\s+(.+)$/m.exec(out)![1]!.trim();
    expect(inode.type).toBe(TYPE_WORDS[type]);
    const ts = /Timestamp: (\S+ \S+)\.(\d+)/.exec(out)!;
    expect(inode.mtime.sec).toBe(BigInt(Date.parse(`${ts[1]}Z`.replace(' ', 'T')) / 1000));
    expect(inode.mtime.nsec).toBe(Number(ts[2]));
  });

  it('directory listings match `dump.erofs --ls` (dirent order, . and .. included)', () => {
    for (const [cmd, out] of expected) {
      const m = /^dump\.erofs --ls --path=(\S+) small\.cfs/.exec(cmd);
      if (m === null) continue;
      const rows = [...out.matchAll(/^\s+(\d+)\s+(\d)\s+(.+)$/gm)].map((r) => [Number(r[1]), Number(r[2]), r[3]]);
      expect(rows.length).toBeGreaterThan(5);
      const dir = small.lookup(m[1]!)!;
      const got = small.readdir(dir).map((d) => [d.nid, d.fileType, text(d.name)]);
      expect(got.slice(0, rows.length)).toEqual(rows);
      if (!cmd.includes('| head')) expect(got.length).toBe(rows.length);
    }
  });

  it('file-type counts over distinct inodes match `dump.erofs -S`', () => {
    const out = expected.get('dump.erofs -S small.cfs')!;
    const count = (label: string): number => Number(new RegExp(`Filesystem ${label} count:\\s+(\\d+)`).exec(out)![1]);
    const seen = new Map<number, ErofsInode>();
    for (const e of small.walk()) seen.set(e.inode.nid, e.inode);
    const of = (t: string): number => [...seen.values()].filter((i) => i.type === t).length;
    expect(seen.size).toBe(count('total file'));
    expect(of('file')).toBe(count('regular file'));
    expect(of('directory')).toBe(count('directory'));
    expect(of('char-device')).toBe(count('char dev'));
    expect(of('block-device')).toBe(count('block dev'));
    expect(of('fifo')).toBe(count('FIFO file'));
    expect(of('socket')).toBe(count('SOCK file'));
    expect(of('symlink')).toBe(count('symlink file'));
    expect(BigInt(seen.size)).toBe(small.superblock.inodeCount);
  });

  it('stored xattrs equal the kernel erofs mount (small.erofs-xattrs.txt)', () => {
    const ref = new Map<string, string[]>();
    let current: string | null = null;
    for (const line of readFileSync(fx('small.erofs-xattrs.txt'), 'latin1').split('\n')) {
      const file = /^# file: (.*)$/.exec(line);
      if (file) {
        // getfattr quotes bytes as \ooo and the backslash as \\.
        current = file[1]!.replace(/\\(\\|[0-7]{3})/g, (_, q: string) => (q === '\\' ? '\\' : String.fromCharCode(parseInt(q, 8))));
        ref.set(current, []);
      } else if (current !== null && line.includes('=')) {
        ref.get(current)!.push(line);
      }
    }
    const got = new Map<string, string[]>();
    for (const e of small.walk()) {
      const xs = small.xattrs(e.inode);
      if (xs.length === 0) continue;
      const rel = e.rawPath.length === 1 ? '.' : text(e.rawPath.subarray(1));
      got.set(rel, xs.map((x) => `${text(x.rawName)}=0x${hexOf(x.value)}`).sort());
    }
    for (const v of ref.values()) v.sort();
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(ref));
  });

  it('hard links in small-hardlink.cfs share one inode (dump.erofs: NID 416, Links 2)', () => {
    const out = expected.get('dump.erofs --path=/links/hardlink-1 small-hardlink.cfs; dump.erofs --path=/links/hardlink-2 small-hardlink.cfs')!;
    const nids = [...out.matchAll(/NID: (\d+)\s+Links: (\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    const img = new ErofsImage(load('small-hardlink.cfs'), 'small-hardlink.cfs');
    const a = img.lookup('/links/hardlink-1')!;
    const b = img.lookup('/links/hardlink-2')!;
    expect([[a.nid, a.nlink], [b.nid, b.nlink]]).toEqual(nids);
    const view = readImage(load('small-hardlink.cfs'), 'small-hardlink.cfs');
    const n1 = view.lookup('/links/hardlink-1')!;
    const n2 = view.lookup('/links/hardlink-2')!;
    expect(n1.hardlinkTarget).toBeNull();
    expect(n2.hardlinkTarget).toBe(n1);
    expect(n2.nid).toBe(n1.nid);
    expect(n2.digest).toEqual(n1.digest);
  });

  it('CAS-backed files: chunk-based, sparse, with redirect and metacopy (README example)', () => {
    const view = readImage(load('small.cfs'), 'small.cfs');
    const node = view.lookup('/files/rand-4096.bin')!;
    expect(node.inode.layoutName).toBe('chunk-based');
    expect(node.inode.chunks).toMatchObject({ count: 1, indexes: false, entrySize: 4 });
    expect(node.redirect).toBe(`/${text(node.payload)}`);
    expect(hexOf(node.metacopy!)).toBe(`00240001${hexOf(node.digest!)}`);
    const dumpLine = readFileSync(fx('small.dump'), 'latin1').split('\n').find((l) => l.startsWith('/files/rand-4096.bin '))!;
    const rec = parseDumpLine(dumpLine);
    expect(node.digest).toEqual(rec.digest);
    expect(node.payload).toEqual(rec.payload);
    // A plain erofs mount reads the sparse chunk as zeros (EXPECTED: xxd of mnt-erofs/files/rand-4096.bin).
    expect(view.erofs.readData(node.inode).every((b) => b === 0)).toBe(true);
  });

  it('inline data, symlinks, devices and whiteouts in the composefs view', () => {
    const view = readImage(load('small.cfs'), 'small.cfs');
    const dump = new Map(readFileSync(fx('small.dump'), 'latin1').split('\n').filter(Boolean).map((l) => {
      const r = parseDumpLine(l);
      return [text(r.path.length ? r.path : Uint8Array.of(0x2f)), r];
    }));
    for (const p of ['/files/hello.txt', '/files/rand-64.bin', '/files/rand-1.bin', '/names/new\nline']) {
      expect(text(view.lookup(p)!.content)).toBe(text(dump.get(p)!.content));
    }
    expect(text(view.erofs.readData(view.lookup('/files/rand-64.bin')!.inode))).toBe(text(dump.get('/files/rand-64.bin')!.content));
    expect(text(view.lookup('/links/sym-to-file')!.payload)).toBe('../files/hello.txt');
    expect(decodeDev(view.lookup('/special/blockdev-7-200')!.rdev)).toEqual({ major: 7, minor: 200 });
    expect(decodeDev(view.lookup('/special/chardev-1-3')!.rdev)).toEqual({ major: 1, minor: 3 });
    const wh = view.lookup('/special/whiteout-c00')!;
    expect(wh.whiteout).toBe(true);
    expect(wh.mode & 0o170000).toBe(0o020000);
    expect(wh.inode.type).toBe('file');
    expect(view.root.children.some((c) => /^[0-9a-f]{2}$/.test(text(c.name)))).toBe(false);
    expect(view.erofs.readdir(view.erofs.root()).filter((d) => /^[0-9a-f]{2}$/.test(text(d.name)))).toHaveLength(256);
    // trusted.overlay.overlay.custom is stored escaped and shown unescaped.
    const tx = view.lookup('/xattr/trusted-xattrs.bin')!;
    expect(tx.xattrs.map((x) => x.name)).toContain('trusted.overlay.custom');
    expect(tx.rawXattrs.map((x) => x.name)).toContain('trusted.overlay.overlay.custom');
  });

  it('walk() yields composefs-info order: the .dump paths, root first', () => {
    for (const name of readdirSync(FIXTURES).filter((f) => /^small.*\.cfs$/.test(f))) {
      const view = readImage(load(name), name);
      const paths = [...view.walk()].map((e) => text(e.rawPath));
      const want = readFileSync(fx(name.replace('.cfs', '.dump')), 'latin1').split('\n').filter(Boolean)
        .map((l) => text(parseDumpLine(l).path) || '/');
      expect(paths).toEqual(want);
    }
  });

  it('every dump line round-trips through the parser and writer', () => {
    for (const line of readFileSync(fx('small-hardlink.dump'), 'latin1').split('\n').filter(Boolean)) {
      expect(formatDumpLine(parseDumpLine(line))).toBe(line);
    }
  });

  describe('malformed variants of small.cfs', () => {
    const base = load('small.cfs');
    const patched = (fn: (b: Uint8Array, dv: DataView) => void): Uint8Array => {
      const b = Uint8Array.from(base);
      fn(b, new DataView(b.buffer));
      return b;
    };
    const direntOffset = (p: string, name: string): number => small.readdir(small.lookup(p)!).find((d) => text(d.name) === name)!.offset;

    it('bad magic, truncation, header version', () => {
      expectInvalid(() => new ErofsImage(patched((b) => { b[1024] = 0; }), 'x'), /not an EROFS image \(bad magic 0xe0f5e100/);
      expectInvalid(() => new ErofsImage(base.subarray(0, 1100), 'x'), /truncated/);
      expectInvalid(() => readImage(base.subarray(0, 3000), 'x'), /beyond the end of the image/);
      const e = expectInvalid(() => new ErofsImage(patched((_, dv) => dv.setUint32(4, 2, true)), 'x'), /composefs header version 2/);
      expect(e.offset).toBe(4);
    });

    it('unknown incompat features and block sizes', () => {
      expectInvalid(() => new ErofsImage(patched((_, dv) => dv.setUint32(1024 + 80, 0x200, true)), 'x'), /incompatible features 0x00000200 \(unknown 0x00000200\)/);
      expectInvalid(() => new ErofsImage(patched((_, dv) => dv.setUint32(1024 + 80, 0x2, true)), 'x'), /compr_cfgs/);
      expectInvalid(() => new ErofsImage(patched((b) => { b[1024 + 12] = 8; }), 'x'), /block size bits 8/);
      expectInvalid(() => new ErofsImage(patched((b) => { b[1024 + 12] = 40; }), 'x'), /block size bits 40/);
    });

    it('a directory loop and a directory reachable twice', () => {
      const loop = patched((_, dv) => dv.setBigUint64(direntOffset('/nested/a', 'b'), 36n, true));
      expectInvalid(() => readImage(loop, 'x'), /directory loop/);
      expectInvalid(() => [...new ErofsImage(loop, 'x').walk()], /directory loop/);
      const files = small.lookup('/files')!.nid;
      const twice = patched((_, dv) => dv.setBigUint64(direntOffset('/nested/a/b', 'c'), BigInt(files), true));
      expectInvalid(() => readImage(twice, 'x'), /reachable by two paths/);
    });

    it('absurd sizes and counts', () => {
      const rand0 = small.lookup('/files/rand-0.bin')!;
      expectInvalid(() => readImage(patched((_, dv) => dv.setUint32(rand0.offset + 8, 0xffffffff, true)), 'x'), /data blocks .* beyond the end/);
      const last = small.lookup('/xattr/with-user-xattr.bin')!;
      expectInvalid(() => readImage(patched((_, dv) => dv.setUint16(last.offset + 2, 0xffff, true)), 'x'), /inline xattr area of 65535 slots/);
      const dir = small.lookup('/special')!;
      expectInvalid(() => readImage(patched((_, dv) => dv.setUint32(dir.offset + 8, 0x7fffffff, true)), 'x'), /directory size/);
      const sym = small.lookup('/links/sym-to-file')!;
      expectInvalid(() => readImage(patched((_, dv) => dv.setUint32(sym.offset + 8, 4000, true)), 'x'), /crosses a block boundary|beyond/);
      const shared = small.lookup('/files/dup-a.bin')!;
      const hdr = shared.offset + shared.inodeSize;
      // mkcomposefs shares the overlay xattrs of dup-a.bin (its object is shared with dup-b.bin).
      expect(base[hdr + 4]).toBeGreaterThan(0);
      expectInvalid(() => readImage(patched((_, dv) => dv.setUint32(hdr + 12, 0x7fffffff, true)), 'x'), /shared xattr id/);
      expectInvalid(() => readImage(patched((b) => { b[hdr + 4] = 255; }), 'x'), /shared xattr ids do not fit/);
    });

    it('bogus dirents, modes and xattr indexes', () => {
      const d = direntOffset('/special', 'fifo');
      expectInvalid(() => readImage(patched((_, dv) => dv.setUint16(d + 8, 0xfff0, true)), 'x'), /bogus name/);
      const first = small.readdir(small.lookup('/special')!)[0]!.offset;
      expectInvalid(() => readImage(patched((_, dv) => dv.setUint16(first + 8, 13, true)), 'x'), /invalid first name offset 13/);
      const fifo = small.lookup('/special/fifo')!;
      expectInvalid(() => readImage(patched((_, dv) => dv.setUint16(fifo.offset + 4, 0o170644, true)), 'x'), /bad file type/);
      expectInvalid(() => readImage(patched((_, dv) => dv.setUint16(fifo.offset, 1 << 1 | 0, true)), 'x'), /compressed data layout 1/);
      const root = small.root();
      const entry = root.offset + root.inodeSize + 12 + 4 * base[root.offset + root.inodeSize + 4]!;
      expectInvalid(() => readImage(patched((b) => { b[entry + 1] = 9; }), 'x'), /unknown xattr name index 9/);
      expectInvalid(() => readImage(patched((b) => { b[entry + 1] = 0x81; }), 'x'), /long xattr prefix 1 is not in the prefix table/);
    });

    it('long xattr name prefixes (index bit 0x80 and the prefix table)', () => {
      const root = small.root();
      const entry = root.offset + root.inodeSize + 12 + 4 * base[root.offset + root.inodeSize + 4]!;
      expect(text(small.xattrs(root)[0]!.rawName)).toBe('trusted.overlay.opaque');
      const img = patched((b, dv) => {
        dv.setUint32(1024 + 80, 0x40, true); // XATTR_PREFIXES
        b[1024 + 91] = 2; // two prefixes
        dv.setUint32(1024 + 92, 512 / 4, true); // table at byte 512 (zero padding after the header)
        dv.setUint16(512, 1, true); // prefix 0: base 4 ("trusted."), no infix
        b[514] = 4;
        dv.setUint16(516, 9, true); // prefix 1: base 4 + "overlay."
        b[518] = 4;
        b.set(Buffer.from('overlay.'), 519);
        b[entry + 1] = 0x81; // root's trusted.overlay.opaque → trusted. + overlay. + overlay.opaque
      });
      const view = readImage(img, 'x');
      expect(text(view.erofs.xattrs(view.erofs.root())[0]!.rawName)).toBe('trusted.overlay.overlay.opaque');
      expect(view.root.xattrs.map((x) => `${x.name}=${text(x.value)}`)).toEqual(['trusted.overlay.opaque=y']);
      const img0 = patched((b, dv) => {
        dv.setUint32(1024 + 80, 0x40, true);
        b[1024 + 91] = 1;
        dv.setUint32(1024 + 92, 512 / 4, true);
        dv.setUint16(512, 1, true);
        b[514] = 4;
        b[entry + 1] = 0x80;
      });
      const i0 = new ErofsImage(img0, 'x');
      expect(text(i0.xattrs(i0.root())[0]!.rawName)).toBe('trusted.overlay.opaque');
    });

    it('a plain EROFS image (no composefs header) is readable, but not when composefs is required', () => {
      const plain = patched((b) => b.fill(0, 0, 32));
      const view = readImage(plain, 'plain');
      expect(view.header).toBeNull();
      expect(view.objects().length).toBe(17);
      expect(() => readImage(plain, 'plain', { requireComposefs: true })).toThrow(/without a composefs header/);
      try {
        readImage(plain, 'plain', { requireComposefs: true });
      } catch (e) {
        expect((e as VeritreeError).code).toBe('not-composefs');
      }
    });
  });
});

// --- synthetic images: features composefs does not write ---------------------------------------

const BLK = 4096;

interface InodeSpec {
  ext?: boolean;
  layout: number;
  mode: number;
  size: number;
  iu?: number;
  nlink?: number;
  uid?: number;
  gid?: number;
  mtime?: bigint;
  nsec?: number;
  icount?: number;
}

/** Writes a minimal composefs-style EROFS image by hand: 4 KiB blocks, metadata from block 0. */
class ImageBuilder {
  readonly buf: Uint8Array;
  readonly dv: DataView;
  constructor(blocks: number, rootNid: number, xattrBlock: number) {
    this.buf = new Uint8Array(blocks * BLK);
    this.dv = new DataView(this.buf.buffer);
    this.dv.setUint32(0, 0xd078629a, true);
    this.dv.setUint32(4, 1, true);
    const sb = 1024;
    this.dv.setUint32(sb, 0xe0f5e1e2, true);
    this.dv.setUint32(sb + 8, 0x2, true);
    this.buf[sb + 12] = 12;
    this.dv.setUint16(sb + 14, rootNid, true);
    this.dv.setBigUint64(sb + 24, 1_600_000_000n, true);
    this.dv.setUint32(sb + 32, 42, true);
    this.dv.setUint32(sb + 36, blocks, true);
    this.dv.setUint32(sb + 44, xattrBlock, true);
  }
  /** Writes inode `nid`; returns the offset right after it (where xattrs / tail / chunk table go). */
  inode(nid: number, s: InodeSpec): number {
    const at = nid * 32;
    const dv = this.dv;
    dv.setUint16(at, (s.layout << 1) | (s.ext ? 1 : 0), true);
    dv.setUint16(at + 2, s.icount ?? 0, true);
    dv.setUint16(at + 4, s.mode, true);
    dv.setUint32(at + 16, s.iu ?? 0, true);
    if (s.ext) {
      dv.setUint16(at + 6, 0, true);
      dv.setBigUint64(at + 8, BigInt(s.size), true);
      dv.setUint32(at + 24, s.uid ?? 0, true);
      dv.setUint32(at + 28, s.gid ?? 0, true);
      dv.setBigUint64(at + 32, s.mtime ?? 0n, true);
      dv.setUint32(at + 40, s.nsec ?? 0, true);
      dv.setUint32(at + 44, s.nlink ?? 1, true);
      return at + 64;
    }
    dv.setUint16(at + 6, s.nlink ?? 1, true);
    dv.setUint32(at + 8, s.size, true);
    dv.setUint16(at + 24, s.uid ?? 0, true);
    dv.setUint16(at + 26, s.gid ?? 0, true);
    return at + 32;
  }
  /** Writes one directory block at `at`; returns its length. */
  dirBlock(at: number, entries: [string, number, number][]): number {
    let nameoff = entries.length * 12;
    entries.forEach(([name, nid, type], i) => {
      this.dv.setBigUint64(at + i * 12, BigInt(nid), true);
      this.dv.setUint16(at + i * 12 + 8, nameoff, true);
      this.buf[at + i * 12 + 10] = type;
      this.buf.set(Buffer.from(name), at + nameoff);
      nameoff += Buffer.byteLength(name);
    });
    return nameoff;
  }
  /** Writes one xattr entry at `at`; returns its padded size. */
  xattr(at: number, index: number, suffix: string, value: string): number {
    const n = Buffer.from(suffix);
    const v = Buffer.from(value);
    this.buf[at] = n.length;
    this.buf[at + 1] = index;
    this.dv.setUint16(at + 2, v.length, true);
    this.buf.set(n, at + 4);
    this.buf.set(v, at + 4 + n.length);
    return Math.ceil((4 + n.length + v.length) / 4) * 4;
  }
}

const NID = { root: 36, bigdir: 48, chunky: 72, ext: 76, fifo: 84, sock: 85, blk: 86, linkInline: 87, linkPlain: 89 };
const FIFO_NAMES = Array.from({ length: 300 }, (_, i) => `f${String(i).padStart(3, '0')}`);
const BLK_RDEV = (300 & 0xff) | (259 << 8) | ((300 & ~0xff) << 12);

/** root/{bigdir/f000..f299 (hard links to one fifo), blk, chunky, ext-file, fifo, link-inline, link-plain, sock}. */
function buildSynthetic(): ImageBuilder {
  const b = new ImageBuilder(7, NID.root, 1);
  // root: FLAT_INLINE directory with its entries inline.
  const rootEntries: [string, number, number][] = [
    ['.', NID.root, 2], ['..', NID.root, 2], ['bigdir', NID.bigdir, 2], ['blk', NID.blk, 4], ['chunky', NID.chunky, 1],
    ['ext-file', NID.ext, 1], ['fifo', NID.fifo, 5], ['link-inline', NID.linkInline, 7], ['link-plain', NID.linkPlain, 7],
    ['sock', NID.sock, 6],
  ];
  const rootTail = b.inode(NID.root, { layout: 2, mode: 0o40755, size: 0, nlink: 3 });
  const rootSize = b.dirBlock(rootTail, rootEntries);
  b.dv.setUint32(NID.root * 32 + 8, rootSize, true);
  // bigdir: one full block (block 2) plus an inline tail: a multi-block FLAT_INLINE directory.
  const inBlock = FIFO_NAMES.slice(0, 254);
  const inTail = FIFO_NAMES.slice(254);
  b.dirBlock(2 * BLK, [['.', NID.bigdir, 2], ['..', NID.root, 2], ...inBlock.map((n): [string, number, number] => [n, NID.fifo, 5])]);
  const bigTail = b.inode(NID.bigdir, { layout: 2, mode: 0o40700, size: 0, iu: 2, nlink: 2 });
  const tailLen = b.dirBlock(bigTail, inTail.map((n): [string, number, number] => [n, NID.fifo, 5]));
  b.dv.setUint32(NID.bigdir * 32 + 8, BLK + tailLen, true);
  // chunky: chunk-based with 8-byte indexes: [hole, block 3, block 4], size 3 blocks - 100.
  const table = b.inode(NID.chunky, { layout: 4, mode: 0o100600, size: 3 * BLK - 100, iu: 0x20 });
  b.dv.setUint32(table + 4, 0xffffffff, true);
  b.dv.setUint32(table + 8 + 4, 3, true);
  b.dv.setUint32(table + 16 + 4, 4, true);
  b.buf.fill(0x33, 3 * BLK, 4 * BLK);
  b.buf.fill(0x44, 4 * BLK, 5 * BLK);
  // ext-file: extended inode, big ids, own mtime; inline xattrs + one shared xattr (id 0 at block 1).
  const xbody = b.inode(NID.ext, { ext: true, layout: 0, mode: 0o100644, size: 10, iu: 5, uid: 100000, gid: 200000, mtime: 1234567890n, nsec: 987654321, nlink: 1, icount: 8 });
  b.buf[xbody + 4] = 1;
  b.dv.setUint32(xbody + 12, 0, true);
  let at = xbody + 16;
  at += b.xattr(at, 1, 'a', '1');
  at += b.xattr(at, 0, 'weird.name', 'v');
  expect(at - xbody).toBe(12 + 4 * 7);
  b.xattr(BLK, 6, 'selinux', 'ctx');
  b.buf.set(Buffer.from('0123456789'), 5 * BLK);
  // fifo (300 hard links + 1), socket, block device with a large major/minor.
  b.inode(NID.fifo, { layout: 0, mode: 0o10644, size: 0, nlink: 301 });
  b.inode(NID.sock, { layout: 0, mode: 0o140755, size: 0 });
  b.inode(NID.blk, { layout: 0, mode: 0o60640, size: 0, iu: BLK_RDEV });
  // symlinks: inline (fast) and in a data block (block 6).
  const linkTail = b.inode(NID.linkInline, { layout: 2, mode: 0o120777, size: 13 });
  b.buf.set(Buffer.from('target/inline'), linkTail);
  b.inode(NID.linkPlain, { layout: 0, mode: 0o120777, size: 3000, iu: 6 });
  b.buf.fill(0x61, 6 * BLK, 6 * BLK + 3000);
  return b;
}

describe('synthetic images (extended inodes, multi-block dirs, chunk indexes, plain symlinks)', () => {
  const built = buildSynthetic();
  const img = new ErofsImage(built.buf, 'synthetic');
  const view = readImage(built.buf, 'synthetic');
  const node = (p: string): ComposefsNode => view.lookup(p)!;

  it('reads a directory from a full block plus an inline tail', () => {
    const big = img.lookup('/bigdir')!;
    expect(big.size).toBeGreaterThan(BLK);
    expect(img.readdir(big).map((d) => text(d.name))).toEqual(['.', '..', ...FIFO_NAMES]);
    expect(node('/bigdir').children.map((c) => text(c.name))).toEqual(FIFO_NAMES);
  });

  it('the first name reached depth-first owns a hard-linked inode', () => {
    // bigdir is entered (dirent order) before root's "fifo" entry is reached.
    expect(node('/bigdir/f000').hardlinkTarget).toBeNull();
    expect(node('/bigdir/f001').hardlinkTarget).toBe(node('/bigdir/f000'));
    expect(node('/fifo').hardlinkTarget).toBe(node('/bigdir/f000'));
    const line = formatDumpLine(dumpRecord(Buffer.from('/fifo'), node('/fifo')));
    expect(line).toBe('/fifo 0 @10644 301 0 0 0 1600000000.42 /bigdir/f000 - -');
  });

  it('extended inode fields, inline then shared xattrs, index 0 full names', () => {
    const ext = img.lookup('/ext-file')!;
    expect(ext.compact).toBe(false);
    expect([ext.uid, ext.gid, ext.nlink, ext.mtime.sec, ext.mtime.nsec]).toEqual([100000, 200000, 1, 1234567890n, 987654321]);
    expect(img.xattrs(ext).map((x) => [x.name, text(x.value), x.shared])).toEqual([
      ['user.a', '1', false], ['weird.name', 'v', false], ['security.selinux', 'ctx', true],
    ]);
    expect(text(img.readData(ext))).toBe('0123456789');
    expect(formatDumpLine(dumpRecord(Buffer.from('/ext-file'), node('/ext-file'))))
      .toBe('/ext-file 10 100644 1 100000 200000 0 1234567890.987654321 - 0123456789 - user.a=1 weird.name=v security.selinux=ctx');
  });

  it('compact inodes take their mtime from the superblock', () => {
    expect(node('/sock').mtime).toEqual({ sec: 1600000000n, nsec: 42 });
  });

  it('chunk-based data with 8-byte chunk indexes and a hole', () => {
    const c = img.lookup('/chunky')!;
    expect(c.chunks).toMatchObject({ indexes: true, entrySize: 8, count: 3, chunkBits: 12 });
    const data = img.readData(c);
    expect(data.length).toBe(3 * BLK - 100);
    expect(data.subarray(0, BLK).every((x) => x === 0)).toBe(true);
    expect(data.subarray(BLK, 2 * BLK).every((x) => x === 0x33)).toBe(true);
    expect(data.subarray(2 * BLK).every((x) => x === 0x44)).toBe(true);
    expect(text(img.readData(c, BLK - 2, 4))).toBe('\0\0\x33\x33');
    expect(node('/chunky').content).toBeNull();
  });

  it('symlinks inline and in a data block; devices, fifos, sockets', () => {
    expect(text(node('/link-inline').payload)).toBe('target/inline');
    expect(text(node('/link-plain').payload)).toBe('a'.repeat(3000));
    expect(decodeDev(node('/blk').rdev)).toEqual({ major: 259, minor: 300 });
    expect(node('/blk').inode.type).toBe('block-device');
    expect(node('/sock').inode.type).toBe('socket');
    expect(node('/fifo').inode.type).toBe('fifo');
  });

  const mutated = (fn: (b: ImageBuilder) => void): Uint8Array => {
    const b = buildSynthetic();
    fn(b);
    return b.buf;
  };

  it('refuses a chunk on an extra device and a 48-bit chunk format', () => {
    const dev = mutated((b) => b.dv.setUint16(NID.chunky * 32 + 32 + 8 + 2, 1, true));
    expectInvalid(() => new ErofsImage(dev, 'x').readData(new ErofsImage(dev, 'x').lookup('/chunky')!), /extra device 1/);
    expectInvalid(() => readImage(mutated((b) => b.dv.setUint16(NID.chunky * 32 + 16, 0x60, true)), 'x'), /unsupported chunk format 0x60 \(48-bit\)/);
  });

  it('refuses an inline tail that crosses a block boundary', () => {
    const bad = mutated((b) => b.dv.setUint32(NID.linkInline * 32 + 8, 4000, true));
    expectInvalid(() => readImage(bad, 'x'), /inline data of 4000 bytes crosses a block boundary/);
  });

  it('refuses a loop through a subdirectory entry', () => {
    const bad = mutated((b) => b.dv.setBigUint64(2 * BLK + 2 * 12, BigInt(NID.root), true));
    expectInvalid(() => readImage(bad, 'x'), /directory loop: directory inode 36/);
  });

  it('refuses duplicate names in a directory', () => {
    const bad = mutated((b) => b.buf.set(Buffer.from('f000'), 2 * BLK + 256 * 12 + 3 + 4));
    expectInvalid(() => readImage(bad, 'x'), /duplicate name "f000"/);
  });

  it("refuses a name containing '/'", () => {
    const bad = mutated((b) => b.buf.set(Buffer.from('f/01'), 2 * BLK + 256 * 12 + 3 + 4));
    expectInvalid(() => readImage(bad, 'x'), /dirent 3 name contains '\/'/);
  });

  it('bounds the work done on directories that share data blocks', () => {
    // Twelve directories all pointing at bigdir's data block: 12 x 254 entries, more than a
    // 28 KiB image could store without sharing.
    const bad = mutated((b) => {
      for (let i = 2; i < 256; i++) b.dv.setBigUint64(2 * BLK + i * 12, BigInt(NID.linkInline), true);
      const tail = NID.bigdir * 32 + 32;
      for (let i = 0; i < 46; i++) b.dv.setBigUint64(tail + i * 12, BigInt(i < 12 ? 90 + i : NID.linkInline), true);
      for (let i = 0; i < 12; i++) b.inode(90 + i, { layout: 0, mode: 0o40700, size: BLK, iu: 2, nlink: 2 });
    });
    expectInvalid(() => readImage(bad, 'x'), /more directory entries than a 28672-byte image can hold/);
    expectInvalid(() => [...new ErofsImage(bad, 'x').walk()], /more directory entries/);
  });
});
