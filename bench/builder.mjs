#!/usr/bin/env node
// Builders at scale: what storing costs on top of hashing, on the bench/scale.mjs tree
// (~100,000 files / 2.5 GB). Whole processes, interleaved, medians; every ratio is the median of
// per-repetition ratios.
//
//   npm run build
//   node bench/builder.mjs --store-dir=/mnt/scratch          # full tree, 3 reps
//   node bench/builder.mjs --files=300 --tree-bytes=30MB --reps=2
//
// Measured, each once per repetition in a rotated order:
//   digest     veritree digest -r TREE                            (the bulk digest throughput)
//   import     veritree import TREE --objects S --dump D          (objects durable before named)
//   import-nf  … --no-fsync
//   reimport   the same import into a store that holds every object already (filled untimed)
//   image      veritree image create TREE IMG --digest-store S    (objects + image)
//   cp         cp -r TREE S                                       (the floor of any copying store)
//   mkcfs      mkcomposefs --digest-store=S TREE IMG              (with --mkcomposefs=PATH only)
// Ratios: import throughput ÷ digest throughput (= digest time / import time), image ÷ import,
// cp time ÷ import time, mkcomposefs time ÷ image time.
//
// Stores go to --store-dir (default: a directory beside the cache) and are deleted after each run,
// outside the timing. Put it on a journaled filesystem: ext4 WITHOUT a journal skips every inode
// freed in the last minutes when it allocates a new one (fs/ext4/ialloc.c `recently_deleted`), so
// a run right after a deletion creates files up to 15× slower there (measured on this VM's root).
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Runner, median, mb, parseBytes, secs, times, versionOf } from './lib-scale.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'build/dist/cli/main.js');
const NODE = process.execPath;

process.env.VERITREE_BENCH_CACHE ??= '/var/tmp/veritree-bench';
const { ensureTree, listFiles, warmPageCache } = await import('./gen-tree.mjs');
const { parseFlags } = await import('./whole-file.mjs');

const args = parseFlags(process.argv.slice(2));
const known = new Set(['files', 'big-files', 'tree-bytes', 'seed', 'reps', 'store-dir', 'mkcomposefs', 'threads', 'help']);
for (const k of Object.keys(args)) {
  if (!known.has(k)) {
    process.stderr.write(`unknown option --${k}\nusage: node bench/builder.mjs [--files=N] [--big-files=N] [--tree-bytes=SIZE] [--seed=N] [--reps=N] [--store-dir=DIR] [--mkcomposefs=PATH] [--threads=N]\n`);
    process.exit(2);
  }
}
if (args.help) {
  process.stdout.write(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\nimport ')[0].replace(/^#!.*\n/, '').replace(/^\/\/ ?/gm, ''));
  process.exit(0);
}
const files = Number(args.files ?? 100000);
const bigFiles = Number(args['big-files'] ?? Math.max(1, Math.round(files * 0.0015)));
const spec = { seed: Number(args.seed ?? 1), smallFiles: files - bigFiles, bigFiles, totalBytes: parseBytes(args['tree-bytes'] ?? '2.5GB') };
const reps = Number(args.reps ?? 3);
const storeRoot = path.resolve(args['store-dir'] ?? path.join(process.env.VERITREE_BENCH_CACHE, 'builder-stores'));
const mkcomposefs = args.mkcomposefs;
const threads = args.threads !== undefined ? ['--threads', String(args.threads)] : [];

const tree = ensureTree(spec);
process.stderr.write(`tree: ${tree.path} (${tree.info.files} files, ${(tree.info.bytes / 1e9).toFixed(2)} GB)\n`);
warmPageCache(listFiles(tree.path));
fs.mkdirSync(storeRoot, { recursive: true });
const runner = new Runner();
const out = (name) => path.join(storeRoot, name);
// Deleting 100,000 files leaves the filesystem writing back for a while: settle it (untimed) so
// the next run does not pay for the last one's deletion.
const clean = () => {
  for (const e of fs.readdirSync(storeRoot)) fs.rmSync(path.join(storeRoot, e), { recursive: true, force: true });
  spawnSync('sync', ['-f', storeRoot]);
};

const commands = {
  digest: () => [NODE, CLI, 'digest', '-r', tree.path, ...threads],
  import: () => [NODE, CLI, 'import', tree.path, '--objects', out('objects'), '--dump', out('dump'), ...threads],
  'import-nf': () => [NODE, CLI, 'import', tree.path, '--objects', out('objects'), '--dump', out('dump'), '--no-fsync', ...threads],
  // Every object there already (an unchanged layer imported again): filled untimed first.
  reimport: () => [NODE, CLI, 'import', tree.path, '--objects', out('objects'), '--dump', out('dump'), ...threads],
  image: () => [NODE, CLI, 'image', 'create', tree.path, out('image.cfs'), '--digest-store', out('objects'), ...threads],
  cp: () => ['cp', '-r', tree.path, out('copy')],
  ...(mkcomposefs ? { mkcfs: () => [mkcomposefs, `--digest-store=${out('objects')}`, tree.path, out('image.cfs')] } : {}),
};
const names = Object.keys(commands);

// Untimed check: the store import fills passes the fsck (every object's digest is its name).
clean();
runner.run(commands['import-nf'](), process.env);
const fsck = runner.run([NODE, CLI, 'verify-cas', out('objects')], process.env, { capture: true });
process.stderr.write(`check: verify-cas of the imported store: ${fsck.stdout.trim()}\n`);
clean();

const times_ = Object.fromEntries(names.map((n) => [n, []]));
const rss = Object.fromEntries(names.map((n) => [n, []]));
for (let rep = 0; rep < reps; rep++) {
  const order = names.map((_, i) => names[(i + rep) % names.length]);
  for (const n of order) {
    clean();
    if (n === 'reimport') {
      runner.run(commands['import-nf'](), process.env);
      spawnSync('sync', ['-f', storeRoot]);
    }
    const r = runner.run(commands[n](), process.env);
    times_[n].push(r.ms);
    rss[n].push(r.rssKB);
    process.stderr.write(`rep ${rep + 1}/${reps} ${n}: ${secs(r.ms)}\n`);
  }
}
clean();

const perRep = (a, b) => median(times_[a].map((t, i) => times_[b][i] / t));
const lines = [
  `| run | median | peak RSS |`,
  `|---|---:|---:|`,
  ...names.map((n) => `| ${n} | ${secs(median(times_[n]))} | ${mb(median(rss[n]))} |`),
  '',
  `| ratio | value |`,
  `|---|---:|`,
  `| import throughput ÷ digest throughput (target ≥ 0.8) | ${times(perRep('import', 'digest'))} |`,
  `| import --no-fsync throughput ÷ digest throughput | ${times(perRep('import-nf', 'digest'))} |`,
  `| import into a store holding every object ÷ digest throughput | ${times(perRep('reimport', 'digest'))} |`,
  `| image create --digest-store time ÷ import time (target ≤ 1.10) | ${times(median(times_.image.map((t, i) => t / times_.import[i])))} |`,
  `| cp -r time ÷ import time (above 1: import faster than copying alone) | ${times(perRep('import', 'cp'))} |`,
  `| cp -r time ÷ import --no-fsync time | ${times(perRep('import-nf', 'cp'))} |`,
  ...(mkcomposefs ? [`| mkcomposefs --digest-store time ÷ image create --digest-store time | ${times(perRep('image', 'mkcfs'))} |`] : []),
];
process.stdout.write(`# builder bench: ${tree.info.files} files, ${(tree.info.bytes / 1e9).toFixed(2)} GB, ${reps} reps, stores in ${storeRoot}\n`);
process.stdout.write(`node ${process.version}; ${versionOf('cp') ?? 'cp'}${mkcomposefs ? `; mkcomposefs ${versionOf(mkcomposefs) ?? ''}` : ''}\n\n`);
process.stdout.write(`${lines.join('\n')}\n`);
