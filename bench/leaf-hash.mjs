#!/usr/bin/env node
// Leaf hashing throughput: 4 KiB Merkle blocks, 256 blocks (1 MiB) per task call, for our two WASM
// kernels against node:crypto (OpenSSL), @noble/hashes and hash-wasm, SHA-256 and SHA-512.
//
//   npm run build && node bench/leaf-hash.mjs [--rounds=3] [--time=400] [--salt] [--alg=sha256,sha512]
//                                            [--clock=cpu|wall]
//
// The machine is shared and noisy: every round runs all tasks once (tinybench, median latency per
// task), and the table shows the median over rounds; the ratios are medians of the per-round
// ratios, i.e. always between numbers measured close together. By default tinybench's clock is
// this process's CPU time (process.cpuUsage), so time spent descheduled while other processes run
// does not count; --clock=wall measures elapsed time instead.
import crypto from 'node:crypto';
import { Bench } from 'tinybench';
import { createSHA256, createSHA512 } from 'hash-wasm';
import { sha256 as nobleSha256, sha512 as nobleSha512 } from '@noble/hashes/sha2.js';
import { wasmSimdFactory, wasmScalarFactory } from '../build/dist/backends/wasm.js';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`bad argument ${a}`);
    return [m[1], m[2] ?? 'true'];
  }),
);
const ROUNDS = Number(args.rounds ?? 3);
const TIME_MS = Number(args.time ?? 400);
const SALTED = args.salt === 'true';
const ALGS = (args.alg ?? 'sha256,sha512').split(',');
const CLOCK = args.clock ?? 'cpu';
if (CLOCK !== 'cpu' && CLOCK !== 'wall') throw new Error('--clock must be cpu or wall');
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const B = 4096;
const N = 256;
const BYTES = B * N;
const ALG_INFO = {
  sha256: { name: 'sha256', id: 1, digestSize: 32, hashBlockSize: 64 },
  sha512: { name: 'sha512', id: 2, digestSize: 64, hashBlockSize: 128 },
};

const data = new Uint8Array(BYTES);
for (let i = 0; i < BYTES; i++) data[i] = (i * 2654435761) >>> 24;
const blocks = Array.from({ length: N }, (_, i) => data.subarray(i * B, (i + 1) * B));

async function tasksFor(algName) {
  const alg = ALG_INFO[algName];
  const salt = SALTED ? new Uint8Array(alg.hashBlockSize).fill(0xa5, 0, 32) : new Uint8Array(0);
  const out = new Uint8Array(N * alg.digestSize);
  const tasks = {};

  for (const [name, factory] of [['wasm-simd', wasmSimdFactory], ['wasm-scalar', wasmScalarFactory]]) {
    if (!factory.available()) continue;
    const h = factory.create(alg, salt);
    const view = h.inputBuffer(BYTES);
    view.set(data);
    tasks[name] = () => h.hashBlocks(view, B, N, out, 0);
  }
  if (wasmSimdFactory.available()) {
    const h = wasmSimdFactory.create(alg, salt);
    tasks['wasm-simd (copy in)'] = () => h.hashBlocks(data, B, N, out, 0);
  }

  tasks['node-crypto'] = SALTED
    ? () => {
        for (const b of blocks) crypto.createHash(algName).update(salt).update(b).digest();
      }
    : () => {
        for (const b of blocks) crypto.hash(algName, b, 'base64');
      };

  const noble = algName === 'sha256' ? nobleSha256 : nobleSha512;
  tasks.noble = SALTED
    ? () => {
        for (const b of blocks) noble.create().update(salt).update(b).digest();
      }
    : () => {
        for (const b of blocks) noble(b);
      };

  const hw = algName === 'sha256' ? await createSHA256() : await createSHA512();
  tasks['hash-wasm'] = () => {
    for (const b of blocks) {
      hw.init();
      if (SALTED) hw.update(salt);
      hw.update(b);
      hw.digest('binary');
    }
  };
  return tasks;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const results = {}; // alg → task → [MB/s per round]
for (const algName of ALGS) {
  const tasks = await tasksFor(algName);
  results[algName] = Object.fromEntries(Object.keys(tasks).map((k) => [k, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const bench = new Bench({ time: TIME_MS, warmupTime: 200, ...(CLOCK === 'cpu' ? { now: cpuNow } : {}) });
    for (const [name, fn] of Object.entries(tasks)) bench.add(name, fn);
    await bench.run();
    for (const task of bench.tasks) {
      const r = task.result;
      if (!r || r.error) throw r?.error ?? new Error(`task ${task.name} produced no result`);
      const ms = r.latency.p50 ?? r.latency.mean;
      results[algName][task.name].push(BYTES / (ms * 1e3)); // MB/s (10^6 bytes)
    }
  }
}

const names = [...new Set(Object.values(results).flatMap((r) => Object.keys(r)))];
const fmt = (x) => (x === undefined ? '—' : x.toFixed(0).padStart(8));
console.log(
  `\nLeaf hashing, ${B}-byte blocks × ${N} per call (${BYTES / 2 ** 20} MiB), ${SALTED ? 'salted' : 'no salt'}; ` +
    `MB/s (10^6 B/s, ${CLOCK === 'cpu' ? 'per CPU second' : 'wall clock'}), median of ${ROUNDS} rounds; node ${process.version}\n`,
);
console.log(['backend'.padEnd(22), ...ALGS.map((a) => a.padStart(8))].join(' '));
for (const n of names)
  console.log([n.padEnd(22), ...ALGS.map((a) => fmt(results[a][n] && median(results[a][n])))].join(' '));

const ratio = (a, num, den) => {
  const x = results[a][num];
  const y = results[a][den];
  if (!x || !y) return undefined;
  return median(x.map((v, i) => v / y[i]));
};
console.log('');
for (const [num, den] of [
  ['wasm-simd', 'hash-wasm'],
  ['wasm-simd', 'wasm-scalar'],
  ['wasm-scalar', 'hash-wasm'],
  ['wasm-simd', 'node-crypto'],
]) {
  const cells = ALGS.map((a) => {
    const r = ratio(a, num, den);
    return (r === undefined ? '—' : `${r.toFixed(2)}×`).padStart(8);
  });
  console.log([`${num} / ${den}`.padEnd(28), ...cells].join(' '));
}
