/**
 * `veritree bench` — "what can this machine hash?": every available backend × 1..cores threads
 * on in-memory 4 KiB leaves and on a generated file tree (seeded, in a temp dir removed
 * afterwards), against the single-stream OpenSSL ceiling, and which backend `auto` picks.
 * Prints a table, or one JSON document (--json); --svg also writes a bar chart.
 * The measurement itself lives in src/bench/.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseIntOption, type ParsedVerbArgs } from './args.js';
import { EXIT_OK, EXIT_PROBLEMS, write, type CliIO, type Verb } from './io.js';
import { defineVerb } from './verb.js';
import { availableBackends, BACKEND_NAMES, FACTORIES, type BackendName } from '../backends/index.js';
import { hashAlgInfo, type HashAlg } from '../params.js';
import { defaultThreads } from '../pool/pool.js';
import { runBench, type BenchOptions } from '../bench/run.js';
import { formatTable } from '../bench/report.js';
import { renderChart } from '../bench/svg-chart.js';
import { writeFileAtomic } from '../report/atomic-write.js';
import { usageError, asVeritreeError } from '../report/errors.js';

const HELP = `Usage: veritree bench [options]

Measure what this machine can hash: every available backend at 1..cores threads, on 4 KiB
Merkle leaves in memory and on a generated file tree (like \`veritree digest -r\`), next to
the single-stream OpenSSL ceiling; shows which backend --backend=auto picks. MB = 10^6 bytes.

Options:
  --hash-alg=ALG        sha256 (default) or sha512
  --backend=LIST        backends to measure, comma-separated (default: all available:
                        ${BACKEND_NAMES.join(', ')})
  --threads=N|LIST      thread counts: N means 1..N, or a list such as 1,2,4 (default:
                        1..cores; on more than 8 cores 1, 2, 4, ... and the core count)
  --tree-files=N        files in the generated tree (default 2000, about 25 kB each on average)
  --duration=MS         time per measurement in milliseconds (default 800)
  --quick               short run for tests and CI (100 ms, 200 files unless given)
  --seed=N              seed of the generated tree (default 1)
  --json                print one JSON document instead of the table
  --svg=FILE            also write a bar chart of the results to FILE (SVG)
  -h, --help            this help

Exit status: 0 measured, 1 backends disagreed on the tree digests, files failed or a pass stalled,
2 usage error or the measurement could not run.
`;

const OPTIONS = {
  'hash-alg': { type: 'string' },
  backend: { type: 'string' },
  threads: { type: 'string' },
  'tree-files': { type: 'string' },
  duration: { type: 'string' },
  quick: { type: 'boolean' },
  seed: { type: 'string' },
  json: { type: 'boolean' },
  svg: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const DEFAULT_DURATION_MS = 800;
const QUICK_DURATION_MS = 100;
const DEFAULT_TREE_FILES = 2000;
const QUICK_TREE_FILES = 200;

function inRange(name: string, value: number | undefined, lo: number, hi: number): number | undefined {
  if (value !== undefined && (value < lo || value > hi)) throw usageError(`--${name} must be between ${lo} and ${hi}, got ${value}`);
  return value;
}

function parseBackends(list: string | undefined): BackendName[] {
  const available = availableBackends();
  if (list === undefined) return available;
  const names = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) throw usageError('--backend: no backend named');
  for (const n of names) {
    if (!(BACKEND_NAMES as readonly string[]).includes(n)) throw usageError(`--backend: unknown backend ${JSON.stringify(n)} (expected ${BACKEND_NAMES.join(', ')})`);
    if (!FACTORIES[n as BackendName].available()) throw usageError(`--backend: ${n} is not available on this host`);
  }
  return [...new Set(names as BackendName[])];
}

/** 1..cores; above 8 cores, the powers of two below and the core count (keeps big hosts fast). */
function defaultThreadCounts(cores: number): number[] {
  if (cores <= 8) return Array.from({ length: cores }, (_, i) => i + 1);
  const counts: number[] = [];
  for (let t = 1; t < cores; t *= 2) counts.push(t);
  return [...counts, cores];
}

function parseThreads(value: string | undefined): number[] {
  if (value === undefined) return defaultThreadCounts(defaultThreads());
  const parts = value.split(',');
  const nums = parts.map((p) => inRange('threads', parseIntOption('threads', p.trim()), 1, 1024)!);
  if (parts.length === 1) return Array.from({ length: nums[0]! }, (_, i) => i + 1);
  return [...new Set(nums)].sort((a, b) => a - b);
}

type Settings = Omit<BenchOptions, 'treeDir' | 'progress'> & { json: boolean; svg: string | undefined };

function parseSettings({ values: v, positionals }: ParsedVerbArgs<typeof OPTIONS>): Settings {
  if (positionals.length > 0) throw usageError(`unexpected argument ${JSON.stringify(positionals[0])} (bench takes no files)`);
  const hashAlg = (v['hash-alg'] !== undefined ? hashAlgInfo(v['hash-alg']).name : 'sha256') as HashAlg;
  const quick = v.quick === true;
  if (v.svg !== undefined && v.svg === '') throw usageError('--svg needs a file name');
  return {
    hashAlg,
    quick,
    backends: parseBackends(v.backend),
    threads: parseThreads(v.threads),
    durationMs: inRange('duration', parseIntOption('duration', v.duration), 10, 600_000) ?? (quick ? QUICK_DURATION_MS : DEFAULT_DURATION_MS),
    treeFiles: inRange('tree-files', parseIntOption('tree-files', v['tree-files']), 1, 1_000_000) ?? (quick ? QUICK_TREE_FILES : DEFAULT_TREE_FILES),
    seed: inRange('seed', parseIntOption('seed', v.seed), 0, 0xffffffff) ?? 1,
    json: v.json === true,
    svg: v.svg,
  };
}

export const run: Verb = defineVerb({
  name: 'bench',
  help: HELP,
  options: OPTIONS,
  settings: parseSettings,
  run: (settings, { io }) => bench(settings, io),
});

async function bench(settings: Settings, io: CliIO): Promise<number> {
  const treeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-bench-'));
  const removeTree = () => fs.rmSync(treeDir, { recursive: true, force: true });
  // Interrupted runs must not leave the generated tree behind.
  const onSignal = (signal: NodeJS.Signals) => {
    removeTree();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const report = await runBench({
      ...settings,
      treeDir,
      ...(io.isTTY ? { progress: (line: string) => io.stderr.write(`\r\x1b[K${line}`) } : {}),
    });
    if (io.isTTY) io.stderr.write('\r\x1b[K');
    if (settings.svg !== undefined) await writeFileAtomic(settings.svg, Buffer.from(renderChart(report)));
    await write(io.stdout, settings.json ? `${JSON.stringify(report, null, 2)}\n` : formatTable(report));
    return report.digestsAgree && report.treeFailures === 0 && report.treeStalls === 0 ? EXIT_OK : EXIT_PROBLEMS;
  } catch (err) {
    throw asVeritreeError(err, undefined, 'bench-failed');
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    removeTree();
  }
}
