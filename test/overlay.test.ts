/**
 * Overlay verity parsing and validation (src/overlay): the metacopy / redirect / legacy parsers
 * against every case the kernel distinguishes (fs/overlayfs/util.c `ovl_check_metacopy_xattr`,
 * `ovl_get_redirect_xattr`, `ovl_validate_verity`; namei.c `ovl_lookup`,
 * `ovl_lookup_data_layer`), random-input properties, and `check-overlay` on a real directory
 * carrying user.overlay.* xattrs set with the kernel bindings.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as checkOverlay } from '../src/cli/check-overlay.js';
import { setXattrSync } from '../src/kernel/index.js';
import { digestBytes } from '../src/merkle/file.js';
import { analyzeEntry } from '../src/overlay/analyze.js';
import type { LowerEntry } from '../src/overlay/lower.js';
import { choosePrefix } from '../src/overlay/lower.js';
import { parseLegacyVerity } from '../src/overlay/legacy.js';
import { formatMetacopy, parseMetacopy } from '../src/overlay/metacopy.js';
import { parseRedirect } from '../src/overlay/redirect.js';
import { openDataLayers, resolveInLayers } from '../src/overlay/resolve.js';
import { memoryIO } from './helpers/cli.js';

const bytes = (...b: number[]) => Uint8Array.from(b);
const ascii = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));
const D32 = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const D64 = Uint8Array.from({ length: 64 }, (_, i) => 255 - i);
const header = (version: number, len: number, flags: number, algo: number, digest: Uint8Array) => Uint8Array.from([version, len, flags, algo, ...digest]);

describe('parseMetacopy (ovl_check_metacopy_xattr + ovl_validate_verity)', () => {
  it('absent xattr: not a metacopy file', () => {
    expect(parseMetacopy(undefined)).toEqual({ kind: 'absent' });
  });
  it('empty value: metacopy without digest (the pre-6.6 format)', () => {
    expect(parseMetacopy(new Uint8Array(0))).toMatchObject({ kind: 'no-digest' });
  });
  it.each([1, 2, 3])('%i bytes: EIO at lookup ("has too small xattr")', (n) => {
    expect(parseMetacopy(new Uint8Array(n))).toMatchObject({ kind: 'invalid', when: 'lookup' });
  });
  it('exactly the 4-byte header: no digest, its fields never read (OVL_HAS_DIGEST needs > 4 bytes)', () => {
    expect(parseMetacopy(bytes(0, 4, 0, 1))).toMatchObject({ kind: 'no-digest' });
    expect(parseMetacopy(bytes(7, 99, 0xff, 9))).toMatchObject({ kind: 'no-digest' });
  });
  it('SHA-256: 00 24 00 01 + 32 bytes (what mkcomposefs writes)', () => {
    const m = parseMetacopy(header(0, 36, 0, 1, D32));
    expect(m).toMatchObject({ kind: 'digest', algorithm: 1, hashAlg: 'sha256', flags: 0 });
    expect(m.kind === 'digest' && Buffer.from(m.digest).equals(Buffer.from(D32))).toBe(true);
  });
  it('SHA-512: 68 bytes, the maximum', () => {
    expect(parseMetacopy(header(0, 68, 0, 2, D64))).toMatchObject({ kind: 'digest', algorithm: 2, hashAlg: 'sha512' });
  });
  it('longer than 68 bytes: the kernel read fails with ERANGE', () => {
    const v = new Uint8Array(69);
    v[1] = 69;
    v[3] = 2;
    expect(parseMetacopy(v)).toMatchObject({ kind: 'invalid', when: 'open', reason: expect.stringContaining('ERANGE') });
  });
  it('version != 0: EIO on open ("unsupported version")', () => {
    expect(parseMetacopy(header(1, 36, 0, 1, D32))).toMatchObject({ kind: 'invalid', when: 'open', reason: expect.stringContaining('version') });
  });
  it('len != xattr size: EIO on open ("invalid xattr size")', () => {
    expect(parseMetacopy(header(0, 35, 0, 1, D32))).toMatchObject({ kind: 'invalid', when: 'open', reason: expect.stringContaining('len') });
    expect(parseMetacopy(header(0, 68, 0, 1, D32))).toMatchObject({ kind: 'invalid', when: 'open' });
  });
  it('digest_algo 0 with digest bytes: no digest (ovl_validate_verity checks the algorithm first)', () => {
    expect(parseMetacopy(header(0, 36, 0, 0, D32))).toMatchObject({ kind: 'no-digest' });
  });
  it('unknown algorithm or a digest length that does not fit it: no file can match (EIO)', () => {
    expect(parseMetacopy(header(0, 36, 0, 3, D32))).toMatchObject({ kind: 'invalid', when: 'open', reason: expect.stringContaining('algorithm 3') });
    expect(parseMetacopy(header(0, 68, 0, 1, D64))).toMatchObject({ kind: 'invalid', when: 'open' });
    expect(parseMetacopy(header(0, 36, 0, 2, D32))).toMatchObject({ kind: 'invalid', when: 'open' });
    expect(parseMetacopy(header(0, 5, 0, 1, bytes(1)))).toMatchObject({ kind: 'invalid', when: 'open' });
  });
  it('flags are carried but not checked (the kernel defines none and ignores them)', () => {
    expect(parseMetacopy(header(0, 36, 0x80, 1, D32))).toMatchObject({ kind: 'digest', flags: 0x80 });
  });
  it('formatMetacopy round-trips and guards its arguments', () => {
    expect(Buffer.from(formatMetacopy(1, D32)).subarray(0, 4)).toEqual(Buffer.from([0, 0x24, 0, 1]));
    expect(parseMetacopy(formatMetacopy(2, D64))).toMatchObject({ kind: 'digest', hashAlg: 'sha512' });
    expect(() => formatMetacopy(3, D32)).toThrow(RangeError);
    expect(() => formatMetacopy(1, D64)).toThrow(RangeError);
    expect(() => parseMetacopy('x' as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe('parseRedirect (ovl_get_redirect_xattr, getname_kernel)', () => {
  it('absent and empty', () => {
    expect(parseRedirect(undefined)).toEqual({ kind: 'absent' });
    expect(parseRedirect(new Uint8Array(0))).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('empty') });
  });
  it('absolute: components in order, . and .. kept for the walk', () => {
    const components = (v: string): string[] => {
      const r = parseRedirect(ascii(v));
      if (r.kind !== 'absolute') throw new Error(`${v}: parsed as ${r.kind}, not absolute`);
      return r.components.map((c) => Buffer.from(c).toString());
    };
    expect(components('/3d/8240dfa4')).toEqual(['3d', '8240dfa4']);
    expect(components('/a/./../b')).toEqual(['a', '.', '..', 'b']);
  });
  it.each(['/', '//a', '/a//b', '/a/', '/a/b//'])('%j: empty component → EINVAL', (v) => {
    expect(parseRedirect(ascii(v))).toMatchObject({ kind: 'invalid' });
  });
  it('relative: one name without "/"; with "/" → EINVAL', () => {
    expect(parseRedirect(ascii('other-name'))).toEqual({ kind: 'relative', text: 'other-name' });
    expect(parseRedirect(ascii('a/b'))).toMatchObject({ kind: 'invalid' });
    expect(parseRedirect(ascii('..'))).toEqual({ kind: 'relative', text: '..' });
  });
  it('C string: cut at the first NUL', () => {
    const r = parseRedirect(Uint8Array.from([...ascii('/ab'), 0, ...ascii('/../../x')]));
    expect(r).toMatchObject({ kind: 'absolute', text: '/ab' });
    expect(parseRedirect(Uint8Array.from([0, ...ascii('/x')]))).toEqual({ kind: 'relative', text: '' });
  });
  it('length limits: PATH_MAX for the whole name, NAME_MAX per component (ENAMETOOLONG)', () => {
    expect(parseRedirect(ascii(`/${'a'.repeat(255)}`)).kind).toBe('absolute');
    expect(parseRedirect(ascii(`/${'a'.repeat(256)}`))).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('NAME_MAX') });
    const long = `/${Array.from({ length: 20 }, () => 'b'.repeat(204)).join('/')}`;
    expect(long.length).toBeGreaterThanOrEqual(4096);
    expect(parseRedirect(ascii(long))).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('PATH_MAX') });
    // redirect_max (256) limits what overlayfs writes, not what it reads.
    expect(parseRedirect(ascii(`/${'c'.repeat(200)}/${'d'.repeat(200)}`)).kind).toBe('absolute');
  });
});

describe('parseLegacyVerity (composefs 0.1.x trusted.overlay.verity)', () => {
  it('raw 32 or 64-byte digests; anything else is not understood', () => {
    expect(parseLegacyVerity(undefined)).toEqual({ kind: 'absent' });
    expect(parseLegacyVerity(D32)).toMatchObject({ kind: 'digest', algorithm: 1, hashAlg: 'sha256' });
    expect(parseLegacyVerity(D64)).toMatchObject({ kind: 'digest', algorithm: 2, hashAlg: 'sha512' });
    expect(parseLegacyVerity(Uint8Array.from([4, ...D32]))).toMatchObject({ kind: 'unrecognized' });
  });
});

describe('parsers on random bytes: a clean result or a clean error, never an exception', () => {
  it('parseMetacopy', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (v) => {
        const m = parseMetacopy(v);
        if (m.kind === 'digest') {
          expect(v.length).toBeGreaterThan(4);
          expect(v[0]).toBe(0);
          expect(v[1]).toBe(v.length);
          expect(m.digest.length).toBe(m.hashAlg === 'sha256' ? 32 : 64);
        }
        if (m.kind === 'invalid') expect(m.reason.length).toBeGreaterThan(0);
        expect(['no-digest', 'digest', 'invalid']).toContain(m.kind);
      }),
      { numRuns: 3000 },
    );
  });
  it('parseMetacopy on well-formed headers with random fields', () => {
    fc.assert(
      fc.property(fc.nat(3), fc.nat(255), fc.nat(3), fc.uint8Array({ minLength: 1, maxLength: 64 }), (version, flags, algo, digest) => {
        const m = parseMetacopy(header(version, digest.length + 4, flags, algo, digest));
        const good = version === 0 && (algo === 0 || (algo === 1 && digest.length === 32) || (algo === 2 && digest.length === 64));
        expect(m.kind !== 'invalid').toBe(good);
      }),
      { numRuns: 3000 },
    );
  });
  it('parseRedirect', () => {
    const alphabet = fc.constantFrom(0x2f, 0x2e, 0x61, 0x00, 0xff);
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.array(alphabet, { maxLength: 24 }).map((a) => Uint8Array.from(a))), (v) => {
        const r = parseRedirect(v);
        seen.set(r.kind, (seen.get(r.kind) ?? 0) + 1);
        if (r.kind === 'absolute') {
          const cut = v.indexOf(0) === -1 ? v : v.subarray(0, v.indexOf(0));
          const rebuilt = Buffer.concat(r.components.flatMap((c) => [Buffer.from('/'), Buffer.from(c)]));
          expect(rebuilt.equals(Buffer.from(cut))).toBe(true);
          for (const c of r.components) {
            expect(c.length).toBeGreaterThan(0);
            expect(c.includes(0x2f) || c.includes(0)).toBe(false);
          }
        }
        if (r.kind === 'relative') expect(r.text.includes('/')).toBe(false);
      }),
      { numRuns: 3000 },
    );
    // Every branch above was really exercised, not just the invalid inputs.
    for (const kind of ['absolute', 'relative', 'invalid']) expect(seen.get(kind) ?? 0, kind).toBeGreaterThan(50);
  });
});

describe('analyzeEntry: which xattrs count', () => {
  const redirect = ascii('/ab/cdef');
  const entry = (xattrs: Record<string, Uint8Array>): LowerEntry => ({ path: '/f', type: 'file', xattrs: new Map(Object.entries(xattrs)) });

  it('escaped trusted.overlay.overlay.* are the layer\'s own xattrs, never interpreted', () => {
    const e = entry({ 'trusted.overlay.overlay.metacopy': new Uint8Array(1), 'trusted.overlay.overlay.redirect': ascii('//bad') });
    expect(analyzeEntry(e, 'trusted', 'require')).toEqual({ findings: [] });
    expect(choosePrefix([e], 'auto')).toBe('trusted');
  });
  it('only the mount\'s prefix is read', () => {
    const e = entry({ 'user.overlay.metacopy': formatMetacopy(1, D32), 'user.overlay.redirect': redirect });
    expect(analyzeEntry(e, 'trusted', 'require').request).toBeUndefined();
    expect(analyzeEntry(e, 'user', 'require').request).toMatchObject({ redirect: '/ab/cdef', expected: { hashAlg: 'sha256' } });
    expect(choosePrefix([e], 'auto')).toBe('user');
  });
  it('verity=on accepts a metacopy without digest, require refuses it (EIO)', () => {
    const e = entry({ 'trusted.overlay.metacopy': new Uint8Array(0), 'trusted.overlay.redirect': redirect });
    expect(analyzeEntry(e, 'trusted', 'on').findings).toEqual([]);
    expect(analyzeEntry(e, 'trusted', 'on').request?.expected).toBeUndefined();
    expect(analyzeEntry(e, 'trusted', 'require').findings.map((f) => f.code)).toEqual(['metacopy-no-digest']);
  });
  it('a metacopy file needs an absolute redirect to reach the data layers', () => {
    for (const r of [undefined, ascii('sibling')]) {
      const e = entry({ 'trusted.overlay.metacopy': formatMetacopy(1, D32), ...(r ? { 'trusted.overlay.redirect': r } : {}) });
      expect(analyzeEntry(e, 'trusted', 'on').findings.map((f) => f.code)).toEqual(['redirect-invalid']);
    }
  });
  it('directories: an invalid redirect breaks the lookup unless the directory is opaque', () => {
    const dir = (x: Record<string, Uint8Array>): LowerEntry => ({ path: '/d', type: 'directory', xattrs: new Map(Object.entries(x)) });
    expect(analyzeEntry(dir({ 'trusted.overlay.redirect': ascii('/a//b') }), 'trusted', 'on').findings.map((f) => f.code)).toEqual(['redirect-invalid']);
    expect(analyzeEntry(dir({ 'trusted.overlay.redirect': ascii('/a//b'), 'trusted.overlay.opaque': ascii('y') }), 'trusted', 'on').findings).toEqual([]);
  });
  it('legacy overlay.verity: a warning, still the digest to check', () => {
    const e = entry({ 'trusted.overlay.metacopy': new Uint8Array(0), 'trusted.overlay.redirect': redirect, 'trusted.overlay.verity': D32 });
    const a = analyzeEntry(e, 'trusted', 'on');
    expect(a.findings.map((f) => [f.code, f.severity])).toEqual([['legacy-verity-xattr', 'warning']]);
    expect(a.request?.expected).toMatchObject({ source: 'legacy', hashAlg: 'sha256' });
    expect(analyzeEntry(e, 'trusted', 'require').findings.map((f) => f.code)).toEqual(['legacy-verity-xattr', 'metacopy-no-digest']);
  });
});

// ---- on disk: data layers and check-overlay ----

let work: string;
const objectsOf = new Map<string, { hex: string; payload: string }>();

function storeObject(dataDir: string, content: Buffer): { hex: string; payload: string } {
  const hex = digestBytes(content).hex;
  const payload = `${hex.slice(0, 2)}/${hex.slice(2)}`;
  fs.mkdirSync(path.join(dataDir, hex.slice(0, 2)), { recursive: true });
  fs.writeFileSync(path.join(dataDir, payload), content, { mode: 0o644 });
  return { hex, payload };
}

/** A lower file with user.overlay.* xattrs (as an unprivileged overlay with userxattr reads them). */
function metacopyFile(lower: string, rel: string, x: { metacopy?: Uint8Array; redirect?: string | Uint8Array; verity?: Uint8Array; extra?: Record<string, Uint8Array> }): void {
  const p = path.join(lower, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, '');
  if (x.metacopy) setXattrSync(p, 'user.overlay.metacopy', x.metacopy);
  if (x.redirect !== undefined) setXattrSync(p, 'user.overlay.redirect', typeof x.redirect === 'string' ? ascii(x.redirect) : x.redirect);
  if (x.verity) setXattrSync(p, 'user.overlay.verity', x.verity);
  for (const [k, v] of Object.entries(x.extra ?? {})) setXattrSync(p, k, v);
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-overlay-'));
  const data = path.join(work, 'data');
  const data2 = path.join(work, 'data2');
  const lower = path.join(work, 'lower');
  const outside = path.join(work, 'outside');
  for (const d of [data, data2, lower, outside]) fs.mkdirSync(d);
  const contents = {
    good: Buffer.alloc(10000, 7),
    other: Buffer.from('something else entirely, long enough to be an object: 0123456789'.repeat(3)),
    onlyInSecond: Buffer.alloc(5000, 3),
    escaped: Buffer.alloc(300, 9),
  };
  for (const [k, v] of Object.entries(contents)) objectsOf.set(k, storeObject(k === 'onlyInSecond' ? data2 : data, v));
  const good = objectsOf.get('good')!;
  const only2 = objectsOf.get('onlyInSecond')!;
  // An object outside the data layer, reachable only through a symlink or "..".
  fs.mkdirSync(path.join(outside, 'x'));
  fs.writeFileSync(path.join(outside, 'x', 'obj'), contents.good);
  fs.symlinkSync(path.join(outside, 'x'), path.join(data, 'evil'));
  fs.symlinkSync(path.join(data, good.payload), path.join(data, 'link-to-good'));
  fs.mkdirSync(path.join(data, 'a-directory'));

  const sha = (o: { hex: string }) => formatMetacopy(1, Buffer.from(o.hex, 'hex'));
  metacopyFile(lower, 'ok/good', { metacopy: sha(good), redirect: `/${good.payload}` });
  metacopyFile(lower, 'ok/dotdot-inside', { metacopy: sha(good), redirect: `/${good.payload.slice(0, 2)}/../${good.payload}` });
  metacopyFile(lower, 'ok/second-layer', { metacopy: sha(only2), redirect: `/${only2.payload}` });
  metacopyFile(lower, 'ok/no-digest', { metacopy: new Uint8Array(0), redirect: `/${good.payload}` });
  metacopyFile(lower, 'ok/legacy-good', { metacopy: new Uint8Array(0), redirect: `/${good.payload}`, verity: Buffer.from(good.hex, 'hex') });
  // The layer's own, escaped overlay xattrs: an ordinary file with inline data.
  metacopyFile(lower, 'ok/escaped', { extra: { 'user.overlay.overlay.metacopy': new Uint8Array(2), 'user.overlay.overlay.redirect': ascii('//x') } });
  fs.writeFileSync(path.join(lower, 'ok', 'plain-inline'), 'just data');
  fs.symlinkSync('/etc/passwd', path.join(lower, 'ok', 'a-symlink'));

  metacopyFile(lower, 'bad/mismatch', { metacopy: sha(objectsOf.get('other')!), redirect: `/${good.payload}` });
  metacopyFile(lower, 'bad/missing', { metacopy: sha(good), redirect: '/00/0000000000000000000000000000000000000000000000000000000000000' });
  metacopyFile(lower, 'bad/dotdot-escape', { metacopy: sha(good), redirect: '/../outside/x/obj' });
  metacopyFile(lower, 'bad/double-slash', { metacopy: sha(good), redirect: `//${good.payload}` });
  metacopyFile(lower, 'bad/symlink-escape', { metacopy: sha(good), redirect: '/evil/obj' });
  metacopyFile(lower, 'bad/final-symlink', { metacopy: sha(good), redirect: '/link-to-good' });
  metacopyFile(lower, 'bad/directory', { metacopy: sha(good), redirect: '/a-directory' });
  metacopyFile(lower, 'bad/relative', { metacopy: sha(good), redirect: 'sibling' });
  metacopyFile(lower, 'bad/tiny-metacopy', { metacopy: bytes(0, 1), redirect: `/${good.payload}` });
  metacopyFile(lower, 'bad/bad-version', { metacopy: header(1, 36, 0, 1, Buffer.from(good.hex, 'hex')), redirect: `/${good.payload}` });
  metacopyFile(lower, 'bad/legacy-wrong', { metacopy: new Uint8Array(0), redirect: `/${good.payload}`, verity: D32 });
});

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('resolveInLayers (LOOKUP_BENEATH | LOOKUP_NO_SYMLINKS | LOOKUP_NO_XDEV)', () => {
  const comps = (s: string) => s.split('/').filter(Boolean).map((c) => ascii(c));
  it('first layer that has the file wins; ".." inside the layer is fine', async () => {
    const layers = await openDataLayers([path.join(work, 'data'), path.join(work, 'data2')]);
    const good = objectsOf.get('good')!;
    expect(await resolveInLayers(layers, comps(good.payload))).toMatchObject({ ok: true, layer: layers[0]!.root });
    expect(await resolveInLayers(layers, comps(`${good.payload.slice(0, 2)}/../${good.payload}`))).toMatchObject({ ok: true });
    expect(await resolveInLayers(layers, comps(objectsOf.get('onlyInSecond')!.payload))).toMatchObject({ ok: true, layer: layers[1]!.root });
  });
  it('escapes and non-files are refused in every layer', async () => {
    const layers = await openDataLayers([path.join(work, 'data')]);
    const kinds = async (s: string) => {
      const r = await resolveInLayers(layers, comps(s));
      return r.ok ? 'ok' : r.misses.map((m) => m.kind).join(',');
    };
    expect(await kinds('../outside/x/obj')).toBe('escapes');
    expect(await kinds('evil/obj')).toBe('escapes');
    expect(await kinds('link-to-good')).toBe('not-regular');
    expect(await kinds('a-directory')).toBe('not-regular');
    expect(await kinds('a-directory/..')).toBe('not-regular');
    expect(await kinds('nope/x')).toBe('missing');
  });
  it('a data layer that is not a directory is refused up front', async () => {
    await expect(openDataLayers([path.join(work, 'nonexistent')])).rejects.toMatchObject({ code: 'data-layer-unusable' });
  });
});

describe('veritree check-overlay on a directory with user.overlay.* xattrs', () => {
  async function check(args: string[]) {
    const c = memoryIO();
    const status = await checkOverlay(args, c.io);
    return { status, out: c.out(), err: c.err() };
  }
  const byPath = (json: string) => {
    const doc = JSON.parse(json) as { findings: { path: string; code: string; severity: string }[]; summary: Record<string, unknown> };
    const m = new Map<string, string[]>();
    for (const f of doc.findings) m.set(f.path, [...(m.get(f.path) ?? []), f.code]);
    return { doc, m };
  };

  it('flags exactly the broken files, with the kernel-equivalent code', async () => {
    const r = await check([path.join(work, 'lower'), '--data', path.join(work, 'data'), '--data', path.join(work, 'data2'), '--json']);
    expect(r.status).toBe(1);
    const { doc, m } = byPath(r.out);
    expect(doc.summary.xattrPrefix).toBe('user');
    for (const p of m.keys()) expect(p.startsWith('/bad/') || p === '/ok/legacy-good').toBe(true);
    expect(Object.fromEntries([...m].filter(([p]) => p.startsWith('/bad/')))).toEqual({
      '/bad/bad-version': ['metacopy-invalid'],
      '/bad/dotdot-escape': ['redirect-escapes-layer'],
      '/bad/directory': ['object-not-regular'],
      '/bad/double-slash': ['redirect-invalid'],
      '/bad/final-symlink': ['object-not-regular'],
      '/bad/legacy-wrong': ['legacy-verity-xattr', 'object-digest-mismatch'],
      '/bad/mismatch': ['object-digest-mismatch'],
      '/bad/missing': ['missing-object'],
      '/bad/relative': ['redirect-invalid'],
      '/bad/symlink-escape': ['redirect-escapes-layer'],
      '/bad/tiny-metacopy': ['metacopy-invalid'],
    });
    expect(m.get('/ok/legacy-good')).toEqual(['legacy-verity-xattr']);
    expect(doc.summary.problems).toBe(11);
    expect(doc.summary.warnings).toBe(2);
  });

  it('verity=require adds the metacopy files without a digest', async () => {
    const r = await check([path.join(work, 'lower'), '--data', path.join(work, 'data'), '--data', path.join(work, 'data2'), '--verity=require', '--json']);
    const { m } = byPath(r.out);
    expect(m.get('/ok/no-digest')).toEqual(['metacopy-no-digest']);
    expect(m.get('/ok/legacy-good')).toEqual(['legacy-verity-xattr', 'metacopy-no-digest']);
  });

  it('--xattr-prefix=trusted ignores user.overlay.* (nothing is a metacopy file then)', async () => {
    const r = await check([path.join(work, 'lower'), '--data', path.join(work, 'data'), '--xattr-prefix', 'trusted']);
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/^files: \d+ checked, \d+ ok, 0 problems\n$/);
  });

  it('text report: one line per finding, digests below, the summary line last', async () => {
    const r = await check([path.join(work, 'lower'), '--data', path.join(work, 'data'), '--data', path.join(work, 'data2')]);
    expect(r.out).toMatch(/^object-digest-mismatch \/bad\/mismatch: .*\n {2}object {3}.*\n {2}expected sha256:[0-9a-f]{64}\n {2}actual {3}sha256:[0-9a-f]{64}$/m);
    expect(r.out).toMatch(/^warning legacy-verity-xattr \/ok\/legacy-good: /m);
    expect(r.out.trimEnd().split('\n').pop()).toMatch(/^files: 18 checked, 7 ok, 11 problems, 2 warnings$/);
  });

  it('usage errors and a missing data dir exit 2', async () => {
    expect((await check([path.join(work, 'lower')])).status).toBe(2);
    expect((await check([path.join(work, 'lower'), '--data', path.join(work, 'data'), '--verity', 'off'])).status).toBe(2);
    const r = await check([path.join(work, 'lower'), '--data', path.join(work, 'no-such-dir')]);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/data-layer-unusable/);
    expect((await check([path.join(work, 'no-such-lower'), '--data', path.join(work, 'data')])).status).toBe(2);
  });
});
