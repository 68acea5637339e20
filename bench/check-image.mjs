#!/usr/bin/env node
// check-image throughput: a seeded tree of CAS-backed files is imported with `veritree import`
// (objects + composefs dump); the image is built with `mkcomposefs --from-file` when composefs is
// installed, and `veritree check-image IMAGE --objects DIR` is timed against
// `find DIR -type f | xargs fsverity digest` over the same objects (both read the same bytes and
// compute the same SHA-256/4K digests; check-image also parses the image and compares).
//
// Without mkcomposefs (Debian 12 has no `composefs` package) no composefs image can be built: the
// bench then builds the equivalent lower directory from the dump — one empty file per CAS-backed
// file carrying overlay.metacopy (00 24 00 01 + digest) and overlay.redirect, trusted.* as root
// like composefs, else user.* — times `veritree check-overlay LOWER --data DIR` on it, and, when
// erofs-utils is installed, `check-image` on an EROFS image mkfs.erofs makes of that directory
// (the same inodes and xattrs a composefs image holds, without its header), saying so.
//
//   npm run build && node bench/check-image.mjs [--files=5000] [--seed=1] [--min=4096] [--max=262144]
//                                             [--rounds=3] [--threads=N] [--keep]
//
// The page cache is warmed by one untimed run of each side; rounds then alternate the two sides
// and the medians are compared (the machine is shared and noisy).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { floorArgv } from './floor.mjs';
import { SeededRandom } from '../build/dist/bench/prng.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'build/dist');
const CLI = path.join(DIST, 'cli/main.js');
const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`bad argument ${a}`);
    return [m[1], m[2] ?? 'true'];
  }),
);
const FILES = Number(args.files ?? 5000);
const SEED = Number(args.seed ?? 1);
const MIN = Number(args.min ?? 4096);
const MAX = Number(args.max ?? 262144);
const ROUNDS = Number(args.rounds ?? 3);
const THREADS = args.threads;
const KEEP = args.keep === 'true';
if (!(FILES >= 1) || !(MIN > 64) || !(MAX >= MIN)) throw new RangeError('need --files ≥ 1 and 64 < --min ≤ --max (CAS-backed files are > 64 bytes)');

function which(cmd) {
  return (process.env.PATH ?? '').split(':').map((d) => path.join(d, cmd)).find((p) => fs.existsSync(p));
}
function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 1 << 30, ...opts });
  if (r.error) throw r.error;
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${cmd} ${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r;
}
function timed(cmd, argv, opts) {
  const t0 = process.hrtime.bigint();
  const r = run(cmd, argv, opts);
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, r };
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const tool of ['fsverity', 'find', 'xargs']) if (!which(tool)) throw new Error(`${tool} is not installed (apt-get install fsverity findutils)`);
if (!fs.existsSync(CLI)) throw new Error('build/dist is missing: run `npm run build` first');

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-bench-check-'));
const src = path.join(work, 'src');
const objects = path.join(work, 'objects');
const dumpFile = path.join(work, 'tree.dump');
try {
  // 1. The seeded tree: sizes log-uniform in [MIN, MAX], contents from AES-CTR keyed by the seed.
  const rand = new SeededRandom(SEED);
  const key = crypto.createHash('sha256').update(`veritree-bench-${SEED}`).digest().subarray(0, 16);
  let total = 0;
  for (let i = 0; i < FILES; i++) {
    const dir = path.join(src, `d${String(i % 100).padStart(2, '0')}`);
    if (i < 100) fs.mkdirSync(dir, { recursive: true });
    const size = Math.round(Math.exp(Math.log(MIN) + rand.uniform() * (Math.log(MAX) - Math.log(MIN))));
    const iv = Buffer.alloc(16);
    iv.writeUInt32BE(i, 12);
    const c = crypto.createCipheriv('aes-128-ctr', key, iv);
    fs.writeFileSync(path.join(dir, `f${i}.bin`), Buffer.concat([c.update(Buffer.alloc(size)), c.final()]));
    total += size;
  }
  console.log(`tree: ${FILES} files, ${(total / 2 ** 20).toFixed(1)} MiB (sizes ${MIN}..${MAX}, seed ${SEED}) in ${work}`);

  // 2. Objects + dump.
  const imp = timed(process.execPath, [CLI, 'import', src, '--objects', objects, '--dump', dumpFile, '--no-fsync', ...(THREADS ? ['--threads', THREADS] : [])]);
  console.log(`veritree import: ${imp.seconds.toFixed(2)} s — ${imp.r.stdout.trim()}`);

  // 3. The metadata side: an image when mkcomposefs exists; else the equivalent lower directory
  //    (and, when erofs-utils is installed, an EROFS image made from it with mkfs.erofs).
  const runs = [];
  const mkcomposefs = which('mkcomposefs');
  if (mkcomposefs) {
    const image = path.join(work, 'tree.cfs');
    run(mkcomposefs, ['--from-file', dumpFile, image]);
    runs.push({ verb: 'check-image', args: [image, '--objects', objects], what: 'composefs image (mkcomposefs --from-file)' });
  } else {
    const { parseDumpLine } = await import(path.join(DIST, 'composefs/dump.js'));
    const { formatMetacopy } = await import(path.join(DIST, 'overlay/metacopy.js'));
    const { setXattrSync } = await import(path.join(DIST, 'kernel/index.js'));
    // composefs writes trusted.overlay.*; without root only user.overlay.* can be set.
    const prefix = process.getuid?.() === 0 ? 'trusted.overlay.' : 'user.overlay.';
    const lower = path.join(work, 'lower');
    let n = 0;
    for (const [i, line] of fs.readFileSync(dumpFile, 'latin1').split('\n').entries()) {
      if (!line) continue;
      const r = parseDumpLine(line, i + 1);
      const p = path.join(lower, Buffer.from(r.path).toString('utf8'));
      if ((r.mode & 0o170000) === 0o040000) fs.mkdirSync(p, { recursive: true });
      else if (r.payload && r.digest) {
        fs.writeFileSync(p, '');
        setXattrSync(p, `${prefix}metacopy`, formatMetacopy(1, r.digest));
        setXattrSync(p, `${prefix}redirect`, Buffer.concat([Buffer.from('/'), Buffer.from(r.payload)]));
        n++;
      }
    }
    console.log(`mkcomposefs not installed (Debian 12 has no composefs package): no composefs image can be built here.\n` +
      `lower dir instead: ${n} empty files with ${prefix}metacopy (00 24 00 01 + digest) + ${prefix}redirect`);
    const mkfsErofs = which('mkfs.erofs');
    if (mkfsErofs) {
      const image = path.join(work, 'tree.erofs');
      run(mkfsErofs, ['--quiet', image, lower]);
      runs.push({ verb: 'check-image', args: [image, '--objects', objects], what: 'EROFS image of that lower dir (mkfs.erofs; no composefs header)' });
    }
    runs.push({ verb: 'check-overlay', args: [lower, '--data', objects], what: 'the lower dir (xattrs read with lgetxattr)' });
  }

  const objectFiles = run('find', [objects, '-type', 'f']).stdout.trim().split('\n');
  const objectCount = objectFiles.length;
  // The floor: the least work any Node.js program does over these objects (bench/floor.mjs).
  const floor = floorArgv(objectFiles, THREADS ?? os.availableParallelism(), work);
  const floorRun = () => timed(floor[0], floor.slice(1));
  const theirs = () => timed('sh', ['-c', 'find "$1" -type f -print0 | xargs -0 fsverity digest > /dev/null', 'sh', objects]);
  const oursFor = (r) => () => timed(process.execPath, [CLI, r.verb, ...r.args, ...(THREADS ? ['--threads', THREADS] : [])]);

  // Warm the page cache and check each result once.
  for (const r of runs) {
    const first = oursFor(r)();
    if (!/ 0 problems/.test(first.r.stdout)) throw new Error(`${r.verb} did not come out clean: ${first.r.stdout}`);
  }
  theirs();
  floorRun();
  const times = runs.map(() => []);
  const base = [];
  const floorTimes = [];
  for (let i = 0; i < ROUNDS; i++) {
    runs.forEach((r, j) => times[j].push(oursFor(r)().seconds));
    base.push(theirs().seconds);
    floorTimes.push(floorRun().seconds);
  }
  const tb = median(base);
  const mib = total / 2 ** 20;
  const row = (label, xs) => `${label.padEnd(34)} ${median(xs).toFixed(3)} s  (${(mib / median(xs)).toFixed(0)} MiB/s)  [${xs.map((x) => x.toFixed(3)).join(' ')}]`;
  console.log(`objects: ${objectCount}, ${os.availableParallelism?.() ?? os.cpus().length} cores, ${ROUNDS} rounds (median)`);
  console.log(row('find | xargs fsverity digest', base));
  runs.forEach((r, j) => {
    console.log(row(`veritree ${r.verb}`, times[j]) + `  on ${r.what}`);
    console.log(`  ratio (fsverity / veritree ${r.verb}): ${(tb / median(times[j])).toFixed(2)}x  (target ≥ 1.8x)`);
  });
  console.log(row('floor (bench/floor.mjs)', floorTimes) + '  leaf hashing only: the least work any Node.js program does');
  console.log(`  ratio (fsverity / floor): ${(tb / median(floorTimes)).toFixed(2)}x  — no Node.js program beats this here`);
} finally {
  if (!KEEP) fs.rmSync(work, { recursive: true, force: true });
}
