#!/usr/bin/env node
// What could any Node.js program reach here? The floor under the whole-program targets, measured in
// the same run as their peers.
//
//   node bench/floor.mjs [--reps=5] [--threads=N]
//
// The floor program (this file with --child) does only the work no fs-verity digest can skip in
// Node, on N worker threads, and nothing else:
//   - tree: the file list is handed over up front (no walk), split evenly by bytes (no scheduling,
//     no messages per file); per file open + fstat + read + close into one reused buffer and one
//     crypto.hash per 4 KiB block (OpenSSL, SHA-NI where present). It computes no upper tree
//     levels, no descriptor, prints nothing: every digest it skips makes it faster, not slower.
//   - one large file: each thread preads and hashes its half, same rules.
// Its wall time includes Node's start-up and the workers' (they are part of every run of any CLI).
// If even this floor misses a target ratio against the peer, no Node.js design can meet it on this
// machine; the table says so.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const BLOCK = 4096;

/** Worker body: hash leaves of whole files, or of one byte range of a file. */
function hashLeaves(job) {
  const buf = Buffer.allocUnsafe(1 << 20);
  let blocks = 0;
  const leaf = (n) => {
    for (let i = 0; i < n; i += BLOCK) crypto.hash('sha256', buf.subarray(i, i + BLOCK), 'binary');
    blocks += Math.ceil(n / BLOCK);
  };
  if (job.files) {
    for (const f of job.files) {
      const fd = fs.openSync(f, 'r');
      const size = fs.fstatSync(fd).size;
      for (let pos = 0; pos < size; ) {
        const n = fs.readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
        if (n === 0) break;
        leaf(n);
        pos += n;
      }
      fs.closeSync(fd);
    }
  } else {
    const fd = fs.openSync(job.file, 'r');
    for (let pos = job.offset; pos < job.end; ) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, job.end - pos), pos);
      if (n === 0) break;
      leaf(n);
      pos += n;
    }
    fs.closeSync(fd);
  }
  return blocks;
}

async function child() {
  const [mode, threadsArg, target] = process.argv.slice(3);
  const threads = Number(threadsArg);
  let jobs;
  if (mode === 'tree') {
    // Largest first onto the least-loaded thread: an even split by bytes.
    // The list holds path NUL size NUL …, sorted by size (descending) by the parent: no stat here.
    const parts = fs.readFileSync(target, 'utf8').split('\0');
    const files = [];
    for (let i = 0; i + 1 < parts.length; i += 2) files.push({ f: parts[i], size: Number(parts[i + 1]) });
    const load = new Array(threads).fill(0);
    jobs = load.map(() => ({ files: [] }));
    for (const { f, size } of files) {
      const k = load.indexOf(Math.min(...load));
      jobs[k].files.push(f);
      load[k] += size + 8192; // + a notional per-file cost, so small files spread too
    }
  } else {
    const size = fs.statSync(target).size;
    const step = Math.ceil(size / threads / BLOCK) * BLOCK;
    jobs = Array.from({ length: threads }, (_, i) => ({ file: target, offset: i * step, end: Math.min(size, (i + 1) * step) }));
  }
  const counts = await Promise.all(
    jobs.map((job) => new Promise((resolve, reject) => {
      const w = new Worker(SELF, { workerData: job });
      w.once('message', resolve);
      w.once('error', reject);
    })),
  );
  process.stdout.write(`${counts.reduce((a, b) => a + b, 0)}\n`);
}

/**
 * argv of the floor program over `files` on `threads` threads (other benches time it beside their
 * peers). Writes the list it reads (path NUL size NUL …, largest first) into `scratchDir`.
 */
export function floorArgv(files, threads, scratchDir) {
  const sized = files.map((f) => ({ f, size: fs.statSync(f).size })).sort((a, b) => b.size - a.size);
  const listFile = `${scratchDir}/veritree-floor-list`;
  fs.writeFileSync(listFile, sized.map(({ f, size }) => `${f}\0${size}\0`).join(''));
  return [process.execPath, SELF, '--child', 'tree', String(threads), listFile];
}

function time(argv) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const { ensureTree, ensureFile, listFiles, warmPageCache } = await import('./gen-tree.mjs');
  const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
  const reps = Math.max(3, Number(args.reps ?? 5));
  const threads = Number(args.threads ?? os.availableParallelism());
  const { path: dir } = ensureTree();
  const files = listFiles(dir);
  const big = ensureFile(1 << 30).path;
  warmPageCache([...files, big]);
  const list = fs.mkdtempSync(`${os.tmpdir()}/veritree-floor-`);
  process.once('exit', () => fs.rmSync(list, { recursive: true, force: true }));
  const treeFloor = floorArgv(files, threads, list);
  const node = process.execPath;
  const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
  const rows = [
    { what: `tree: ${files.length} files`, target: 1.9, peerName: 'find | xargs fsverity digest',
      peer: ['/bin/sh', '-c', `find ${q(dir)} -type f -print0 | xargs -0 fsverity digest > /dev/null`],
      floor: treeFloor },
    { what: `tree: ${files.length} files`, target: 1.25, peerName: `xargs -P2 fsverity digest`,
      peer: ['/bin/sh', '-c', `find ${q(dir)} -type f -print0 | xargs -0 -P2 -n ${Math.ceil(files.length / 2)} -s ${files.join(' ').length + 8192} fsverity digest > /dev/null`],
      floor: treeFloor },
    { what: `tree: scaling 1 → ${threads} threads`, target: 1.8, peerName: 'the floor on 1 thread',
      peer: treeFloor.map((a, i) => (i === 4 ? '1' : a)), floor: treeFloor },
    { what: 'one 1 GiB file', target: 2.2, peerName: 'fsverity digest',
      peer: ['fsverity', 'digest', big], floor: [node, SELF, '--child', 'file', String(threads), big] },
    { what: 'start-up only', target: undefined, peerName: '', peer: undefined,
      floor: [node, SELF, '--child', 'file', String(threads), '/dev/null'] },
  ];
  for (const r of rows) r.peerMs = [], r.floorMs = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const r of rows) {
      if (r.peer) r.peerMs.push(time(r.peer));
      r.floorMs.push(time(r.floor));
    }
    process.stderr.write(`rep ${rep + 1}/${reps}\r`);
  }
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  console.log(`### Floor: the least work any Node.js program does, ${threads} threads (${cpu}, Node ${process.version}), ${reps} interleaved reps\n`);
  console.log('| workload | peer | peer median | floor median | floor ratio | target | reachable in Node? |');
  console.log('|---|---|---:|---:|---:|---:|---|');
  for (const r of rows) {
    const f = median(r.floorMs);
    if (!r.peer) {
      console.log(`| ${r.what} | — | — | ${(f / 1e3).toFixed(3)} s | — | — | Node + ${threads} workers starting |`);
      continue;
    }
    const p = median(r.peerMs);
    const ratio = median(r.peerMs.map((x, i) => x / r.floorMs[i]));
    console.log(`| ${r.what} | \`${r.peerName.replace(/\|/g, '\\|')}\` | ${(p / 1e3).toFixed(3)} s | ${(f / 1e3).toFixed(3)} s | ${ratio.toFixed(2)}× | ≥ ${r.target}× | ${ratio >= r.target ? 'yes' : 'no: even the floor misses it'} |`);
  }
}

const isScript = process.argv[1] !== undefined && fs.realpathSync(process.argv[1]) === SELF;
if (!isMainThread) parentPort.postMessage(hashLeaves(workerData));
else if (isScript && process.argv[2] === '--child') await child();
else if (isScript) await main();
