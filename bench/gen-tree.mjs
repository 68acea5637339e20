#!/usr/bin/env node
// The benchmark inputs, generated once and cached: the seeded file tree of bench/tree.mjs and the
// large single files of bench/whole-file.mjs. The generator itself is src/bench/tree-gen.ts (the
// same code `veritree bench` uses), so run `npm run build` first.
//
//   node bench/gen-tree.mjs                 # the 20,030-file ≈ 500 MB tree; prints its path
//   node bench/gen-tree.mjs --file=1g       # a 1 GiB seeded file; prints its path
//
// Cache: $VERITREE_BENCH_CACHE or /tmp/veritree-bench-cache. An entry counts only once its
// marker (<name>.done, beside it) is written, so an interrupted generation is redone.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LARGE_TREE, planTree, writeTree, writeSeededFile } from '../build/dist/bench/tree-gen.js';

/** Bumped whenever the generator's output changes, so stale cache entries are not reused. */
const GENERATOR_VERSION = 1;

export const CACHE_DIR = process.env.VERITREE_BENCH_CACHE ?? '/tmp/veritree-bench-cache';

function cached(name, make) {
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const target = path.join(CACHE_DIR, name);
  const marker = `${target}.done`;
  if (fs.existsSync(marker)) return { path: target, info: JSON.parse(fs.readFileSync(marker, 'utf8')), fresh: false };
  fs.rmSync(target, { recursive: true, force: true });
  const t0 = performance.now();
  const info = make(target);
  fs.writeFileSync(marker, JSON.stringify({ ...info, generatorVersion: GENERATOR_VERSION, seconds: (performance.now() - t0) / 1000 }));
  return { path: target, info, fresh: true };
}

/** The bench/tree.mjs tree (or another spec of the same shape); returns { path, info }. */
export function ensureTree(spec = LARGE_TREE) {
  const name = `tree-v${GENERATOR_VERSION}-seed${spec.seed}-${spec.smallFiles}+${spec.bigFiles}-${spec.totalBytes}`;
  return cached(name, (dir) => {
    const plan = planTree(spec);
    writeTree(dir, plan);
    return { files: plan.files.length, bytes: plan.totalBytes, sigma: plan.sigma };
  });
}

/** A seeded file of `bytes` bytes; returns { path, info }. */
export function ensureFile(bytes, seed = 1) {
  return cached(`file-v${GENERATOR_VERSION}-seed${seed}-${bytes}.bin`, (file) => {
    writeSeededFile(file, bytes, seed);
    return { bytes };
  });
}

/** '1g', '512m', '4096k', '123' → bytes (binary units). */
export function parseSize(text) {
  const m = /^([0-9]+)([kmg]?)i?b?$/i.exec(String(text).trim());
  if (!m) throw new Error(`bad size ${JSON.stringify(text)} (e.g. 1g, 512m)`);
  return Number(m[1]) * { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase()];
}

/** Reads every byte of the given files so the timed runs hit the page cache. */
export function warmPageCache(files) {
  const buf = Buffer.allocUnsafe(16 << 20);
  for (const f of files) {
    const fd = fs.openSync(f, 'r');
    try {
      while (fs.readSync(fd, buf, 0, buf.length, null) > 0);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** Every regular file below `dir`. */
export function listFiles(dir) {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.join(d.parentPath ?? d.path, d.name));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  const fileArg = process.argv.slice(2).find((a) => a.startsWith('--file='));
  const r = fileArg ? ensureFile(parseSize(fileArg.slice('--file='.length))) : ensureTree();
  process.stderr.write(`${r.fresh ? 'generated' : 'cached'}: ${JSON.stringify(r.info)}\n`);
  process.stdout.write(`${r.path}\n`);
}
