#!/usr/bin/env node
/**
 * Runs INSIDE the fs-verity guest (test/kernel/vm.mjs, Linux 6.12): does overlayfs `verity=`
 * fail exactly the files `veritree check-image` flags?
 *
 * On the scratch ext4 (-O verity) it extracts the fixture object store, enables fs-verity on
 * every object, loop-mounts the fixture's small.cfs as EROFS and mounts overlayfs
 * `lowerdir=<erofs>::<objects>,metacopy=on,redirect_dir=on,verity=require|on` (what
 * mount.composefs does, docs/FORMATS.md §4.5); then it opens every regular file of the mount and
 * records which open() fails (and with which errno). It then tampers with objects — wrong content
 * with verity re-enabled, no verity, missing, a symlink, a directory, verity with another hash
 * algorithm, verity with a salt — remounts, and does it again. After each phase it runs
 * `veritree check-image small.cfs --objects <dir> --verity <mode> --json` and compares the set of
 * files with an error finding with the set of files whose open() failed, and checks that
 * `check-overlay` on a plain EROFS mount of the image (real xattrs) flags the same files. A second
 * phase mounts a plain ext4 directory whose files carry every overlay.metacopy / overlay.redirect
 * case the kernel distinguishes as the metadata layer and compares open() with check-overlay.
 *
 * Prints one `@@OVK {json}` line per phase and a final `@@OVK {"done":true,…}`; exit 0 only if
 * every phase agreed. Environment: VERITREE_SCRATCH (from the harness), VT_DIST (compiled
 * veritree, default ./build/dist), VT_FIXTURES (the composefs-small fixture folder).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const DIST = path.resolve(process.env.VT_DIST ?? 'build/dist');
const FIXTURES = path.resolve(process.env.VT_FIXTURES ?? 'test/fixtures/composefs-small');
const SCRATCH = process.env.VERITREE_SCRATCH ?? '/tmp/verity';
const WORK = path.join(SCRATCH, 'ovk');
const OBJECTS = path.join(WORK, 'objects');
const IMAGE = '/tmp/ovk-small.cfs';
const META = '/tmp/ovk-meta';
const MOUNT = '/tmp/ovk-mnt';

function emit(obj) {
  process.stdout.write(`@@OVK ${JSON.stringify(obj)}\n`);
}
function sh(cmd, args) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Regular files of small.dump: path → payload (unescaped as composefs-dump(5) says). */
function dumpPayloads() {
  const unescape = (s) => Buffer.from(s.replace(/\\(x[0-9a-fA-F]{2}|n|r|t|\\)/g, (_, e) =>
    e === 'n' ? '\n' : e === 'r' ? '\r' : e === 't' ? '\t' : e === '\\' ? '\\' : String.fromCharCode(parseInt(e.slice(1), 16))), 'latin1').toString('utf8');
  const out = new Map();
  for (const line of fs.readFileSync(path.join(FIXTURES, 'small.dump'), 'latin1').split('\n')) {
    const f = line.split(' ');
    if (f.length < 11 || !f[2].startsWith('10')) continue;
    out.set(unescape(f[0]), f[8] === '-' ? null : unescape(f[8]));
  }
  return out;
}

function mountOverlay(mode) {
  fs.mkdirSync(MOUNT, { recursive: true });
  sh('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${META}::${OBJECTS},metacopy=on,redirect_dir=on,verity=${mode}`, MOUNT]);
}
function umountOverlay() {
  sh('umount', [MOUNT]);
}

/** open() every regular file of the mount; path → errno for the ones (or directories) that fail. */
function probeOpens() {
  const failing = {};
  let opened = 0;
  const walk = (dir, rel) => {
    let entries;
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      failing[rel] = err.code ?? String(err);
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      const r = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(p, r);
      else if (e.isFile()) {
        try {
          fs.closeSync(fs.openSync(p, 'r'));
          opened++;
        } catch (err) {
          failing[r] = err.code ?? String(err);
        }
      }
    }
  };
  walk(MOUNT, '');
  return { failing, opened };
}

/** `check-image IMAGE` (userspace reader), or `check-overlay` on the EROFS mount of it (real xattrs). */
function checkImage(mode, verb = 'check-image') {
  const lower = verb === 'check-image' ? [IMAGE, '--objects', OBJECTS] : [META, '--data', OBJECTS];
  const r = spawnSync(process.execPath, [path.join(DIST, 'cli/main.js'), verb, ...lower, '--verity', mode, '--json'], { encoding: 'utf8' });
  if (r.status !== 0 && r.status !== 1) throw new Error(`${verb} exited ${r.status}: ${r.stderr}`);
  const doc = JSON.parse(r.stdout);
  const flagged = {};
  for (const f of doc.findings) if (f.severity === 'error') (flagged[f.path] ??= []).push(f.code);
  return { status: r.status, flagged, summary: doc.summary };
}

function sameKeys(a, b) {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i]);
}

let failedPhases = 0;
function phase(name, mode, expect) {
  mountOverlay(mode);
  let probe;
  try {
    probe = probeOpens();
  } finally {
    umountOverlay();
  }
  const check = checkImage(mode);
  const mounted = checkImage(mode, 'check-overlay');
  const agree = sameKeys(probe.failing, check.flagged);
  const problems = [];
  if (!agree) problems.push('flagged set differs from the set of files open() fails on');
  if (JSON.stringify(mounted.flagged) !== JSON.stringify(check.flagged)) {
    problems.push(`check-overlay on the EROFS mount flags ${JSON.stringify(mounted.flagged)}, check-image ${JSON.stringify(check.flagged)}`);
  }
  for (const [p, want] of Object.entries(expect ?? {})) {
    if (probe.failing[p] !== want.errno) problems.push(`${p}: kernel ${probe.failing[p] ?? 'ok'}, expected ${want.errno}`);
    if (!(check.flagged[p] ?? []).includes(want.code)) problems.push(`${p}: veritree ${JSON.stringify(check.flagged[p] ?? [])}, expected ${want.code}`);
  }
  if (problems.length > 0) failedPhases++;
  emit({ phase: name, verity: mode, ok: problems.length === 0, agree, opened: probe.opened, failing: probe.failing, flagged: check.flagged, checkStatus: check.status, summary: check.summary, problems });
}

/**
 * A plain ext4 directory as the metadata layer, its files carrying trusted.overlay.* xattrs set
 * with veritree's kernel bindings: every metacopy / redirect case the kernel distinguishes, judged
 * by overlayfs (open) and by `veritree check-overlay`.
 */
async function xattrPhase() {
  const { setXattrSync } = await import(path.join(DIST, 'kernel/index.js'));
  const lower = path.join(WORK, 'lower');
  const extra = path.join(WORK, 'extra');
  const outside = path.join(WORK, 'outside');
  for (const d of [lower, extra, path.join(outside, 'x')]) fs.mkdirSync(d, { recursive: true });
  const payload = dumpPayloads().get('/files/rand-4096.bin');
  const digest = Buffer.from(payload.replace('/', ''), 'hex');
  fs.copyFileSync(path.join(OBJECTS, payload), path.join(outside, 'x', 'obj'));
  sh('fsverity', ['enable', path.join(outside, 'x', 'obj')]);
  fs.symlinkSync(path.join(outside, 'x'), path.join(extra, 'escape-link'));
  fs.symlinkSync(path.join(OBJECTS, payload), path.join(extra, 'file-link'));
  const G = `/${payload}`;
  const hdr = (v, len, flags, algo, d) => Buffer.concat([Buffer.from([v, len, flags, algo]), d]);
  const D = digest;
  const wrong = Buffer.from(D).map((b) => b ^ 1);
  const cases = {
    good: { m: hdr(0, 36, 0, 1, D), r: G },
    'empty-metacopy': { m: Buffer.alloc(0), r: G },
    header4: { m: Buffer.from([0, 4, 0, 1]), r: G },
    'header4-garbage': { m: Buffer.from([7, 99, 0xff, 9]), r: G },
    'tiny-metacopy': { m: Buffer.from([0, 1]), r: G },
    'version-1': { m: hdr(1, 36, 0, 1, D), r: G },
    'len-mismatch': { m: hdr(0, 35, 0, 1, D), r: G },
    'algo0-with-digest': { m: hdr(0, 36, 0, 0, D), r: G },
    'algo-3': { m: hdr(0, 36, 0, 3, D), r: G },
    'sha256-64-bytes': { m: hdr(0, 68, 0, 1, Buffer.concat([D, D])), r: G },
    'sha512-claimed': { m: hdr(0, 68, 0, 2, Buffer.concat([D, D])), r: G },
    'too-long-69': { m: Buffer.concat([hdr(0, 69, 0, 2, Buffer.concat([D, D])), Buffer.from([0])]), r: G },
    'flags-set': { m: hdr(0, 36, 0x80, 1, D), r: G },
    'wrong-digest': { m: hdr(0, 36, 0, 1, wrong), r: G },
    'no-redirect': { m: hdr(0, 36, 0, 1, D) },
    'relative-redirect': { m: hdr(0, 36, 0, 1, D), r: 'sibling' },
    'double-slash': { m: hdr(0, 36, 0, 1, D), r: `/${payload.replace('/', '//')}` },
    'trailing-slash': { m: hdr(0, 36, 0, 1, D), r: `${G}/` },
    'dotdot-inside': { m: hdr(0, 36, 0, 1, D), r: `/${payload.slice(0, 2)}/../${payload}` },
    'dot-inside': { m: hdr(0, 36, 0, 1, D), r: `/./${payload}` },
    'dotdot-escape': { m: hdr(0, 36, 0, 1, D), r: '/../outside/x/obj' },
    'symlink-in-path': { m: hdr(0, 36, 0, 1, D), r: '/escape-link/obj' },
    'symlink-final': { m: hdr(0, 36, 0, 1, D), r: '/file-link' },
    'nul-cut': { m: hdr(0, 36, 0, 1, D), r: Buffer.concat([Buffer.from(G), Buffer.from([0]), Buffer.from('/../../x')]) },
    'name-too-long': { m: hdr(0, 36, 0, 1, D), r: `/${'a'.repeat(256)}` },
    'escaped-only': { extra: { 'trusted.overlay.overlay.metacopy': Buffer.from([1]), 'trusted.overlay.overlay.redirect': Buffer.from('//x') } },
    'legacy-verity': { m: Buffer.alloc(0), r: G, extra: { 'trusted.overlay.verity': D } },
  };
  for (const [name, c] of Object.entries(cases)) {
    const f = path.join(lower, name);
    fs.writeFileSync(f, '');
    if (c.m) setXattrSync(f, 'trusted.overlay.metacopy', c.m);
    if (c.r !== undefined) setXattrSync(f, 'trusted.overlay.redirect', Buffer.from(c.r));
    for (const [k, v] of Object.entries(c.extra ?? {})) setXattrSync(f, k, v);
  }
  fs.writeFileSync(path.join(lower, 'plain-inline'), 'data of its own');
  fs.mkdirSync(path.join(lower, 'bad-dir'));
  fs.writeFileSync(path.join(lower, 'bad-dir', 'inside'), 'x');
  setXattrSync(path.join(lower, 'bad-dir'), 'trusted.overlay.redirect', Buffer.from('/a//b'));
  fs.mkdirSync(path.join(lower, 'opaque-dir'));
  setXattrSync(path.join(lower, 'opaque-dir'), 'trusted.overlay.redirect', Buffer.from('/a//b'));
  setXattrSync(path.join(lower, 'opaque-dir'), 'trusted.overlay.opaque', Buffer.from('y'));

  for (const mode of ['require', 'on']) {
    fs.mkdirSync(MOUNT, { recursive: true });
    sh('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower}::${OBJECTS}::${extra},metacopy=on,redirect_dir=on,verity=${mode}`, MOUNT]);
    let probe;
    try {
      probe = probeOpens();
    } finally {
      umountOverlay();
    }
    const r = spawnSync(process.execPath, [path.join(DIST, 'cli/main.js'), 'check-overlay', lower, '--data', OBJECTS, '--data', extra, '--verity', mode, '--json'], { encoding: 'utf8' });
    if (r.status !== 0 && r.status !== 1) throw new Error(`check-overlay exited ${r.status}: ${r.stderr}`);
    const doc = JSON.parse(r.stdout);
    const flagged = {};
    for (const f of doc.findings) if (f.severity === 'error') (flagged[f.path] ??= []).push(f.code);
    const agree = sameKeys(probe.failing, flagged);
    const problems = [];
    if (!agree) problems.push('flagged set differs from the set of files open() fails on');
    if (Object.keys(probe.failing).length < 10) problems.push('suspiciously few failures');
    if (!agree || problems.length) failedPhases++;
    emit({ phase: 'xattrs', verity: mode, ok: problems.length === 0, agree, opened: probe.opened, failing: probe.failing, flagged, problems });
  }
}

try {
  const kernel = sh('uname', ['-r']).trim();
  fs.mkdirSync(WORK, { recursive: true });
  sh('tar', ['-xf', path.join(FIXTURES, 'objects.tar'), '-C', WORK]);
  fs.copyFileSync(path.join(FIXTURES, 'small.cfs'), IMAGE);
  const objectFiles = sh('find', [OBJECTS, '-type', 'f']).trim().split('\n');
  for (const f of objectFiles) sh('fsverity', ['enable', f]);
  // The kernel's own measurement must equal each object's name (sanity of the setup).
  for (const f of objectFiles) {
    const m = sh('fsverity', ['measure', f]).split(' ')[0];
    const name = path.relative(OBJECTS, f).replace('/', '');
    if (m !== `sha256:${name}`) throw new Error(`${f}: measured ${m}`);
  }
  fs.mkdirSync(META, { recursive: true });
  sh('mount', ['-t', 'erofs', '-o', 'loop,ro', IMAGE, META]);
  emit({ start: true, kernel, objects: objectFiles.length });

  phase('clean', 'require', {});
  phase('clean', 'on', {});
  await xattrPhase();

  const payloads = dumpPayloads();
  const obj = (p) => path.join(OBJECTS, payloads.get(p));
  const replaceWith = (p, content, enableArgs) => {
    const target = obj(p);
    const tmp = `${target}.new`;
    fs.writeFileSync(tmp, content);
    fs.rmSync(target);
    fs.renameSync(tmp, target);
    if (enableArgs) sh('fsverity', ['enable', ...enableArgs, target]);
  };
  // Wrong content, verity re-enabled: a verity file whose digest is not the metacopy's.
  const wrong = fs.readFileSync(obj('/files/rand-4096.bin'));
  wrong[100] ^= 0xff;
  replaceWith('/files/rand-4096.bin', wrong, []);
  // Right content, no fs-verity.
  replaceWith('/files/rand-65537.bin', fs.readFileSync(obj('/files/rand-65537.bin')), null);
  // Missing: two files share this object.
  fs.rmSync(obj('/files/dup-a.bin'));
  // A symlink to a good verity copy: never followed by overlayfs.
  const moved = path.join(WORK, 'moved-object');
  fs.renameSync(obj('/files/rand-8192.bin'), moved);
  fs.symlinkSync(moved, obj('/files/rand-8192.bin'));
  // A directory where the object should be.
  fs.rmSync(obj('/modes/setgid-2755'));
  fs.mkdirSync(obj('/modes/setgid-2755'));
  // Right content, verity with SHA-512: the algorithm differs from the metacopy's.
  replaceWith('/xattr/with-user-xattr.bin', fs.readFileSync(obj('/xattr/with-user-xattr.bin')), ['--hash-alg=sha512']);
  // Right content, verity with a salt: another digest.
  replaceWith('/modes/private-0600', fs.readFileSync(obj('/modes/private-0600')), ['--salt=deadbeef']);

  const expectTampered = {
    '/files/rand-4096.bin': { errno: 'EIO', code: 'object-digest-mismatch' },
    '/files/rand-65537.bin': { errno: 'EIO', code: 'object-not-verity' },
    '/files/dup-a.bin': { errno: 'ENOENT', code: 'missing-object' },
    '/files/dup-b.bin': { errno: 'ENOENT', code: 'missing-object' },
    '/files/rand-8192.bin': { errno: 'ENOENT', code: 'object-not-regular' },
    '/modes/setgid-2755': { errno: 'ENOENT', code: 'object-not-regular' },
    '/xattr/with-user-xattr.bin': { errno: 'EIO', code: 'object-digest-mismatch' },
    '/modes/private-0600': { errno: 'EIO', code: 'object-digest-mismatch' },
  };
  phase('tampered', 'require', expectTampered);
  phase('tampered', 'on', expectTampered);
  sh('umount', [META]);
} catch (err) {
  failedPhases++;
  emit({ phase: 'setup', ok: false, error: String(err?.stack ?? err).slice(0, 3000), stderr: String(err?.stderr ?? '').slice(0, 2000) });
}
emit({ done: true, failedPhases });
process.exitCode = failedPhases === 0 ? 0 : 1;
