#!/usr/bin/env node
// Benchmarks at scale: veritree against fsverity-utils and against the Node.js floor on a
// ~100,000-file / 2.5 GB tree and on one 4 GiB file, in two host configurations (native, and with
// OpenSSL's SHA extensions masked for every process), plus start-up and peak RSS.
//
//   npm run build
//   node bench/scale.mjs                        # full: 100,000 files / 2.5 GB, 4 GiB, 5 reps
//   node bench/scale.mjs --files=300 --tree-bytes=30MB --file-size=64MiB --reps=2 --startup-reps=3
//
// Whole processes only (spawn to exit, stdout to /dev/null for every tool), never timed tests.
// Every repetition runs every command of a workload once in both configurations, in an order
// rotated by one per repetition (A B C … / B C … A / …); the tables give medians, and every ratio
// is the median of per-repetition ratios (peer time / veritree time: above 1, veritree is faster).
// Outputs are checked equal (sorted lines) to fsverity's before anything is timed. The leaf
// throughput behind the efficiency column comes from `veritree bench --json`, run once per
// repetition and configuration inside the same rotation. See bench/README.md for the columns.
//
// Data: generated once by src/bench/tree-gen.ts (through bench/gen-tree.mjs, seeded, cached under
// $VERITREE_BENCH_CACHE, default /var/tmp/veritree-bench here) and page-cached before timing.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  GNU_TIME, Runner, cell, code, configEnvs, cpuHasShaNi, int, mb, median, millis, parseBytes, q, secs, sh, times, versionOf, writeAtomic,
} from './lib-scale.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'build/dist/cli/main.js');
const FLOOR = path.join(ROOT, 'bench/floor.mjs');
const NODE = process.execPath;

// gen-tree.mjs reads its cache directory when loaded: set the default of this bench first (a disk
// directory: /tmp may be memory, and 6.5 GB of data there competes with the page cache).
process.env.VERITREE_BENCH_CACHE ??= '/var/tmp/veritree-bench';
const CACHE_DIR = process.env.VERITREE_BENCH_CACHE;
const { ensureTree, ensureFile, listFiles, warmPageCache } = await import('./gen-tree.mjs');
const { parseFlags, probeCores } = await import('./whole-file.mjs');
const { floorArgv } = await import('./floor.mjs');

const USAGE = `Usage: node bench/scale.mjs [options]

  --files=N            files in the tree, big ones included (default 100000)
  --big-files=N        of which 1-9 MiB files (default files x 0.0015, at least 1: 150)
  --tree-bytes=SIZE    total size of the tree (default 2.5GB)
  --file-size=SIZE     the single big file (default 4GiB)
  --small-size=SIZE    the small file of the start-up runs (default 8KiB)
  --seed=N             seed of all generated data (default 1)
  --reps=N             interleaved repetitions of the tree and file workloads (default 5)
  --startup-reps=N     repetitions of the start-up workload (default 20)
  --workloads=LIST     tree,file,startup (default all)
  --configs=LIST       native,masked (default both)
  --mask=VALUE         OPENSSL_ia32cap of the masked configuration (default ":~0x20000000")
  --xargs-n=N --xargs-p=N   batch size and parallelism of the parallel xargs peer (default 500, 2)
  --leaf-duration=MS   --duration of each veritree bench leaf measurement (default 500)
  --json=FILE          raw timings (default $VERITREE_BENCH_CACHE/results/scale-<time>.json)
  --md=FILE            also write the markdown report to FILE

SIZE: 2.5GB / 30MB are powers of 10; 4GiB / 4g / 64MiB / 64m powers of 2. Cache directory:
$VERITREE_BENCH_CACHE (default /var/tmp/veritree-bench). Report on stdout, progress on stderr.
`;

// ---------------------------------------------------------------------------------------------
// Settings

const args = parseFlags(process.argv.slice(2));
if (args.help || args.h) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const known = new Set(['files', 'big-files', 'tree-bytes', 'file-size', 'small-size', 'seed', 'reps', 'startup-reps', 'workloads', 'configs', 'mask', 'xargs-n', 'xargs-p', 'leaf-duration', 'json', 'md']);
for (const k of Object.keys(args)) {
  if (known.has(k)) continue;
  process.stderr.write(`unknown option --${k}\n\n${USAGE}`);
  process.exit(2);
}
const posInt = (name, dflt) => {
  const v = args[name] === undefined ? dflt : Number(args[name]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a whole number`);
  return v;
};
const cores = os.availableParallelism();
const filesWanted = posInt('files', 100_000);
const S = {
  files: filesWanted,
  bigFiles: posInt('big-files', Math.max(1, Math.round(filesWanted * 0.0015))),
  treeBytes: parseBytes(args['tree-bytes'] ?? '2.5GB'),
  fileBytes: parseBytes(args['file-size'] ?? '4GiB'),
  smallBytes: parseBytes(args['small-size'] ?? '8KiB'),
  seed: posInt('seed', 1),
  reps: Math.max(1, posInt('reps', 5)),
  startupReps: Math.max(1, posInt('startup-reps', 20)),
  workloads: (args.workloads ?? 'tree,file,startup').split(','),
  configs: (args.configs ?? 'native,masked').split(','),
  mask: args.mask ?? ':~0x20000000',
  xargsN: posInt('xargs-n', 500),
  xargsP: posInt('xargs-p', 2),
  leafDurationMs: posInt('leaf-duration', 500),
  cores,
  cacheDir: CACHE_DIR,
};
for (const w of S.workloads) if (!['tree', 'file', 'startup'].includes(w)) throw new Error(`unknown workload ${w}`);
if (S.bigFiles >= S.files) throw new Error('--big-files must be below --files');
const ENVS = configEnvs(S.configs, S.mask);
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const JSON_OUT = args.json ?? path.join(CACHE_DIR, 'results', `scale-${stamp}.json`);
if (!fs.existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build first`);
if (!versionOf('fsverity')) throw new Error('fsverity (fsverity-utils) not found on PATH');

const runner = new Runner();
const t0All = performance.now();
const log = (s) => process.stderr.write(`${s}\n`);
process.on('SIGINT', () => process.exit(130)); // so the exit handlers remove the temp dirs

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-scale-'));
process.once('exit', () => fs.rmSync(scratch, { recursive: true, force: true }));
const emptyDir = path.join(scratch, 'empty');
fs.mkdirSync(emptyDir);

const report = {
  tool: 'bench/scale.mjs',
  schema: 1,
  startedAt: new Date().toISOString(),
  host: {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores,
    memoryGB: +(os.totalmem() / 1e9).toFixed(1),
    node: process.version,
    nodeOpenssl: process.versions.openssl,
    fsverity: versionOf('fsverity'),
    xargs: versionOf('xargs'),
    shaNi: cpuHasShaNi(),
    gnuTime: GNU_TIME !== undefined,
    loadavgAtStart: os.loadavg(),
  },
  settings: S,
  configs: Object.fromEntries(Object.entries(ENVS).map(([n, e]) => [n, { OPENSSL_ia32cap: e.OPENSSL_ia32cap ?? null }])),
  data: {},
  autoPicks: {},
  phases: {},
};
const saveJson = () => writeAtomic(JSON_OUT, `${JSON.stringify(report, null, 1)}\n`);

// ---------------------------------------------------------------------------------------------
// Data

const treeSpec = { seed: S.seed, smallFiles: S.files - S.bigFiles, bigFiles: S.bigFiles, totalBytes: S.treeBytes, medianBytes: 8192 };
function timedEnsure(what, fn) {
  const t = performance.now();
  const r = fn();
  log(`${r.fresh ? 'generated' : 'cached'} ${what}: ${r.path}${r.fresh ? ` (${((performance.now() - t) / 1e3).toFixed(1)} s)` : ''}`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// What `--backend auto` resolves to in each configuration (it calibrates per process, ~10 ms):
// `veritree digest --json -r EMPTYDIR` prints the pick; 5 runs with the pool, 5 on one thread.

function autoPicks(env) {
  const tally = {};
  for (const threads of [[], ['--threads', '1']]) {
    for (let i = 0; i < 5; i++) {
      const out = runner.run([NODE, CLI, 'digest', '--json', '-r', emptyDir, ...threads], env, { capture: true });
      const b = JSON.parse(out.stdout).backend;
      tally[b] = (tally[b] ?? 0) + 1;
    }
  }
  const pick = Object.entries(tally).sort((a, b) => b[1] - a[1])[0][0];
  return { pick, tally };
}

// ---------------------------------------------------------------------------------------------
// One workload: check every command's output, then reps x (configs x commands [+ leaf bench]) in
// rotated order.

/**
 * @param {object} p
 * @param {string} p.name
 * @param {Array<{key,label,argv,kind,threads?,backend?,check?}>} p.commands
 *   kind: 'peer' | 'floor' | 'veritree' | 'base'; backend: for the efficiency column ('auto' → the
 *   configuration's pick); check(cfg): untimed correctness check of the command in that config.
 * @param {number} p.reps
 * @param {string[]|null} p.leafBackends  run `veritree bench --json` on these in every rep
 */
async function runPhase({ name, commands, reps, leafBackends, bytes, files }) {
  const t0 = performance.now();
  const phase = { name, bytes, files, reps, commands: commands.map(({ check, ...c }) => c), checks: {}, runs: [], leaf: [] };
  report.phases[name] = phase;

  for (const cfg of S.configs) {
    const t = performance.now();
    for (const c of commands) c.check?.(cfg);
    phase.checks[cfg] = 'ok';
    log(`[${name}] ${cfg}: all outputs agree (${((performance.now() - t) / 1e3).toFixed(1)} s)`);
  }

  const leafArgv = leafBackends && [
    NODE, CLI, 'bench', '--json', `--backend=${leafBackends.join(',')}`, `--threads=${cores > 1 ? `1,${cores}` : '1'}`,
    '--tree-files=200', `--duration=${S.leafDurationMs}`,
  ];
  phase.leafArgv = leafArgv ?? null;
  const slots = S.configs.flatMap((cfg) => [...commands.map((c) => ({ cfg, c })), ...(leafArgv ? [{ cfg, leaf: true }] : [])]);
  phase.coresBefore = await probeCores();
  const tLoop = performance.now();
  for (let rep = 0; rep < reps; rep++) {
    for (let k = 0; k < slots.length; k++) {
      const slot = slots[(k + rep) % slots.length];
      const env = ENVS[slot.cfg];
      if (slot.leaf) {
        const r = runner.run(leafArgv, env, { capture: true });
        const doc = JSON.parse(r.stdout);
        if (!doc.digestsAgree || doc.treeFailures > 0) throw new Error(`veritree bench (${slot.cfg}): digests disagree or files failed`);
        phase.leaf.push({ rep, config: slot.cfg, results: doc.results, auto: doc.auto, reference: doc.reference, elapsedMs: doc.elapsedMs, wallMs: r.ms });
        progress(name, rep, reps, `${slot.cfg} veritree bench (leaf)`, r.ms, tLoop);
        continue;
      }
      const r = runner.run(slot.c.argv, env);
      phase.runs.push({ rep, slot: k, config: slot.cfg, key: slot.c.key, ms: r.ms, cpuMs: r.cpuMs ?? null, rssKB: r.rssKB ?? null });
      progress(name, rep, reps, `${slot.cfg} ${slot.c.label}`, r.ms, tLoop);
    }
  }
  process.stderr.write('\n');
  phase.coresAfter = await probeCores();
  phase.loadavgAfter = os.loadavg();
  phase.loopS = (performance.now() - tLoop) / 1e3;
  phase.elapsedS = (performance.now() - t0) / 1e3;
  saveJson();
  return phase;
}

function progress(name, rep, reps, label, ms, tLoop) {
  const done = (performance.now() - tLoop) / 1e3;
  const eta = rep > 0 ? ` eta ${Math.round((done / rep) * (reps - rep))} s` : '';
  process.stderr.write(`\r[${name} ${rep + 1}/${reps}${eta}] ${label.slice(0, 58).padEnd(58)} ${ms.toFixed(0).padStart(7)} ms   `);
}

// ---------------------------------------------------------------------------------------------
// Checks (untimed; stdout captured)

const sortedLines = (text) => text.split('\n').filter((l) => l !== '').sort();
function sameLines(label, got, want) {
  if (got.length !== want.length) throw new Error(`${label}: ${got.length} lines, fsverity printed ${want.length}`);
  for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) throw new Error(`${label}: output differs from fsverity's (${got[i]} / ${want[i]})`);
}

// ---------------------------------------------------------------------------------------------
// Statistics over one phase

const runsOf = (phase, cfg, key) => phase.runs.filter((r) => r.config === cfg && r.key === key).sort((a, b) => a.rep - b.rep);
const msByRep = (phase, cfg, key) => new Map(runsOf(phase, cfg, key).map((r) => [r.rep, r.ms]));
/** Median over repetitions of (peer time / command time). */
function ratio(phase, cfg, key, peerKey) {
  const a = msByRep(phase, cfg, key);
  const p = msByRep(phase, cfg, peerKey);
  return median([...a].filter(([rep]) => p.has(rep)).map(([rep, ms]) => p.get(rep) / ms));
}
function leafMBps(phase, cfg, rep, backend, threads) {
  const l = phase.leaf.find((x) => x.config === cfg && x.rep === rep);
  return l?.results.find((x) => x.backend === backend && x.threads === threads)?.leafMBps;
}
const resolveBackend = (cfg, b) => (b === 'auto' ? report.autoPicks[cfg]?.pick : b);
/** Median over repetitions of (MB/s ÷ threads) ÷ (leaf MB/s at that thread count ÷ threads). */
function efficiency(phase, cfg, c) {
  const b = resolveBackend(cfg, c.backend);
  if (!b || !c.threads) return NaN;
  return median(runsOf(phase, cfg, c.key).map((r) => (phase.bytes / 1e6 / (r.ms / 1e3) / c.threads) / ((leafMBps(phase, cfg, r.rep, b, c.threads) ?? NaN) / c.threads)));
}
function stats(phase, cfg, key) {
  const rs = runsOf(phase, cfg, key);
  const ms = rs.map((r) => r.ms);
  return {
    n: rs.length,
    medianMs: median(ms),
    minMs: Math.min(...ms),
    maxMs: Math.max(...ms),
    cpuMs: median(rs.map((r) => r.cpuMs ?? NaN)),
    peakRssKB: rs.some((r) => r.rssKB !== null) ? Math.max(...rs.map((r) => r.rssKB ?? 0)) : NaN,
  };
}

// ---------------------------------------------------------------------------------------------
// Workloads

const phases = [];

if (S.workloads.includes('tree') || S.workloads.includes('file')) {
  for (const cfg of S.configs) {
    report.autoPicks[cfg] = autoPicks(ENVS[cfg]);
    log(`auto picks (${cfg}): ${JSON.stringify(report.autoPicks[cfg].tally)}`);
  }
}
const leafBackends = [...new Set(['wasm-simd', 'node-crypto', ...Object.values(report.autoPicks).map((a) => a.pick)])];

if (S.workloads.includes('tree')) {
  const { path: dir, info } = timedEnsure(`tree (${S.files} files, ${(S.treeBytes / 1e6).toFixed(0)} MB)`, () => ensureTree(treeSpec));
  const files = listFiles(dir);
  const sizes = files.map((f) => fs.statSync(f).size);
  const bytes = sizes.reduce((a, b) => a + b, 0);
  const blocks = sizes.reduce((a, s) => a + Math.ceil(s / 4096), 0);
  report.data.tree = { path: dir, files: files.length, bytes, sigma: info.sigma, bigFiles: S.bigFiles, seed: S.seed };
  log(`warming the page cache: ${files.length} files, ${(bytes / 1e6).toFixed(1)} MB`);
  warmPageCache(files);
  const floor = floorArgv(files, cores, scratch);

  const xargs = `find ${q(dir)} -type f -print0 | xargs -0 fsverity digest`;
  const xargsP = `find ${q(dir)} -type f -print0 | xargs -0 -n${S.xargsN} -P${S.xargsP} fsverity digest`;
  let reference;
  const refCheck = (cfg) => {
    reference = sortedLines(runner.run(sh(xargs), ENVS[cfg], { capture: true }).stdout);
    if (reference.length !== files.length) throw new Error(`fsverity printed ${reference.length} lines for ${files.length} files`);
  };
  const linesCheck = (label, argv) => (cfg) => sameLines(label, sortedLines(runner.run(argv, ENVS[cfg], { capture: true }).stdout), reference);
  const vt = (extra) => [NODE, CLI, 'digest', '-r', dir, ...extra];
  const commands = [
    { key: 'xargs', kind: 'peer', label: 'find T | xargs -0 fsverity digest', argv: sh(xargs), check: refCheck },
    {
      key: 'xargsP', kind: 'peer', label: `find T | xargs -0 -n${S.xargsN} -P${S.xargsP} fsverity digest`, argv: sh(xargsP),
      // Two fsverity processes block-buffering into one pipe tear lines: checked line-buffered.
      check: linesCheck('xargs -P', sh(xargsP.replace('fsverity digest', 'stdbuf -oL fsverity digest'))),
    },
    {
      key: 'floor', kind: 'floor', label: `floor (bench/floor.mjs --child tree, ${cores} threads)`, argv: floor, threads: cores, backend: 'node-crypto',
      check: (cfg) => {
        const got = runner.run(floor, ENVS[cfg], { capture: true }).stdout.trim();
        if (got !== String(blocks)) throw new Error(`floor hashed ${got} blocks, expected ${blocks}`);
      },
    },
    { key: 'vt', kind: 'veritree', label: 'veritree digest -r T', argv: vt([]), threads: cores, backend: 'auto' },
    { key: 'vt1', kind: 'veritree', label: 'veritree digest -r T --threads 1', argv: vt(['--threads', '1']), threads: 1, backend: 'auto' },
    { key: 'vtSimd1', kind: 'veritree', label: 'veritree digest -r T --threads 1 --backend wasm-simd', argv: vt(['--threads', '1', '--backend', 'wasm-simd']), threads: 1, backend: 'wasm-simd' },
    { key: 'vtCrypto1', kind: 'veritree', label: 'veritree digest -r T --threads 1 --backend node-crypto', argv: vt(['--threads', '1', '--backend', 'node-crypto']), threads: 1, backend: 'node-crypto' },
  ];
  for (const c of commands) if (c.kind === 'veritree') c.check = linesCheck(c.label, c.argv);
  phases.push(await runPhase({ name: 'tree', commands, reps: S.reps, leafBackends, bytes, files: files.length }));
}

if (S.workloads.includes('file')) {
  const { path: file } = timedEnsure(`file (${S.fileBytes} bytes)`, () => ensureFile(S.fileBytes, S.seed));
  report.data.file = { path: file, bytes: S.fileBytes, seed: S.seed };
  log('warming the page cache: the big file');
  warmPageCache([file]);
  const floor = [NODE, FLOOR, '--child', 'file', String(cores), file];
  let expected;
  const digestOf = (argv, cfg) => runner.run(argv, ENVS[cfg], { capture: true }).stdout.split(' ')[0];
  const vt = (extra) => [NODE, CLI, 'digest', file, ...extra];
  const commands = [
    { key: 'fsverity', kind: 'peer', label: 'fsverity digest F', argv: ['fsverity', 'digest', file], check: (cfg) => (expected = digestOf(['fsverity', 'digest', file], cfg)) },
    {
      key: 'floor', kind: 'floor', label: `floor (bench/floor.mjs --child file, ${cores} threads)`, argv: floor, threads: cores, backend: 'node-crypto',
      check: (cfg) => {
        const got = runner.run(floor, ENVS[cfg], { capture: true }).stdout.trim();
        if (got !== String(Math.ceil(S.fileBytes / 4096))) throw new Error(`floor hashed ${got} blocks`);
      },
    },
    { key: 'vt', kind: 'veritree', label: 'veritree digest F', argv: vt([]), threads: cores, backend: 'auto' },
    { key: 'vt1', kind: 'veritree', label: 'veritree digest F --threads 1', argv: vt(['--threads', '1']), threads: 1, backend: 'auto' },
    { key: 'vtSimd1', kind: 'veritree', label: 'veritree digest F --threads 1 --backend wasm-simd', argv: vt(['--threads', '1', '--backend', 'wasm-simd']), threads: 1, backend: 'wasm-simd' },
    { key: 'vtCrypto1', kind: 'veritree', label: 'veritree digest F --threads 1 --backend node-crypto', argv: vt(['--threads', '1', '--backend', 'node-crypto']), threads: 1, backend: 'node-crypto' },
  ];
  for (const c of commands) {
    if (c.kind !== 'veritree') continue;
    c.check = (cfg) => {
      const got = digestOf(c.argv, cfg);
      if (got !== expected) throw new Error(`${c.label} printed ${got}, fsverity ${expected}`);
    };
  }
  phases.push(await runPhase({ name: 'file', commands, reps: S.reps, leafBackends, bytes: S.fileBytes, files: 1 }));
}

if (S.workloads.includes('startup')) {
  const { path: small } = timedEnsure(`small file (${S.smallBytes} bytes)`, () => ensureFile(S.smallBytes, S.seed));
  report.data.small = { path: small, bytes: S.smallBytes };
  let expected;
  const digestOf = (argv, cfg) => runner.run(argv, ENVS[cfg], { capture: true }).stdout.split(' ')[0];
  const commands = [
    { key: 'node', kind: 'base', label: 'node -e 0', argv: [NODE, '-e', '0'] },
    { key: 'fsverity', kind: 'peer', label: 'fsverity digest SMALL', argv: ['fsverity', 'digest', small], check: (cfg) => (expected = digestOf(['fsverity', 'digest', small], cfg)) },
    {
      key: 'vtSmall', kind: 'veritree', label: 'veritree digest SMALL', argv: [NODE, CLI, 'digest', small],
      check: (cfg) => {
        const got = digestOf([NODE, CLI, 'digest', small], cfg);
        if (got !== expected) throw new Error(`veritree printed ${got}, fsverity ${expected}`);
      },
    },
    {
      key: 'vtEmpty', kind: 'veritree', label: 'veritree digest -r EMPTYDIR', argv: [NODE, CLI, 'digest', '-r', emptyDir],
      check: (cfg) => {
        const out = runner.run([NODE, CLI, 'digest', '-r', emptyDir], ENVS[cfg], { capture: true }).stdout;
        if (out !== '') throw new Error(`veritree digest -r EMPTYDIR printed ${JSON.stringify(out)}`);
      },
    },
  ];
  phases.push(await runPhase({ name: 'startup', commands, reps: S.startupReps, leafBackends: null, bytes: S.smallBytes, files: 1 }));
}

report.elapsedS = (performance.now() - t0All) / 1e3;

// ---------------------------------------------------------------------------------------------
// Summaries (into the JSON too) and the markdown report

for (const phase of phases) {
  phase.summary = {};
  for (const cfg of S.configs) {
    phase.summary[cfg] = {};
    const peers = phase.commands.filter((c) => c.kind === 'peer' || c.kind === 'floor' || c.kind === 'base');
    for (const c of phase.commands) {
      const st = stats(phase, cfg, c.key);
      const vs = Object.fromEntries(peers.filter((p) => p.key !== c.key).map((p) => [p.key, ratio(phase, cfg, c.key, p.key)]));
      phase.summary[cfg][c.key] = {
        ...st,
        MBps: phase.name === 'startup' ? null : phase.bytes / 1e6 / (st.medianMs / 1e3),
        filesPerS: phase.name === 'tree' ? phase.files / (st.medianMs / 1e3) : null,
        vs,
        backend: resolveBackend(cfg, c.backend) ?? null,
        efficiency: phase.name === 'startup' ? null : efficiency(phase, cfg, c),
      };
    }
  }
}
saveJson();

const md = [];
const startupPhase = phases.find((p) => p.name === 'startup');
const cfgLabel = (cfg) => (cfg === 'native' ? 'native' : 'masked');
const sizeText = (b) => {
  for (const [unit, k] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]]) if (b >= k && b % k === 0) return `${b / k} ${unit}`;
  return b >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : `${b} bytes`;
};
md.push(`### veritree at scale (${phases.filter((p) => p.name !== 'startup').length ? `${S.reps} interleaved repetitions` : ''}${phases.length > 1 ? '; ' : ''}${startupPhase ? `start-up ${S.startupReps}` : ''})`, '');
md.push(
  `${report.host.cpu}, ${cores} cores${report.host.shaNi ? ' (SHA extensions: yes)' : report.host.shaNi === false ? ' (no SHA extensions: the mask changes nothing)' : ''}, ` +
    `${report.host.memoryGB} GB RAM; Node ${process.version} (OpenSSL ${process.versions.openssl}), ${report.host.fsverity}, ${report.host.xargs}. ` +
    `${S.configs.includes('native') ? '**native**: the environment as is' : ''}${S.configs.length > 1 ? '; ' : ''}${S.configs.includes('masked') ? `**masked**: \`OPENSSL_ia32cap="${S.mask}"\` for every process (veritree, fsverity, the floor, node, veritree bench)` : ''}. ` +
    `Whole processes, stdout to /dev/null; all outputs checked equal to fsverity's (sorted lines) in ${S.configs.length > 1 ? 'both configurations' : 'this configuration'} before timing. ` +
    '× = peer time / veritree time (median of per-repetition ratios; above 1: veritree faster). MB = 10^6 bytes.',
);

const summaryRows = [];
for (const phase of phases.filter((p) => p.name !== 'startup')) {
  for (const cfg of S.configs) {
    const s = phase.summary[cfg];
    const v = s.vt;
    const peerKeys = phase.name === 'tree' ? ['xargs', 'xargsP'] : ['fsverity'];
    summaryRows.push(
      `| ${phase.name === 'tree' ? `tree: ${int(phase.files)} files, ${(phase.bytes / 1e6).toFixed(0)} MB` : `one ${sizeText(phase.bytes)} file`} | ${cfgLabel(cfg)} | ` +
        `${secs(v.medianMs)} | ${int(v.MBps)} | ${peerKeys.map((k) => times(v.vs[k])).join(' | ')}${phase.name === 'tree' ? '' : ' | —'} | ${times(v.vs.floor)} | ${times(s.vt1.vs[peerKeys[0]])} | ${Number.isFinite(v.efficiency) ? v.efficiency.toFixed(2) : 'n/a'} |`,
    );
  }
}
if (summaryRows.length) {
  md.push('', `#### Summary: \`veritree digest\` (${cores} threads, backend auto) against its peers`, '');
  md.push(
    `| workload | SHA ext | veritree | MB/s | × fsverity (xargs / single) | × xargs -n${S.xargsN} -P${S.xargsP} | × floor | × fsverity, veritree --threads 1 | efficiency |`,
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...summaryRows,
  );
}

for (const phase of phases.filter((p) => p.name !== 'startup')) {
  const tree = phase.name === 'tree';
  const peerCols = tree ? [['xargs', '× xargs'], ['xargsP', `× xargs -P${S.xargsP}`], ['floor', '× floor']] : [['fsverity', '× fsverity'], ['floor', '× floor']];
  md.push('');
  md.push(
    tree
      ? `#### Tree: ${int(phase.files)} files, ${(phase.bytes / 1e6).toFixed(1)} MB (log-normal, median 8 KiB, ${S.bigFiles} of 1–9 MiB; seed ${S.seed}; page-cached)`
      : `#### One ${sizeText(phase.bytes)} file (seed ${S.seed}; page-cached)`,
    '',
    `| command | SHA ext | median wall | min–max | MB/s |${tree ? ' files/s |' : ''} CPU | peak RSS | ${peerCols.map((p) => p[1]).join(' | ')} | efficiency |`,
    `|---|---|---:|---:|---:|${tree ? '---:|' : ''}---:|---:|${peerCols.map(() => '---:|').join('')}---|`,
  );
  for (const cfg of S.configs) {
    for (const c of phase.commands) {
      const s = phase.summary[cfg][c.key];
      const eff = Number.isFinite(s.efficiency) ? `${s.efficiency.toFixed(2)} (${s.backend} ×${c.threads}${c.kind === 'floor' ? ', crypto.hash' : ''})` : '—';
      md.push(
        `| ${code(c.label)} | ${cfgLabel(cfg)} | ${secs(s.medianMs)} | ${(s.minMs / 1e3).toFixed(3)}–${(s.maxMs / 1e3).toFixed(3)} s | ${int(s.MBps)} |` +
          `${tree ? ` ${int(s.filesPerS)} |` : ''} ${secs(s.cpuMs)} | ${mb(s.peakRssKB)} | ${peerCols.map(([k]) => (k === c.key ? '—' : times(s.vs[k]))).join(' | ')} | ${eff} |`,
      );
    }
  }
  if (!tree) {
    const vtKeys = phase.commands.filter((c) => c.kind === 'veritree');
    const worst = Math.max(...S.configs.flatMap((cfg) => vtKeys.map((c) => phase.summary[cfg][c.key].peakRssKB).filter(Number.isFinite)));
    md.push('', `Peak RSS of veritree on the ${sizeText(phase.bytes)} file, largest over all ${vtKeys.length * S.configs.length * phase.reps} veritree runs: ${mb(worst)} ` +
      `(default threads: ${S.configs.map((cfg) => `${cfgLabel(cfg)} ${mb(phase.summary[cfg].vt.peakRssKB)}`).join(', ')}; fsverity: ${S.configs.map((cfg) => `${cfgLabel(cfg)} ${mb(phase.summary[cfg].fsverity.peakRssKB)}`).join(', ')})` +
      (phase.bytes >= 4 * 2 ** 30 ? `; target ≤ 150 MB: ${worst / 1024 <= 150 ? 'met' : 'MISSED'}.` : '.'));
  }
  md.push('', `Cores this process could use (spinning threads, CPU/wall): ${phase.coresBefore.toFixed(2)} before, ${phase.coresAfter.toFixed(2)} after, of ${cores}; load average after ${phase.loadavgAfter.map((x) => x.toFixed(2)).join(' ')}; phase took ${phase.elapsedS.toFixed(0)} s.`);
}

// Leaf throughput behind the efficiency column, and whether the mask took.
const leafPhases = phases.filter((p) => p.leaf.length > 0);
if (leafPhases.length) {
  md.push('', '#### Leaf throughput (`veritree bench --json`, in-memory 4 KiB leaves; median over the runs in the rotations)', '');
  md.push('| SHA ext | backend | threads | leaf MB/s | per thread | runs |', '|---|---|---:|---:|---:|---:|');
  const all = leafPhases.flatMap((p) => p.leaf);
  for (const cfg of S.configs) {
    const mine = all.filter((l) => l.config === cfg);
    for (const b of leafBackends) {
      for (const n of cores > 1 ? [1, cores] : [1]) {
        const xs = mine.map((l) => l.results.find((x) => x.backend === b && x.threads === n)?.leafMBps).filter(Number.isFinite);
        md.push(`| ${cfgLabel(cfg)} | ${b} | ${n} | ${int(median(xs))} | ${int(median(xs) / n)} | ${xs.length} |`);
      }
    }
  }
  const ref = Object.fromEntries(S.configs.map((cfg) => {
    const mine = all.filter((l) => l.config === cfg);
    return [cfg, {
      nodeCrypto: median(mine.map((l) => l.reference.nodeCryptoMBps)),
      openssl: median(mine.map((l) => l.reference.openssl?.mbps ?? NaN)),
      auto: mine.map((l) => l.auto.backend),
    }];
  }));
  report.opensslReference = ref;
  md.push('', `OpenSSL single stream (1 thread, 4 KiB): ${S.configs.map((cfg) => `${cfgLabel(cfg)}: node:crypto ${int(ref[cfg].nodeCrypto)} MB/s, \`openssl speed\` ${int(ref[cfg].openssl)} MB/s`).join('; ')}.`);
  if (ref.native && ref.masked) {
    const r = ref.masked.nodeCrypto / ref.native.nodeCrypto;
    md.push(`Masked / native node:crypto: ${r.toFixed(2)}${r > 0.9 ? ' — WARNING: the mask made no difference (no SHA extensions on this CPU, or OPENSSL_ia32cap ignored)' : ' (the mask took effect)'}.`);
  }
  md.push(`\`--backend auto\` picks (\`digest --json -r EMPTYDIR\`, 5 runs pooled + 5 on one thread): ${S.configs.map((cfg) => `${cfgLabel(cfg)} ${Object.entries(report.autoPicks[cfg]?.tally ?? {}).map(([b, n]) => `${b} ${n}/10`).join(', ')}`).join('; ')}.`);
}

const startup = phases.find((p) => p.name === 'startup');
if (startup) {
  md.push('', `#### Start-up (${sizeText(startup.bytes)} file SMALL, empty directory EMPTYDIR; ${startup.reps} interleaved repetitions)`, '');
  md.push('| command | SHA ext | median wall | min–max | above `node -e 0` | × fsverity digest SMALL | CPU | peak RSS |', '|---|---|---:|---:|---:|---:|---:|---:|');
  for (const cfg of S.configs) {
    const base = msByRep(startup, cfg, 'node');
    for (const c of startup.commands) {
      const s = startup.summary[cfg][c.key];
      const above = c.key === 'node' ? '—' : millis(median(runsOf(startup, cfg, c.key).filter((r) => base.has(r.rep)).map((r) => r.ms - base.get(r.rep))));
      md.push(`| ${code(c.label)} | ${cfgLabel(cfg)} | ${millis(s.medianMs)} | ${s.minMs.toFixed(1)}–${s.maxMs.toFixed(1)} ms | ${above} | ${c.key === 'fsverity' ? '—' : times(s.vs.fsverity)} | ${millis(s.cpuMs)} | ${mb(s.peakRssKB)} |`);
    }
  }
}

md.push('', `Total ${(report.elapsedS / 60).toFixed(1)} min. Raw timings: ${JSON_OUT}`);
const text = `${md.join('\n')}\n`;
process.stdout.write(text);
if (args.md) writeAtomic(args.md, text);
saveJson();
log(`raw timings: ${JSON_OUT}`);
