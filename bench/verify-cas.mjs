#!/usr/bin/env node
// `veritree verify-cas` against the obvious shell pipeline over the same objects.
//
//   npm run build && node bench/verify-cas.mjs [--objects=20000] [--seed=1] [--rounds=3] [--threads=N]
//       Generates (once, cached) a composefs digest store of N objects with log-normal sizes
//       (median 8 KiB, sigma 1), each named by its fs-verity digest, then times
//         veritree verify-cas --quiet STORE
//         find STORE -type f -print0 | xargs -0 fsverity digest            (one process)
//         find STORE -type f -print0 | xargs -0 -P<cores> -n256 fsverity digest
//       warm page cache, median of --rounds, and prints the ratios.
//
//   node bench/verify-cas.mjs --walk-only 1000000 [--output=ndjson|json|text]
//       Creates (once, cached) a store of 1,000,000 empty files with object-shaped names (each one
//       a digest mismatch, so every entry is walked, hashed and reported) and prints the peak RSS
//       of `veritree verify-cas --<output>` over it (stdout to /dev/null). Target: ≤ 300 MB.
//
// Cache: $VERITREE_BENCH_CACHE or /tmp/veritree-bench-cache; an entry counts once its `.done`
// marker exists, so an interrupted generation is redone.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { digestBytes } from '../build/dist/index.js';
import { SeededRandom } from '../build/dist/bench/prng.js';
import { floorArgv } from './floor.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'build/dist/cli/main.js');
const CACHE_DIR = process.env.VERITREE_BENCH_CACHE ?? '/tmp/veritree-bench-cache';
/** Bumped when the generators' output changes. */
const GENERATOR_VERSION = 1;

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`bad argument ${argv[i]}`);
    // `--walk-only 1000000` and `--walk-only=1000000` both work.
    out[m[1]] = m[2] ?? (argv[i + 1] !== undefined && !argv[i + 1].startsWith('--') ? argv[++i] : 'true');
  }
  return out;
}
const args = parseArgs(process.argv.slice(2));

function cached(name, make) {
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const target = path.join(CACHE_DIR, name);
  const marker = `${target}.done`;
  if (fs.existsSync(marker)) return { dir: target, info: JSON.parse(fs.readFileSync(marker, 'utf8')) };
  fs.rmSync(target, { recursive: true, force: true });
  const t0 = performance.now();
  const info = make(target);
  fs.writeFileSync(marker, JSON.stringify({ ...info, generatorVersion: GENERATOR_VERSION, seconds: (performance.now() - t0) / 1000 }));
  return { dir: target, info };
}

function fanoutDirs(store) {
  for (let i = 0; i < 256; i++) fs.mkdirSync(path.join(store, i.toString(16).padStart(2, '0')), { recursive: true });
}

/** N objects, log-normal sizes (median 8 KiB), seeded contents, named by their fs-verity digest. */
function makeStore(target, n, seed) {
  const rnd = new SeededRandom(seed);
  fanoutDirs(target);
  let bytes = 0;
  let written = 0;
  for (let i = 0; i < n; i++) {
    const size = Math.min(64 << 20, Math.max(1, Math.round(8192 * Math.exp(rnd.normal()))));
    const data = Buffer.allocUnsafe(size);
    rnd.fill(data);
    const hex = digestBytes(data).hex;
    const file = path.join(target, hex.slice(0, 2), hex.slice(2));
    if (fs.existsSync(file)) continue; // identical content: one object, as in a real store
    fs.writeFileSync(file, data);
    bytes += size;
    written++;
  }
  return { objects: written, bytes };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timed(cmd, argv, opts = {}) {
  const t0 = performance.now();
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return s;
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function compare() {
  const n = Number(args.objects ?? 20000);
  const seed = Number(args.seed ?? 1);
  const rounds = Number(args.rounds ?? 3);
  const cores = os.availableParallelism();
  const threads = Number(args.threads ?? cores);
  if (!have('fsverity')) throw new Error('fsverity (fsverity-utils) is not installed: apt-get install fsverity');
  const { dir: store, info } = cached(`cas-store-v2-${n}-seed${seed}`, (t) => makeStore(t, n, seed));
  console.log(`store: ${store}  ${info.objects} objects, ${(info.bytes / 2 ** 20).toFixed(1)} MiB (log-normal, median 8 KiB)`);

  // Sanity: the generator's names are what fsverity-utils computes.
  const sample = spawnSync('sh', ['-c', `find '${store}' -type f | head -50 | xargs fsverity digest --compact`], { encoding: 'utf8' }).stdout.trim().split('\n');
  const names = spawnSync('sh', ['-c', `find '${store}' -type f | head -50`], { encoding: 'utf8' }).stdout.trim().split('\n');
  names.forEach((p, i) => {
    if (sample[i] !== path.basename(path.dirname(p)) + path.basename(p)) throw new Error(`fsverity disagrees on ${p}`);
  });

  const contenders = {
    [`veritree verify-cas (--threads=${threads})`]: () => timed(process.execPath, [CLI, 'verify-cas', '--quiet', `--threads=${threads}`, store]),
    'find | xargs fsverity digest': () => timed('sh', ['-c', `find '${store}' -type f -print0 | xargs -0 fsverity digest > /dev/null`]),
    [`find | xargs -P${cores} -n256 fsverity digest`]: () => timed('sh', ['-c', `find '${store}' -type f -print0 | xargs -0 -P${cores} -n256 fsverity digest > /dev/null`]),
  };
  // The floor: the least work any Node.js program does over these objects (bench/floor.mjs).
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-bench-floor-'));
  process.once('exit', () => fs.rmSync(scratch, { recursive: true, force: true }));
  const objectFiles = spawnSync('find', [store, '-type', 'f', '-print0'], { encoding: 'utf8', maxBuffer: 1 << 30 }).stdout.split('\0').filter(Boolean);
  const floor = floorArgv(objectFiles, threads, scratch);
  contenders[`floor: leaf hashing only, ${threads} threads (bench/floor.mjs)`] = () => timed(floor[0], floor.slice(1));
  const results = {};
  for (const [name, run] of Object.entries(contenders)) run(); // warm the page cache, start-up paths
  for (let r = 0; r < rounds; r++) for (const [name, run] of Object.entries(contenders)) (results[name] ??= []).push(run());

  const [vt, ...others] = Object.keys(contenders);
  const vtS = median(results[vt]);
  console.log(`\nmedian of ${rounds} rounds, warm cache, ${cores} cores:`);
  for (const name of Object.keys(contenders)) {
    const s = median(results[name]);
    console.log(`  ${name.padEnd(46)} ${s.toFixed(2).padStart(7)} s  ${(info.bytes / s / 1e6).toFixed(0).padStart(5)} MB/s  ${(info.objects / s).toFixed(0).padStart(7)} objects/s`);
  }
  for (const name of others) console.log(`ratio ${name} / veritree: ${(median(results[name]) / vtS).toFixed(2)}× (> 1: veritree faster)`);
  const floorName = others.at(-1);
  console.log(`the floor's own ratio, xargs fsverity / floor: ${(median(results[others[0]]) / median(results[floorName])).toFixed(2)}× — no Node.js program beats this here`);
}

function walkOnly() {
  const n = Number(args['walk-only']);
  if (!Number.isInteger(n) || n < 1) throw new Error('--walk-only needs a number of entries');
  const output = args.output ?? 'ndjson';
  const { dir: store } = cached(`cas-walk-${n}`, (t) => {
    fanoutDirs(t);
    for (let i = 0; i < n; i++) {
      const hex = (i * 2654435761 >>> 0).toString(16).padStart(8, '0').repeat(8).slice(0, 64);
      fs.closeSync(fs.openSync(path.join(t, hex.slice(0, 2), hex.slice(2, 56) + i.toString(16).padStart(8, '0')), 'w'));
    }
    return { entries: n };
  });
  console.log(`store: ${store}  ${n.toLocaleString('en-US')} empty files with object-shaped names`);
  // Peak RSS of the whole process (worker threads included), reported by the child itself on exit.
  const hook = 'data:text/javascript,process.on("exit",()=>process.stderr.write("maxrss_kb="+process.resourceUsage().maxRSS+"\\n"))';
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', hook, CLI, 'verify-cas', `--${output === 'text' ? 'quiet' : output}`, store], {
    stdio: ['ignore', fs.openSync('/dev/null', 'w'), 'pipe'],
    encoding: 'utf8',
  });
  const seconds = (performance.now() - t0) / 1000;
  const kb = Number(/maxrss_kb=(\d+)/.exec(r.stderr)?.[1]);
  if (!kb) throw new Error(`no RSS reported (exit ${r.status}): ${r.stderr}`);
  if (/stalled/.test(r.stderr)) console.log(`WARNING: the run did not finish: ${r.stderr.split('\n').find((l) => l.includes('stalled'))}`);
  console.log(`verify-cas --${output === 'text' ? 'quiet (text)' : output}: exit ${r.status}, ${seconds.toFixed(1)} s, ${(n / seconds).toFixed(0)} entries/s, peak RSS ${(kb / 1024).toFixed(0)} MB (target ≤ 300 MB)`);
}

if (args['walk-only'] !== undefined) walkOnly();
else compare();
