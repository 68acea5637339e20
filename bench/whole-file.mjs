#!/usr/bin/env node
// Whole-program benchmark on one large file: `fsverity digest FILE` against `veritree digest`
// (single thread with the auto backend, the 2-thread pool, and each backend forced on one
// thread), as a user runs them: wall time from spawn to exit, and peak RSS.
//
//   npm run build && node bench/whole-file.mjs [--size=1g] [--reps=5] [--backends=a,b]
//   node bench/whole-file.mjs --size=4g        # memory target: peak RSS ≤ 150 MB on 4 GiB
//
// The file is generated once (seeded, cached by bench/gen-tree.mjs) and read once before timing so
// every run hashes from the page cache. Commands run interleaved — every repetition runs each
// command once, in a rotated order — and the table shows medians; "vs fsverity" is the median of
// the per-repetition ratios fsverity time / command time (above 1: faster than fsverity).
// Peak RSS comes from GNU time (`/usr/bin/time -f %M`); without it, from the node children's own
// process.resourceUsage().maxRSS (preloaded reporter), and is n/a for fsverity.
// bench/tree.mjs reuses runTimed / median / parseFlags exported from here.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { ensureFile, parseSize, warmPageCache } from './gen-tree.mjs';
import { availableBackends } from '../build/dist/backends/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'build/dist/cli/main.js');
const GNU_TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

const RSS_TARGET_MB = 150;

// Where GNU time (or the preload below) leaves the child's peak RSS; made on first use.
let scratch;
// Fallback RSS reporter for node children when GNU time is missing.
const RSS_PRELOAD = `data:text/javascript,${encodeURIComponent(
  `import fs from 'node:fs'; process.on('exit', () => { const u = process.resourceUsage(); if (process.env.VERITREE_RSS_FILE) fs.writeFileSync(process.env.VERITREE_RSS_FILE, [u.maxRSS, u.userCPUTime / 1e6, u.systemCPUTime / 1e6].join(' ')); });`,
)}`;

/**
 * Runs argv; returns wall ms (spawn to exit), peak RSS in kB and user+system CPU ms (undefined
 * when unknown) and stdout. CPU time is the steadier figure when other jobs share the cores.
 */
export function runTimed(argv) {
  if (!scratch) {
    const dir = (scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-bench-run-')));
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  const rssFile = path.join(scratch, 'rss');
  fs.rmSync(rssFile, { force: true });
  let cmd = argv[0];
  let rest = argv.slice(1);
  const env = { ...process.env };
  if (GNU_TIME) {
    rest = ['-f', '%M %U %S', '-o', rssFile, cmd, ...rest];
    cmd = GNU_TIME;
  } else if (cmd === process.execPath) {
    rest = ['--import', RSS_PRELOAD, ...rest];
    env.VERITREE_RSS_FILE = rssFile;
  }
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, rest, { env, maxBuffer: 512 << 20, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  let rssKB;
  let cpuMs;
  try {
    const [m, user, sys] = fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
    rssKB = m;
    cpuMs = (user + sys) * 1e3;
  } catch {
    /* no figures (fsverity without GNU time) */
  }
  return { ms, rssKB, cpuMs, stdout: r.stdout };
}

/**
 * How many cores this process actually gets right now: one spinning thread per core for `ms`,
 * CPU time over wall time. On a shared machine this is what 2-thread wall times must be read
 * against (1.0 means the second core was busy with someone else's work).
 */
export async function probeCores(ms = 500) {
  const n = os.availableParallelism();
  const code = `const t = Date.now(); while (Date.now() - t < ${ms}); require('node:worker_threads').parentPort.postMessage(0);`;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: n }, () => new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true });
    w.once('message', () => w.terminate().then(resolve, reject));
    w.once('error', reject);
  })));
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e3 / (performance.now() - t0);
}

/** Markdown table cells: a literal | must be escaped, even inside code spans. */
const cell = (text) => text.replace(/\|/g, '\\|');

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** `--name=value` / `--flag` arguments → { name: value }. */
export function parseFlags(argv) {
  return Object.fromEntries(
    argv.map((a) => {
      const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
      if (!m) throw new Error(`bad argument ${a} (expected --name=value)`);
      return [m[1], m[2] ?? 'true'];
    }),
  );
}

async function main() {
  const args = parseFlags(process.argv.slice(2));
  const SIZE = parseSize(args.size ?? '1g');
  const REPS = Math.max(3, Number(args.reps ?? 5));
  const BACKENDS = args.backends ? args.backends.split(',') : availableBackends();
  const { path: file, fresh } = ensureFile(SIZE);
  process.stderr.write(`${fresh ? 'generated' : 'cached'} ${file}; warming the page cache…\n`);
  warmPageCache([file]);
  const emptyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-whole-file-'));
  process.once('exit', () => fs.rmSync(emptyDir, { recursive: true, force: true }));
  const empty = path.join(emptyDir, 'empty');
  fs.writeFileSync(empty, '');

  const node = process.execPath;
  const commands = [
    { name: 'fsverity digest', argv: ['fsverity', 'digest', file] },
    { name: 'veritree digest --threads 1 (auto)', argv: [node, CLI, 'digest', '--threads', '1', file] },
    { name: `veritree digest (pool, ${os.availableParallelism()} threads)`, argv: [node, CLI, 'digest', file] },
    ...BACKENDS.map((b) => ({ name: `veritree digest --threads 1 --backend ${b}`, argv: [node, CLI, 'digest', '--threads', '1', '--backend', b, file] })),
    { name: 'startup: fsverity digest EMPTY', argv: ['fsverity', 'digest', empty], startup: true },
    { name: 'startup: veritree digest EMPTY', argv: [node, CLI, 'digest', empty], startup: true },
  ];
  const expected = runTimed(commands[0].argv).stdout.split(' ')[0];
  const coresBefore = await probeCores();
  const times = commands.map(() => []);
  const rss = commands.map(() => []);
  const cpu = commands.map(() => []);
  for (let rep = 0; rep < REPS; rep++) {
    for (let k = 0; k < commands.length; k++) {
      const i = (k + rep) % commands.length;
      const c = commands[i];
      const r = runTimed(c.argv);
      const digest = r.stdout.split(' ')[0];
      if (!c.startup && digest !== expected) throw new Error(`${c.name} printed ${digest}, fsverity ${expected}`);
      times[i].push(r.ms);
      if (r.rssKB !== undefined) rss[i].push(r.rssKB);
      if (r.cpuMs !== undefined) cpu[i].push(r.cpuMs);
      process.stderr.write(`\rrep ${rep + 1}/${REPS}: ${c.name.padEnd(50)} ${r.ms.toFixed(0).padStart(6)} ms`);
    }
  }
  process.stderr.write('\n');
  const coresAfter = await probeCores();

  const gib = SIZE / 2 ** 30;
  const lines = [
    `### Whole-program digest of one ${gib >= 1 ? `${gib} GiB` : `${SIZE / 2 ** 20} MiB`} file (page-cached), ${REPS} interleaved repetitions`,
    '',
    `${os.cpus()[0].model.trim()}, ${os.availableParallelism()} cores, Node ${process.version}; digests checked equal to fsverity's in every run`,
    '',
    '| command | median wall | min–max | MB/s | CPU (user+sys) | peak RSS | vs fsverity | best vs best |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  commands.forEach((c, i) => {
    const t = median(times[i]);
    const ratio = median(times[i].map((x, rep) => times[0][rep] / x));
    const mbps = c.startup ? '—' : ((SIZE / 1e6) / (t / 1e3)).toFixed(0);
    const peak = rss[i].length ? `${(Math.max(...rss[i]) / 1024).toFixed(1)} MB` : 'n/a';
    const cpuText = cpu[i].length ? `${(median(cpu[i]) / 1e3).toFixed(3)} s` : 'n/a';
    lines.push(`| \`${cell(c.name)}\` | ${(t / 1e3).toFixed(3)} s | ${(Math.min(...times[i]) / 1e3).toFixed(3)}–${(Math.max(...times[i]) / 1e3).toFixed(3)} s | ${mbps} | ${cpuText} | ${peak} | ${c.startup ? '—' : `${ratio.toFixed(2)}×`} | ${c.startup ? '—' : `${(Math.min(...times[0]) / Math.min(...times[i])).toFixed(2)}×`} |`);
  });
  if (SIZE >= 4 * 2 ** 30) {
    const worst = Math.max(...commands.map((c, i) => (c.name.startsWith('veritree') && rss[i].length ? Math.max(...rss[i]) : 0))) / 1024;
    lines.push('', `Peak RSS of any veritree run on this ${gib} GiB file: ${worst.toFixed(1)} MB (target ≤ ${RSS_TARGET_MB} MB: ${worst <= RSS_TARGET_MB ? 'met' : 'MISSED'})`);
  }
  lines.push('', `Cores this process could use (spinning threads, CPU/wall): ${coresBefore.toFixed(2)} before, ${coresAfter.toFixed(2)} after, of ${os.availableParallelism()}; load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}.`);
  lines.push('', '"vs fsverity": median over repetitions of (fsverity time / command time); above 1 means faster than fsverity. "best vs best": fastest fsverity run / fastest run of the command (the runs least disturbed by other jobs). MB = 10^6 bytes.');
  process.stdout.write(lines.join('\n') + '\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) await main();
