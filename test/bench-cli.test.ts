/**
 * `veritree bench`: the quick run yields a sane JSON document (every available backend at every
 * thread count, positive rates, the auto pick named), --svg writes a well-formed chart with one
 * bar per measurement, the generated tree is removed, and bad options exit 2.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { veritree } from './helpers/cli.js';
import { availableBackends } from '../src/backends/index.js';
import { planTree, scaledTreeSpec, LARGE_TREE } from '../src/bench/tree-gen.js';
import { formatTable } from '../src/bench/report.js';

let tmp: string;
let run: ReturnType<typeof veritree>;
let svgPath: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-bench-test-'));
  svgPath = path.join(tmp, 'chart.svg');
  // A private TMPDIR: after the run it must hold nothing but what we put there.
  fs.mkdirSync(path.join(tmp, 'tmpdir'));
  run = veritree(['bench', '--quick', '--json', '--duration=60', '--tree-files=120', `--svg=${svgPath}`], { env: { TMPDIR: path.join(tmp, 'tmpdir') } });
}, 60_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Checks that every tag is closed in order (no XML parser in the dependencies; the SVG is ours). */
function balanced(xml: string): boolean {
  const stack: string[] = [];
  for (const m of xml.matchAll(/<(\/?)([a-zA-Z][\w:-]*)([^>]*?)(\/?)>/g)) {
    const [, closing, name, , selfClosing] = m;
    if (selfClosing) continue;
    if (closing) {
      if (stack.pop() !== name) return false;
    } else stack.push(name!);
  }
  return stack.length === 0;
}

describe('veritree bench --quick --json', () => {
  it('exits 0 with one JSON document', () => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(() => JSON.parse(run.stdout)).not.toThrow();
  });

  it('measures every available backend at every thread count, with positive figures', () => {
    const doc = JSON.parse(run.stdout);
    const backends = availableBackends();
    expect(doc.backends).toEqual(backends);
    expect(doc.hashAlg).toBe('sha256');
    const threads: number[] = doc.settings.threads;
    expect(threads[0]).toBe(1);
    expect(threads.at(-1)).toBe(Math.max(1, os.availableParallelism()));
    expect(doc.results).toHaveLength(backends.length * threads.length);
    for (const b of backends)
      for (const t of threads) {
        const row = doc.results.find((r: { backend: string; threads: number }) => r.backend === b && r.threads === t);
        expect(row, `${b} x${t}`).toBeDefined();
        for (const k of ['leafMBps', 'treeMBps', 'treeFilesPerSec', 'efficiency']) expect(row[k], `${b} x${t} ${k}`).toBeGreaterThan(0);
        // Efficiency is tree ÷ leaf at the same thread count (both rounded to 0.1 MB/s in the document).
        expect(Math.abs(row.efficiency - row.treeMBps / row.leafMBps), `${b} x${t} efficiency`).toBeLessThan(0.002);
      }
    // The human table carries it too: one cell per row, as printed from the same document.
    const table = formatTable(doc);
    expect(table).toMatch(/^backend\s+threads\s+leaf MB\/s\s+tree MB\/s\s+tree files\/s\s+efficiency\s/m);
    for (const row of doc.results) expect(table).toMatch(new RegExp(`^${row.backend}\\s+${row.threads}\\s+.*\\s${row.efficiency.toFixed(2)}\\s`, 'm'));
    expect(backends).toContain(doc.auto.backend);
    expect(doc.reference.nodeCryptoMBps).toBeGreaterThan(0);
    if (doc.reference.openssl) expect(doc.reference.openssl.mbps).toBeGreaterThan(0);
    expect(doc.tree.files).toBe(120);
    expect(doc.digestsAgree).toBe(true);
    expect(doc.treeFailures).toBe(0);
    expect(doc.treeStalls).toBe(0);
  });

  it('removes the generated tree', () => {
    expect(fs.readdirSync(path.join(tmp, 'tmpdir'))).toEqual([]);
  });

  it('writes a well-formed SVG with one bar per measurement', () => {
    const svg = fs.readFileSync(svgPath, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(balanced(svg)).toBe(true);
    const doc = JSON.parse(run.stdout);
    const bars = [...svg.matchAll(/<rect class="bar" data-metric="(\w+)" data-backend="([\w-]+)" data-threads="(\d+)"/g)];
    expect(bars).toHaveLength(doc.results.length * 2);
    for (const metric of ['leaf', 'tree'])
      for (const r of doc.results) expect(bars.filter((b) => b[1] === metric && b[2] === r.backend && Number(b[3]) === r.threads), `${metric} ${r.backend} x${r.threads}`).toHaveLength(1);
    // Written atomically: no temp file left beside it.
    expect(fs.readdirSync(tmp).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});

describe('veritree bench options', () => {
  it('prints help', () => {
    const r = veritree(['bench', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: veritree bench/);
  });

  it.each([
    [['--duration=abc'], /--duration/],
    [['--duration=5'], /--duration must be between/],
    [['--threads=0'], /--threads must be between/],
    [['--tree-files=0'], /--tree-files/],
    [['--backend=nope'], /unknown backend "nope"/],
    [['--hash-alg=md5'], /unknown hash algorithm/],
    [['--bogus'], /bogus/],
    [['somefile'], /takes no files/],
    [['--svg='], /--svg needs a file name/],
  ])('rejects %j with exit 2', (args, message) => {
    const r = veritree(['bench', ...args]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
  });
});

describe('benchmark tree generator', () => {
  it('is deterministic and lands on the requested total', () => {
    const a = planTree(scaledTreeSpec(2000));
    const b = planTree(scaledTreeSpec(2000));
    expect(a.files).toEqual(b.files);
    expect(a.files).toHaveLength(2000);
    expect(Math.abs(a.totalBytes - 50e6) / 50e6).toBeLessThan(0.01);
    const large = planTree(LARGE_TREE);
    expect(large.files).toHaveLength(20_030);
    expect(Math.abs(large.totalBytes - 500e6) / 500e6).toBeLessThan(0.01);
    const small = large.files.slice(0, 20_000).map((f) => f.size).sort((x, y) => x - y);
    expect(small[10_000]).toBeGreaterThan(7000);
    expect(small[10_000]).toBeLessThan(9500);
  });
});
