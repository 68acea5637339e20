/**
 * `veritree verify-cas DIR` — fsck for content-addressed object stores (a composefs digest store
 * or a composefs-rs repository): every object's fs-verity digest must equal its name, and nothing
 * else may hide among the objects. Text, JSON or streamed NDJSON output; `--quarantine` moves
 * corrupt objects aside (the only way this verb writes to the store). Ctrl-C stops the walk, lets
 * hashing in flight finish and prints a partial report marked interrupted.
 */
import path from 'node:path';
import { parseIntOption, type ParsedVerbArgs } from './args.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_PROBLEMS, type CliIO, type Verb } from './io.js';
import { defineVerb } from './verb.js';
import { parseBackendChoice, type BackendChoice } from '../backends/index.js';
import { defaultThreads } from '../pool/pool.js';
import { MEASURE_MODES, verifyCas, type MeasureMode } from '../cas/check.js';
import { createReporter, type ReportFormat } from '../cas/report.js';
import { ProgressLine } from '../report/progress.js';
import { usageError } from '../report/errors.js';
import { LAYOUT_NAMES, type LayoutName } from '../cas/layout.js';

const HELP = `Usage: veritree verify-cas DIR [options]

Check a content-addressed object store: each object's fs-verity digest must match
its name. DIR is a composefs digest store (mkcomposefs --digest-store: DIR/XX/<hex>)
or a composefs-rs repository (DIR/objects/XX/<hex>, algorithm from DIR/meta.json).
Symlinks are reported, never followed. The store is not modified unless
--quarantine is given.

Options:
  --layout=NAME       composefs or composefs-rs (default: detected)
  --json              one JSON document: { ok, interrupted, summary, findings }
  --ndjson            one JSON object per line as found: start, finding…, summary
  --quarantine=DIR    move objects whose digest does not match their name into DIR
  --measure=MODE      where digests come from: userspace (default: hash every object),
                      kernel (FS_IOC_MEASURE_VERITY, O(1) per object; objects without
                      fs-verity are problems), auto (kernel where it can, else hash),
                      both (kernel and hash, cross-checked)
  --enable            enable fs-verity on objects that lack it, after their content has
                      matched their name (needs --measure kernel, auto or both)
                      (same path as in the store; same filesystem only, never copied)
  --threads=N         worker threads (default: cores)
  --backend=NAME      auto (default), wasm-simd, wasm-scalar, node-crypto, noble
  -q, --quiet         no progress line; text output lists problems only
  -h, --help          this help

Exit status: 0 no problems, 1 problems found, 2 the check could not run or was
interrupted (usage error, missing store, unknown layout, Ctrl-C).
`;

const OPTIONS = {
  layout: { type: 'string' },
  json: { type: 'boolean' },
  ndjson: { type: 'boolean' },
  quarantine: { type: 'string' },
  measure: { type: 'string' },
  enable: { type: 'boolean' },
  threads: { type: 'string' },
  backend: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface Settings {
  dir: string;
  format: ReportFormat;
  layout?: LayoutName;
  quarantineDir?: string;
  measure: MeasureMode;
  enable: boolean;
  threads: number;
  backend?: BackendChoice;
  quiet: boolean;
}

function settingsFrom({ values: v, positionals }: ParsedVerbArgs<typeof OPTIONS>): Settings {
  if (positionals.length !== 1) throw usageError(positionals.length === 0 ? 'no store DIR given' : `one store DIR expected, got ${positionals.length}`);
  if (v.json && v.ndjson) throw usageError('--json and --ndjson exclude each other');
  if (v.layout !== undefined && !(LAYOUT_NAMES as readonly string[]).includes(v.layout))
    throw usageError(`--layout: ${JSON.stringify(v.layout)} is not one of ${LAYOUT_NAMES.join(', ')}`);
  if (v.quarantine === '') throw usageError('--quarantine needs a directory');
  const measure = (v.measure ?? 'userspace') as MeasureMode;
  if (!MEASURE_MODES.includes(measure)) throw usageError(`--measure: ${JSON.stringify(v.measure)} is not one of ${MEASURE_MODES.join(', ')}`);
  if (v.enable && measure === 'userspace') throw usageError('--enable needs --measure kernel, auto or both: the kernel says which objects lack fs-verity');
  const threads = parseIntOption('threads', v.threads) ?? defaultThreads();
  if (threads < 1) throw usageError('--threads must be at least 1');
  return {
    dir: positionals[0]!,
    format: v.json ? 'json' : v.ndjson ? 'ndjson' : 'text',
    ...(v.layout !== undefined ? { layout: v.layout as LayoutName } : {}),
    // Absolute, so each finding records unambiguously where its object went.
    ...(v.quarantine !== undefined ? { quarantineDir: path.resolve(v.quarantine) } : {}),
    measure,
    enable: v.enable === true,
    threads,
    ...(v.backend !== undefined ? { backend: parseBackendChoice(v.backend) } : {}),
    quiet: v.quiet === true,
  };
}

export const run: Verb = defineVerb({
  name: 'verify-cas',
  help: HELP,
  options: OPTIONS,
  settings: settingsFrom,
  interruptible: true,
  interruptNotice: 'interrupted; finishing the objects being hashed (Ctrl-C again to quit at once)',
  usesPool: true,
  run: (s, { io, signal, fail }) => check(s, io, signal, fail),
});

async function check(s: Settings, io: CliIO, signal: AbortSignal, fail: (err: unknown) => Promise<number>): Promise<number> {
  const reporter = createReporter(s.format, io.stdout, { quiet: s.quiet });
  const progress = new ProgressLine(io.stderr, {
    enabled: ProgressLine.wanted({ isTTY: io.isTTY, quiet: s.quiet, machineReadable: s.format !== 'text' }),
    prefix: 'verify-cas',
    unit: 'objects',
  });
  // The event loop emptying while the check is still pending means the hashing stalled (a lost
  // wake-up): say so and fail, rather than let the process end with status 0 and half a report.
  let settled = false;
  const onStall = () => {
    if (settled) return;
    progress.done();
    io.stderr.write('veritree verify-cas: internal error: hashing stalled before the check finished; the report above is incomplete\n');
    process.exitCode = EXIT_FAILURE;
  };
  process.once('beforeExit', onStall);
  try {
    const summary = await verifyCas(s.dir, {
      threads: s.threads,
      signal,
      ...(s.layout ? { layout: s.layout } : {}),
      ...(s.backend ? { backend: s.backend } : {}),
      ...(s.quarantineDir ? { quarantineDir: s.quarantineDir } : {}),
      measure: s.measure,
      enable: s.enable,
      onStart: (info) => reporter.start(info),
      onFinding: (f) => reporter.finding(f),
      onProgress: (objects, bytes) => progress.update(objects, bytes),
    });
    progress.done();
    await reporter.finish(summary);
    if (summary.interrupted) return EXIT_FAILURE;
    return summary.problems > 0 ? EXIT_PROBLEMS : EXIT_OK;
  } catch (err) {
    progress.done();
    return fail(err);
  } finally {
    settled = true;
    process.off('beforeExit', onStall);
  }
}
