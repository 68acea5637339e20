#!/usr/bin/env node
/**
 * Runs INSIDE the fs-verity guest (test/kernel/vm.mjs): every real-kernel check of veritree's
 * kernel verbs in one node process, printing one `@@VT {json}` line per check and a final
 * `@@VT {"done":true,...}`. Exit status 0 only if every check passed.
 *
 * Environment: VERITREE_SCRATCH (ext4 -O verity mount, from the harness), VT_DIST (compiled
 * veritree, default ./build/dist), VT_BULK (file count for the bulk check, default 2000).
 *
 * Userspace references: `fsverity digest` (fsverity-utils on the host root) and veritree's own
 * engine (`digestFile`, `veritree digest`) when the build has them.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';

const DIST = path.resolve(process.env.VT_DIST ?? 'build/dist');
const S = process.env.VERITREE_SCRATCH ?? '/tmp/verity';
const TMPFS = fs.mkdtempSync('/tmp/vt-tmpfs-');
const BULK = Number(process.env.VT_BULK ?? 2000);

const imp = (rel) => import(pathToFileURL(path.join(DIST, rel)).href);
const { main } = await imp('cli/main.js');
const kernel = await imp('kernel/index.js');
const merkle = fs.existsSync(path.join(DIST, 'merkle/file.js')) ? await imp('merkle/file.js') : undefined;
const hasDigestCli = fs.existsSync(path.join(DIST, 'cli/digest.js'));

let passed = 0;
let failed = 0;
function emit(obj) {
  process.stdout.write(`@@VT ${JSON.stringify(obj)}\n`);
}
async function check(name, fn) {
  const t0 = performance.now();
  try {
    const detail = (await fn()) ?? {};
    passed++;
    emit({ check: name, ok: true, ms: Math.round(performance.now() - t0), ...detail });
  } catch (err) {
    failed++;
    emit({ check: name, ok: false, ms: Math.round(performance.now() - t0), error: String(err?.stack ?? err).slice(0, 2000) });
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
function eq(a, b, msg) {
  if (a !== b) throw new Error(`${msg}: ${JSON.stringify(a)} !== ${JSON.stringify(b)}`);
}
function bytesEq(a, b, msg) {
  const A = Buffer.from(a);
  const B = Buffer.from(b);
  if (!A.equals(B)) throw new Error(`${msg}: ${A.length} bytes vs ${B.length} bytes, differ at ${firstDiff(A, B)}`);
}
function firstDiff(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return Math.min(a.length, b.length);
}

/** In-process CLI run (the real `main`, captured streams). */
async function cli(...args) {
  const sink = () => {
    const chunks = [];
    const s = new Writable({ write(c, _e, cb) { chunks.push(Buffer.from(c)); cb(); } });
    s.bytes = () => Buffer.concat(chunks);
    return s;
  };
  const stdout = sink();
  const stderr = sink();
  const code = await main(args, { stdout, stderr, stdin: process.stdin, env: process.env, isTTY: false });
  return { code, out: stdout.bytes().toString('utf8'), outBytes: stdout.bytes(), err: stderr.bytes().toString('utf8') };
}
function jsonLines(text) {
  return text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}
function fsverity(...args) {
  const r = spawnSync('fsverity', args, { encoding: 'buffer', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`fsverity ${args.slice(0, 3).join(' ')}…: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}
/** Deterministic bytes (xorshift), so runs are comparable. */
function content(size, seed) {
  const out = Buffer.alloc(Math.ceil(size / 4) * 4);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < out.length; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out.writeUInt32LE(x, i);
  }
  return out.subarray(0, size);
}
function makeFile(dir, name, size, seed) {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content(size, seed));
  return p;
}
/** veritree's own userspace digest, as `ALG:HEX PATH` lines (engine and CLI when present). */
async function veritreeDigestLines(paths, treeArgs = []) {
  const lines = {};
  if (merkle) {
    const opts = {};
    for (let i = 0; i < treeArgs.length; i += 2) {
      const [k, v] = [treeArgs[i], treeArgs[i + 1]];
      if (k === '--hash-alg') opts.hashAlg = v;
      if (k === '--salt') opts.salt = v;
      if (k === '--block-size') opts.blockSize = Number(v);
    }
    const engine = [];
    for (const p of paths) {
      const r = await merkle.digestFile(p, opts);
      engine.push(`${r.hashAlg ?? opts.hashAlg ?? 'sha256'}:${r.hex} ${p}`);
    }
    lines.engine = engine.join('\n') + '\n';
  }
  if (hasDigestCli) {
    const r = await cli('digest', ...treeArgs, ...paths);
    eq(r.code, 0, `veritree digest exit (${r.err.trim()})`);
    lines.cli = r.out;
  }
  return lines;
}

/** The guest CPU as the kernel sees it: its model and which VEX-encoded features it offers. */
function guestCpu() {
  const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const flags = new Set((/^flags\s*:(.*)$/m.exec(info)?.[1] ?? '').trim().split(/\s+/));
  return {
    model: /^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? '?',
    vex: ['avx', 'avx2', 'fma', 'f16c', 'bmi1', 'bmi2', 'avx512f'].filter((f) => flags.has(f)),
    sse41: flags.has('sse4_1'),
  };
}
const CPU = guestCpu();

emit({ start: true, kernel: fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(), node: process.version, dist: DIST, engine: Boolean(merkle), digestCli: hasDigestCli, cpu: CPU });

// ---- the guest CPU runs WebAssembly SIMD and veritree's wasm-simd backend ----
// Under TCG the harness takes AVX away from the guest (vm.mjs TCG_CPU); SIMD128 needs only SSE4.1.
await check('wasm-simd-in-guest', async () => {
  // (module (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt))
  const probe = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);
  assert(WebAssembly.validate(probe), `WebAssembly SIMD is not available on the guest CPU (${CPU.model}, sse4_1: ${CPU.sse41})`);
  if (!merkle || !fs.existsSync(path.join(DIST, 'backends/index.js'))) return { cpu: CPU.model, engine: false };
  const backends = await imp('backends/index.js');
  const available = backends.availableBackends?.();
  if (available) assert(available.includes('wasm-simd'), `wasm-simd backend not available: ${available.join(', ')}`);
  const files = [1, 4097, 300000].map((n, i) => makeFile(TMPFS, `simd-${n}`, n, 40 + i));
  const ref = fsverity('digest', ...files).toString('utf8');
  const mine = [];
  for (const p of files) mine.push(`sha256:${(await merkle.digestFile(p, { backend: 'wasm-simd' })).hex} ${p}`);
  eq(mine.join('\n') + '\n', ref, 'digestFile with the wasm-simd backend vs fsverity digest');
  return { cpu: CPU.model, engine: true };
});

// ---- enable + measure, sizes around block boundaries ----
const SIZES = [0, 1, 4095, 4096, 4097, 5 * 1024 * 1024 + 123];
const sizeDir = path.join(S, 'sizes');
fs.mkdirSync(sizeDir);
const sized = SIZES.map((n, i) => makeFile(sizeDir, `f-${n}`, n, i + 1));

await check('enable-sizes', async () => {
  const r = await cli('enable', ...sized);
  eq(r.code, 0, `exit (${r.err.trim()})`);
  assert(r.out.includes(`${sized.length} enabled`), `summary: ${r.out}`);
  for (const p of sized) assert(kernel.statxVeritySync(p).verity, `${p} has no STATX_ATTR_VERITY after enable`);
  return { summary: r.out.trim() };
});

async function measureMatches(paths, treeArgs) {
  const m = await cli('measure', ...paths);
  eq(m.code, 0, `measure exit (${m.err.trim()})`);
  const ref = fsverity('digest', ...treeArgs, ...paths).toString('utf8');
  eq(m.out, ref, 'veritree measure vs fsverity digest');
  const mine = await veritreeDigestLines(paths, treeArgs);
  if (mine.engine !== undefined) eq(m.out, mine.engine, 'veritree measure vs veritree digestFile');
  if (mine.cli !== undefined) eq(m.out, mine.cli, 'veritree measure vs veritree digest CLI');
  return { lines: m.out.trim().split('\n').length, comparedWith: ['fsverity digest', ...(mine.engine ? ['digestFile'] : []), ...(mine.cli ? ['veritree digest'] : [])], sample: m.out.split('\n')[0] };
}

await check('measure-equals-userspace-sizes', () => measureMatches(sized, []));

// ---- other parameters: sha512, salts, 1 KiB Merkle blocks (Linux ≥ 6.3 on a 4K fs) ----
const SALT = '00112233445566778899aabbccddeeff';
const VARIANTS = [
  { name: 'sha512', args: ['--hash-alg', 'sha512'] },
  { name: 'sha256-salt', args: ['--salt', SALT] },
  { name: 'sha512-salt', args: ['--hash-alg', 'sha512', '--salt', SALT + SALT] },
  { name: 'sha256-block1024', args: ['--block-size', '1024'] },
];
const variantFiles = {};
for (const v of VARIANTS) {
  const dir = path.join(S, v.name);
  fs.mkdirSync(dir);
  variantFiles[v.name] = [1, 4097, 300000].map((n, i) => makeFile(dir, `f-${n}`, n, 100 + i));
  await check(`enable-measure-${v.name}`, async () => {
    const r = await cli('enable', ...v.args, ...variantFiles[v.name]);
    eq(r.code, 0, `enable exit (${r.err.trim()})`);
    return measureMatches(variantFiles[v.name], v.args);
  });
}

// ---- FS_IOC_READ_VERITY_METADATA vs userspace-computed tree and descriptor ----
await check('read-metadata-equals-userspace', async () => {
  const cases = [
    { file: sized[4], args: [] },
    { file: sized[5], args: [] },
    { file: variantFiles['sha512-salt'][2], args: ['--hash-alg', 'sha512', '--salt', SALT + SALT] },
    { file: variantFiles['sha256-block1024'][2], args: ['--block-size', '1024'] },
  ];
  const out = [];
  for (const c of cases) {
    const tree = await cli('dump-metadata', 'merkle_tree', c.file);
    const desc = await cli('dump-metadata', 'descriptor', c.file);
    eq(tree.code, 0, `dump merkle_tree exit (${tree.err.trim()})`);
    eq(desc.code, 0, `dump descriptor exit (${desc.err.trim()})`);
    const tf = path.join(TMPFS, 'tree.bin');
    const df = path.join(TMPFS, 'desc.bin');
    fsverity('digest', ...c.args, '--out-merkle-tree', tf, '--out-descriptor', df, c.file);
    bytesEq(tree.outBytes, fs.readFileSync(tf), `${c.file}: kernel Merkle tree vs fsverity digest --out-merkle-tree`);
    bytesEq(desc.outBytes, fs.readFileSync(df), `${c.file}: kernel descriptor vs fsverity digest --out-descriptor`);
    // Same ioctl through fsverity-utils: our FFI path must read what theirs reads.
    bytesEq(tree.outBytes, fsverity('dump_metadata', 'merkle_tree', c.file), `${c.file}: vs fsverity dump_metadata`);
    if (merkle) {
      const opts = { merkleTree: true };
      for (let i = 0; i < c.args.length; i += 2) {
        if (c.args[i] === '--hash-alg') opts.hashAlg = c.args[i + 1];
        if (c.args[i] === '--salt') opts.salt = c.args[i + 1];
        if (c.args[i] === '--block-size') opts.blockSize = Number(c.args[i + 1]);
      }
      const u = await merkle.digestFile(c.file, opts);
      bytesEq(tree.outBytes, u.merkleTree ?? new Uint8Array(0), `${c.file}: kernel tree vs digestFile merkleTree`);
      bytesEq(desc.outBytes, u.descriptor, `${c.file}: kernel descriptor vs digestFile descriptor`);
    }
    if (hasDigestCli) {
      const tf2 = path.join(TMPFS, 'tree2.bin');
      const df2 = path.join(TMPFS, 'desc2.bin');
      const r = await cli('digest', ...c.args, '--out-merkle-tree', tf2, '--out-descriptor', df2, c.file);
      eq(r.code, 0, `veritree digest --out-* exit (${r.err.trim()})`);
      bytesEq(tree.outBytes, fs.readFileSync(tf2), `${c.file}: kernel tree vs veritree digest --out-merkle-tree`);
      bytesEq(desc.outBytes, fs.readFileSync(df2), `${c.file}: kernel descriptor vs veritree digest --out-descriptor`);
    }
    out.push({ file: path.relative(S, c.file), tree: tree.outBytes.length, descriptor: desc.outBytes.length });
  }
  // pread-like ranges.
  const full = (await cli('dump-metadata', 'merkle_tree', sized[5])).outBytes;
  const part = await cli('dump-metadata', 'merkle_tree', sized[5], '--offset', '4096', '--length', '100');
  bytesEq(part.outBytes, full.subarray(4096, 4196), '--offset/--length slice');
  const sync = kernel.readVerityMetadataSync(sized[5], 'merkle_tree');
  bytesEq(sync, full, 'sync read vs async read');
  return { cases: out };
});

await check('empty-file-has-no-tree', async () => {
  const t = await cli('dump-metadata', 'merkle_tree', sized[0]);
  eq(t.code, 0, 'exit');
  eq(t.outBytes.length, 0, 'tree bytes for an empty file');
  const sig = await cli('dump-metadata', 'signature', sized[1]);
  eq(sig.code, 1, 'signature of an unsigned file: exit');
  assert(sig.err.includes('no builtin signature'), sig.err);
});

// ---- errors reaching the user ----
await check('eexist-already-enabled', async () => {
  const same = await cli('enable', '--json', sized[1]);
  eq(same.code, 0, `same params exit (${same.err})`);
  const objs = jsonLines(same.out);
  eq(objs[0].status, 'already-enabled', 'status');
  assert(objs[0].digest?.startsWith('sha256:'), `digest in JSON: ${same.out}`);
  eq(objs.at(-1).summary.alreadyEnabled, 1, 'summary.alreadyEnabled');
  const diff = await cli('enable', '--json', '--hash-alg', 'sha512', sized[1]);
  eq(diff.code, 1, 'different params exit');
  const d = jsonLines(diff.out)[0];
  eq(d.code, 'verity-params-differ', 'code');
  assert(/hash algorithm sha256 \(requested sha512\)/.test(d.mismatch), d.mismatch);
  assert(diff.err.startsWith(`veritree enable: ${sized[1]}: already enabled with`), diff.err);
  // The sync API reports the raw EEXIST meaning.
  try {
    kernel.enableVeritySync(sized[1]);
    throw new Error('enableVeritySync did not throw');
  } catch (e) {
    eq(e.code, 'verity-already-enabled', 'sync code');
    eq(e.errno, 'EEXIST', 'sync errno');
  }
  return { stderr: diff.err.trim() };
});

await check('etxtbsy-open-for-writing', async () => {
  const p = makeFile(S, 'busy', 10000, 7);
  const fd = fs.openSync(p, 'r+');
  try {
    const r = await cli('enable', '--json', p);
    eq(r.code, 1, 'exit');
    const o = jsonLines(r.out)[0];
    eq(o.code, 'file-open-for-writing', 'code');
    eq(o.errno, 'ETXTBSY', 'errno');
    assert(r.err.startsWith(`veritree enable: ${p}: file is open for writing`), r.err);
    assert(!kernel.statxVeritySync(p).verity, 'file must not have verity');
    return { stderr: r.err.trim() };
  } finally {
    fs.closeSync(fd);
  }
});

await check('etxtbsy-copy-replaces-file', async () => {
  const p = makeFile(S, 'busy-copy', 70000, 8);
  fs.chmodSync(p, 0o640);
  kernel.setXattrSync(p, 'user.veritree', Uint8Array.from([0, 1, 2, 255]));
  const mtime = new Date('2020-02-02T02:02:02Z');
  fs.utimesSync(p, mtime, mtime);
  const before = fs.statSync(p);
  const fd = fs.openSync(p, 'r+');
  try {
    const r = await cli('enable', '--copy', '--json', p);
    eq(r.code, 0, `exit (${r.err})`);
    eq(jsonLines(r.out)[0].status, 'enabled-via-copy', 'status');
    const after = fs.statSync(p);
    assert(after.ino !== before.ino, 'a new inode is in place');
    assert(kernel.statxVeritySync(p).verity, 'the new file has verity');
    eq(after.mode & 0o7777, 0o640, 'mode');
    eq(after.mtimeMs, before.mtimeMs, 'mtime');
    bytesEq(kernel.getXattrSync(p, 'user.veritree'), Uint8Array.from([0, 1, 2, 255]), 'xattr carried over');
    bytesEq(fs.readFileSync(p), content(70000, 8), 'content');
    eq(fs.readdirSync(S).filter((n) => n.includes('.veritree-')).length, 0, 'temporary files left');
  } finally {
    fs.closeSync(fd);
  }
});

await check('enodata-measure-non-verity', async () => {
  const p = makeFile(S, 'plain', 5000, 9);
  const r = await cli('measure', '--json', p);
  eq(r.code, 1, 'exit');
  const o = jsonLines(r.out)[0];
  eq(o.code, 'not-verity', 'code');
  eq(o.errno, 'ENODATA', 'errno');
  assert(r.err.startsWith(`veritree measure: ${p}: not a verity file`), r.err);
  return { stderr: r.err.trim() };
});

await check('tmpfs-not-supported', async () => {
  const p = makeFile(TMPFS, 'on-tmpfs', 100, 10);
  const e = await cli('enable', '--json', p);
  eq(e.code, 1, 'enable exit');
  const o = jsonLines(e.out)[0];
  eq(o.code, 'verity-not-supported', 'enable code');
  assert(['EOPNOTSUPP', 'ENOTTY'].includes(o.errno), `errno ${o.errno}`);
  assert(e.err.includes('tune2fs -O verity'), `hint missing: ${e.err}`);
  const m = await cli('measure', '--json', p);
  eq(m.code, 1, 'measure exit');
  eq(jsonLines(m.out)[0].code, 'verity-not-supported', 'measure code');
  return { errno: o.errno, stderr: e.err.trim() };
});

await check('einval-block-size-above-page', async () => {
  const p = makeFile(S, 'bs8192', 9000, 11);
  const r = await cli('enable', '--json', '--block-size', '8192', p);
  eq(r.code, 1, 'exit');
  const o = jsonLines(r.out)[0];
  eq(o.code, 'invalid-verity-params', 'code');
  eq(o.errno, 'EINVAL', 'errno');
  return { stderr: r.err.trim() };
});

await check('bad-signature', async () => {
  const p = makeFile(S, 'signed', 9000, 12);
  const sig = path.join(TMPFS, 'garbage.sig');
  fs.writeFileSync(sig, content(300, 13));
  const r = await cli('enable', '--json', '--signature', sig, p);
  eq(r.code, 1, 'exit');
  const o = jsonLines(r.out)[0];
  // EBADMSG: not PKCS#7. (A kernel without builtin-signature support would say EOPNOTSUPP.)
  assert(['bad-signature', 'signature-key-unknown', 'signature-rejected'].includes(o.code), `code ${o.code} (${o.errno})`);
  return { code: o.code, errno: o.errno, stderr: r.err.trim() };
});

await check('directory-and-special-files', async () => {
  const d = await cli('enable', '--json', sizeDir);
  eq(d.code, 1, 'directory exit');
  eq(jsonLines(d.out)[0].code, 'is-a-directory', 'directory code');
  const missing = await cli('enable', path.join(S, 'does-not-exist'));
  eq(missing.code, 1, 'missing exit');
  assert(missing.err.includes('no such file or directory (ENOENT)'), missing.err);
});

await check('verity-file-is-read-only', async () => {
  try {
    fs.openSync(sized[2], 'r+');
    throw new Error('opened a verity file for writing');
  } catch (e) {
    eq(e.code, 'EPERM', 'open for write');
  }
  const st = kernel.statxVeritySync(sized[2]);
  assert(st.verity && st.attributeKnown, 'statx verity');
  assert((kernel.getFlagsSync(sized[2]) & kernel.FS_VERITY_FL) !== 0, 'FS_VERITY_FL');
  const plain = path.join(S, 'plain');
  assert(!kernel.statxVeritySync(plain).verity, 'plain file: no verity attribute');
  assert((kernel.getFlagsSync(plain) & kernel.FS_VERITY_FL) === 0, 'plain file: no FS_VERITY_FL');
  const a = kernel.measureVeritySync(sized[3]);
  const b = await kernel.measureVerity(sized[3]);
  eq(a.hex, b.hex, 'sync vs async measure');
});

await check('xattr-round-trip-ext4', async () => {
  const p = path.join(S, 'plain');
  const big = content(3000, 14);
  kernel.setXattrSync(p, 'user.a', Uint8Array.from([0, 0, 7, 0]));
  await kernel.setXattr(p, 'user.big', big);
  const names = kernel.listXattrSync(p).sort();
  assert(names.includes('user.a') && names.includes('user.big'), names.join(','));
  bytesEq(kernel.getXattrSync(p, 'user.a'), [0, 0, 7, 0], 'user.a');
  bytesEq(await kernel.getXattr(p, 'user.big'), big, 'user.big');
  kernel.removeXattrSync(p, 'user.a');
  eq(kernel.getXattrSync(p, 'user.a'), undefined, 'removed');
  // trusted.* works as root: overlayfs uses trusted.overlay.*.
  kernel.setXattrSync(p, 'trusted.overlay.metacopy', Uint8Array.from([0, 36, 0, 1]));
  bytesEq(kernel.getXattrSync(p, 'trusted.overlay.metacopy'), [0, 36, 0, 1], 'trusted xattr');
});

// ---- bulk: enable -r on many files ----
await check(`bulk-enable-r-${BULK}`, async () => {
  const dir = path.join(S, 'bulk');
  const lap = (() => { let t = performance.now(); return () => { const n = performance.now(); const d = Math.round(n - t); t = n; return d; }; })();
  const files = [];
  for (let i = 0; i < BULK; i++) {
    const sub = path.join(dir, `d${i % 20}`);
    if (i < 20) fs.mkdirSync(sub, { recursive: true });
    // Sizes 0..~12 KiB: zero, one and several data blocks, a few with a tree level.
    files.push(makeFile(sub, `f${i}`, (i * 7919) % 12289, 1000 + i));
  }
  fs.symlinkSync('d0/f0', path.join(dir, 'link'));
  spawnSync('mkfifo', [path.join(dir, 'fifo')]);
  const laps = { create: lap() };
  const r = await cli('enable', '-r', dir);
  laps.enable = lap();
  eq(r.code, 0, `exit (${r.err.slice(0, 500)})`);
  assert(r.out.includes(`${BULK} enabled`) && r.out.includes('2 skipped') && r.out.includes('0 failed'), `summary: ${r.out}`);
  assert(r.err.includes(`${path.join(dir, 'link')}: skipped: symbolic link`), r.err);
  assert(r.err.includes(`${path.join(dir, 'fifo')}: skipped: named pipe`), r.err);
  for (const f of files) assert(kernel.statxVeritySync(f).verity, `${f} not verity`);
  laps.statx = lap();
  // Every digest the kernel holds equals fsverity-utils' userspace digest.
  const m = await cli('measure', '-r', dir);
  eq(m.code, 0, 'measure -r exit');
  const measured = new Map(m.out.trim().split('\n').map((l) => [l.slice(l.indexOf(' ') + 1), l]));
  eq(measured.size, BULK, 'measured files');
  laps.measure = lap();
  const ref = fsverity('digest', ...files).toString('utf8').trim().split('\n');
  for (const line of ref) eq(measured.get(line.slice(line.indexOf(' ') + 1)), line, 'bulk digest');
  laps.userspace = lap();
  // Again on one subdirectory: already enabled, still success.
  const again = await cli('enable', '-r', '--json', path.join(dir, 'd3'));
  eq(again.code, 0, 'second run exit');
  eq(jsonLines(again.out).at(-1).summary.alreadyEnabled, BULK / 20, 'second run: all already enabled');
  laps.again = lap();
  return { enableSeconds: laps.enable / 1000, laps, summary: r.out.trim() };
});

// ---- verify-cas with the kernel's digests: --measure kernel|auto|both and --enable ----
await check('verify-cas-measure-modes', async () => {
  assert(merkle, 'needs the userspace engine (build/dist/merkle/file.js)');
  const store = path.join(S, 'cas-store');
  const objects = {};
  const put = async (label, size, seed, { verity, wrongName = false }) => {
    const tmp = makeFile(S, `cas-src-${label}`, size, seed);
    const hex = (await merkle.digestFile(tmp)).hex;
    const name = wrongName ? (hex.slice(0, 63) + (hex[63] === '0' ? '1' : '0')) : hex;
    const dir = path.join(store, name.slice(0, 2));
    fs.mkdirSync(dir, { recursive: true });
    const obj = path.join(dir, name.slice(2));
    fs.renameSync(tmp, obj);
    if (verity) kernel.enableVeritySync(obj);
    objects[label] = `${name.slice(0, 2)}/${name.slice(2)}`;
  };
  await put('v1', 5000, 71, { verity: true });
  await put('v2', 70000, 72, { verity: true });
  await put('plain', 9000, 73, { verity: false });
  await put('misnamed', 12000, 74, { verity: true, wrongName: true });
  const run = async (...a) => {
    const r = await cli('verify-cas', '--json', ...a, store);
    const doc = JSON.parse(r.out);
    const codes = doc.findings.map((f) => `${f.code} ${f.path}`).sort();
    return { code: r.code, s: doc.summary, codes };
  };
  const k = await run('--measure=kernel');
  eq(k.code, 1, 'kernel: exit');
  eq(k.s.kernelMeasured, 3, 'kernel: measured by the kernel');
  eq(k.s.bytesHashed, 0, 'kernel: nothing hashed in userspace');
  eq(JSON.stringify(k.codes), JSON.stringify([`object-digest-mismatch ${objects.misnamed}`, `object-not-verity ${objects.plain}`].sort()), 'kernel: findings');
  const a = await run('--measure=auto');
  eq(a.s.kernelMeasured, 3, 'auto: measured by the kernel');
  eq(a.s.bytesHashed, 9000, 'auto: only the object without verity hashed');
  eq(JSON.stringify(a.codes), JSON.stringify([`object-digest-mismatch ${objects.misnamed}`]), 'auto: findings');
  const b = await run('--measure=both');
  eq(b.s.kernelMeasured, 3, 'both: measured by the kernel');
  eq(b.s.objectsChecked, 4, 'both: objects');
  eq(JSON.stringify(b.codes), JSON.stringify([`object-digest-mismatch ${objects.misnamed}`, `object-not-verity ${objects.plain}`].sort()), 'both: findings (kernel and userspace agree)');
  const e = await run('--measure=auto', '--enable');
  eq(e.s.enabled, 1, '--enable: objects enabled');
  eq(JSON.stringify(e.codes), JSON.stringify([`object-digest-mismatch ${objects.misnamed}`]), '--enable: findings');
  const after = await run('--measure=kernel');
  eq(after.s.kernelMeasured, 4, 'after --enable: every object measured by the kernel');
  eq(JSON.stringify(after.codes), JSON.stringify([`object-digest-mismatch ${objects.misnamed}`]), 'after --enable: findings');
  return { kernel: k.s, auto: a.s };
});

// ---- the real executable: exit codes and the one-line error format ----
await check('cli-process-exit-codes', async () => {
  const bin = path.join(DIST, 'cli/main.js');
  const run = (...a) => spawnSync(process.execPath, [bin, ...a], { encoding: 'utf8' });
  const bad = run('enable', path.join(TMPFS, 'on-tmpfs'));
  eq(bad.status, 1, 'tmpfs enable exit');
  // One line: `veritree enable: PATH: reason (ERRNO)...`, then the summary on stdout.
  assert(new RegExp(`^veritree enable: ${TMPFS}/on-tmpfs: [^\\n]*\\((EOPNOTSUPP|ENOTTY)\\)[^\\n]*\\n$`).test(bad.stderr), bad.stderr);
  const ok = run('measure', sized[1]);
  eq(ok.status, 0, 'measure exit');
  eq(ok.stdout, fsverity('digest', sized[1]).toString(), 'measure output');
  const usage = run('enable', '--block-size', 'x', sized[1]);
  eq(usage.status, 2, 'usage exit');
  return { stderr: bad.stderr.trim() };
});

emit({ done: true, passed, failed });
process.exitCode = failed === 0 ? 0 : 1;
