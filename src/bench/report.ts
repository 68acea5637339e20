/**
 * The `veritree bench` result document (what `--json` prints, what the table and the chart are
 * drawn from), and its plain-text table.
 */
import type { BackendName } from '../backends/index.js';
import type { HashAlg } from '../params.js';

export interface BenchRow {
  readonly backend: BackendName;
  readonly threads: number;
  /** In-memory 4 KiB leaves, all threads together, MB/s (10⁶ B/s). */
  readonly leafMBps: number;
  /** `digestTree` over the generated tree, MB/s of file data. */
  readonly treeMBps: number;
  readonly treeFilesPerSec: number;
  /** Timed tree passes behind the median. */
  readonly treePasses: number;
  /**
   * Tree MB/s per thread ÷ leaf MB/s per thread (same backend, same thread count): the share of
   * the hashing code's own speed the whole engine keeps on real files (walking, opening, reading,
   * the upper tree levels and descriptors, messaging all come out of it).
   */
  readonly efficiency: number;
}

export interface BenchReport {
  readonly tool: 'veritree bench';
  readonly version: string;
  readonly hashAlg: HashAlg;
  readonly blockSize: number;
  readonly host: { readonly cpu: string; readonly cores: number; readonly node: string; readonly platform: string; readonly arch: string };
  readonly settings: { readonly durationMs: number; readonly quick: boolean; readonly threads: readonly number[]; readonly treeFiles: number; readonly seed: number };
  readonly backends: readonly BackendName[];
  /** What `--backend auto` resolves to here, and the calibration it decided on (MB/s, 1 thread). */
  readonly auto: { readonly backend: BackendName; readonly calibrationMBps: Readonly<Partial<Record<BackendName, number>>> };
  readonly tree: { readonly files: number; readonly bytes: number; readonly sigma: number };
  readonly results: readonly BenchRow[];
  /** Single-stream native ceiling: node:crypto 4 KiB loop, and `openssl speed` when available. */
  readonly reference: {
    readonly nodeCryptoMBps: number;
    /** The `crypto.hash` output encoding of the best slice. */
    readonly nodeCryptoOutput: string;
    readonly openssl: { readonly mbps: number; readonly version: string; readonly command: string } | null;
  };
  /** Every backend and thread count produced the same digests for the tree. */
  readonly digestsAgree: boolean;
  /** Files that failed or never came back in any tree pass (0 for a healthy run). */
  readonly treeFailures: number;
  /** Tree passes abandoned because digestTree stopped yielding for 5 s (0 for a healthy run). */
  readonly treeStalls: number;
  readonly elapsedMs: number;
}

const int = (x: number) => Math.round(x).toLocaleString('en-US');

function pad(cells: string[][], rightAlignFrom: number): string {
  const widths = cells[0]!.map((_, c) => Math.max(...cells.map((r) => r[c]!.length)));
  return cells.map((r) => r.map((cell, c) => (c < rightAlignFrom ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('   ').trimEnd()).join('\n');
}

export function formatTable(r: BenchReport): string {
  const out: string[] = [];
  out.push(`veritree bench: ${r.hashAlg}, ${r.blockSize}-byte blocks, ${r.host.cores} cores (${r.host.cpu}), Node ${r.host.node}`);
  out.push(`tree: ${int(r.tree.files)} files, ${(r.tree.bytes / 1e6).toFixed(1)} MB (seed ${r.settings.seed}); ${r.settings.durationMs} ms per measurement; MB = 10^6 bytes`);
  out.push('');
  const base = new Map(r.results.filter((x) => x.threads === 1).map((x) => [x.backend, x]));
  const rows = [['backend', 'threads', 'leaf MB/s', 'tree MB/s', 'tree files/s', 'efficiency', 'leaf scaling', 'tree scaling']];
  for (const x of r.results) {
    const one = base.get(x.backend);
    rows.push([
      x.backend,
      String(x.threads),
      int(x.leafMBps),
      int(x.treeMBps),
      int(x.treeFilesPerSec),
      x.efficiency.toFixed(2),
      one ? `${(x.leafMBps / one.leafMBps).toFixed(2)}x` : '',
      one ? `${(x.treeMBps / one.treeMBps).toFixed(2)}x` : '',
    ]);
  }
  out.push(pad(rows, 1));
  out.push('efficiency: tree MB/s ÷ leaf MB/s of the same backend and thread count');
  out.push('');
  out.push('single-stream native ceiling (1 thread, 4 KiB blocks, no I/O):');
  const refs = [[`node:crypto (OpenSSL), one crypto.hash(${r.hashAlg}, block, '${r.reference.nodeCryptoOutput}') per block`, `${int(r.reference.nodeCryptoMBps)} MB/s`]];
  if (r.reference.openssl) refs.push([`${r.reference.openssl.command}  (${r.reference.openssl.version})`, `${int(r.reference.openssl.mbps)} MB/s`]);
  else refs.push(['openssl speed', 'n/a (openssl not found)']);
  out.push(pad(refs.map((x) => ['  ' + x[0]!, x[1]!]), 1));
  out.push('');
  const cal = Object.entries(r.auto.calibrationMBps).map(([b, v]) => `${b} ${int(v)}`).join(', ');
  out.push(`auto picks: ${r.auto.backend}  (calibration, MB/s on one thread: ${cal})`);
  const bestLeaf = [...r.results].sort((a, b) => b.leafMBps - a.leafMBps)[0];
  const bestTree = [...r.results].sort((a, b) => b.treeMBps - a.treeMBps)[0];
  if (bestLeaf && bestTree)
    out.push(`fastest: leaves ${bestLeaf.backend} x${bestLeaf.threads} (${int(bestLeaf.leafMBps)} MB/s), tree ${bestTree.backend} x${bestTree.threads} (${int(bestTree.treeMBps)} MB/s, ${int(bestTree.treeFilesPerSec)} files/s)`);
  if (!r.digestsAgree) out.push('WARNING: backends or thread counts disagreed on the tree digests');
  if (r.treeFailures > 0) out.push(`WARNING: ${r.treeFailures} file digests failed or went missing during the tree passes`);
  if (r.treeStalls > 0) out.push(`WARNING: ${r.treeStalls} tree passes stalled (digestTree stopped yielding) and were retried`);
  out.push(`(${(r.elapsedMs / 1000).toFixed(1)} s)`);
  return out.join('\n') + '\n';
}
