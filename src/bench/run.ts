/**
 * `veritree bench` measurement plan: every requested backend × thread count on in-memory leaves
 * (leaf-throughput.ts) and on a generated tree (tree-throughput.ts, a HashPool per thread count),
 * then the single-stream native references. Backends are interleaved inside each thread count so
 * a noisy neighbour hits them alike. The caller owns (creates and removes) `treeDir`.
 */
import os from 'node:os';
import { createRequire } from 'node:module';
import { calibrate, type BackendName } from '../backends/index.js';
import { HASH_ALGS, type HashAlg } from '../params.js';
import { defaultThreads, HashPool } from '../pool/pool.js';
import { LeafBench } from './leaf-throughput.js';
import { measureTree, type TreeResult } from './tree-throughput.js';
import { nodeCryptoSingleStream, opensslSpeed } from './reference.js';
import { planTree, scaledTreeSpec, writeTree } from './tree-gen.js';
import type { BenchReport, BenchRow } from './report.js';

export interface BenchOptions {
  readonly hashAlg: HashAlg;
  readonly backends: readonly BackendName[];
  readonly threads: readonly number[];
  readonly durationMs: number;
  readonly treeFiles: number;
  readonly seed: number;
  readonly quick: boolean;
  /** An empty directory to generate the tree in. */
  readonly treeDir: string;
  readonly progress?: (line: string) => void;
}

function packageVersion(): string {
  try {
    return (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const round1 = (x: number) => Math.round(x * 10) / 10;

export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const started = process.hrtime.bigint();
  const say = o.progress ?? (() => {});
  const alg = HASH_ALGS[o.hashAlg];

  say(`generating ${o.treeFiles} files in ${o.treeDir}`);
  const plan = planTree(scaledTreeSpec(o.treeFiles, o.seed));
  writeTree(o.treeDir, plan);

  const auto = calibrate(alg);
  const warmupMs = Math.min(100, Math.max(20, o.durationMs / 4));

  const leaf = new Map<string, number>();
  const leafBench = new LeafBench(Math.max(...o.threads));
  try {
    for (const t of o.threads)
      for (const b of o.backends) {
        say(`leaves: ${b} x${t}`);
        leaf.set(`${b}/${t}`, (await leafBench.run({ backend: b, hashAlg: o.hashAlg, threads: t, durationMs: o.durationMs, warmupMs })).mbps);
      }
  } finally {
    await leafBench.close();
  }

  const tree = new Map<string, TreeResult>();
  for (const t of o.threads) {
    const pool = new HashPool(t);
    try {
      for (const b of o.backends) {
        say(`tree: ${b} x${t}`);
        tree.set(`${b}/${t}`, await measureTree({ dir: o.treeDir, pool, backend: b, hashAlg: o.hashAlg, durationMs: o.durationMs }, plan.files.length));
      }
    } finally {
      await pool.destroy();
    }
  }

  say('native references');
  const nodeCrypto = nodeCryptoSingleStream(o.hashAlg, o.durationMs);
  const openssl = await opensslSpeed(o.hashAlg, 1);

  const results: BenchRow[] = [];
  for (const b of o.backends)
    for (const t of o.threads) {
      const tr = tree.get(`${b}/${t}`)!;
      const leafMBps = leaf.get(`${b}/${t}`)!;
      const efficiency = leafMBps > 0 ? Math.round((tr.mbps / leafMBps) * 1000) / 1000 : 0;
      results.push({ backend: b, threads: t, leafMBps: round1(leafMBps), treeMBps: round1(tr.mbps), treeFilesPerSec: Math.round(tr.filesPerSec), treePasses: tr.passes, efficiency });
    }
  const trees = [...tree.values()];
  const cpus = os.cpus();
  return {
    tool: 'veritree bench',
    version: packageVersion(),
    hashAlg: o.hashAlg,
    blockSize: 4096,
    host: { cpu: cpus[0]?.model.trim() ?? 'unknown CPU', cores: defaultThreads(), node: process.version, platform: process.platform, arch: process.arch },
    settings: { durationMs: o.durationMs, quick: o.quick, threads: [...o.threads], treeFiles: o.treeFiles, seed: o.seed },
    backends: [...o.backends],
    auto: { backend: auto.chosen, calibrationMBps: auto.mbps },
    tree: { files: plan.files.length, bytes: plan.totalBytes, sigma: Math.round(plan.sigma * 1000) / 1000 },
    results,
    reference: { nodeCryptoMBps: round1(nodeCrypto.mbps), nodeCryptoOutput: nodeCrypto.form, openssl: openssl ? { ...openssl, mbps: round1(openssl.mbps) } : null },
    digestsAgree: trees.every((r) => r.fingerprint === trees[0]!.fingerprint && r.files === plan.files.length),
    treeFailures: trees.reduce((s, r) => s + r.failures, 0),
    treeStalls: trees.reduce((s, r) => s + r.stalls, 0),
    elapsedMs: Math.round(Number(process.hrtime.bigint() - started) / 1e6),
  };
}
