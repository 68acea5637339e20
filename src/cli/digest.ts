/**
 * `veritree digest FILE...` — a drop-in for `fsverity digest` (same options, same output:
 * `sha256:<hex> <path>`, `--compact`, `--for-builtin-sig`), plus `--backend`, `--json` and `-`
 * for stdin. Unlike fsverity it keeps going after a bad file and reports it; exit 1 then.
 * The streaming options (`--files-from`, `--ndjson`, `--order`, `--out-merkle-tree-dir`) are
 * run by ./digest-stream.ts.
 */
import fs from 'node:fs';
import { TREE_OPTIONS, parseIntOption, treeParams, type ParsedVerbArgs } from './args.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_PROBLEMS, write, type CliIO, type Verb } from './io.js';
import { defineVerb } from './verb.js';
import { CALIBRATE_ABOVE_BYTES, parseBackendChoice, resolveBackend } from '../backends/index.js';
import { digestFile, digestStream, type DigestPlan } from '../merkle/file.js';
import type { FileDigest } from '../pool/scheduler.js';
import { defaultThreads, type TaskRunner } from '../pool/runner.js';
import { formattedDigest } from '../merkle/descriptor.js';
import { writeFileAtomic } from '../report/atomic-write.js';
import { LineChunks } from '../report/output.js';
import { ProgressLine } from '../report/progress.js';
import { usageError, VeritreeError } from '../report/errors.js';
import { fromSystemError } from '../report/errno.js';
import { lineOf, pathFields, type PathLike } from '../fs/path.js';
import { escapeText } from '../report/text.js';
import { runStream, streamSettings, wantsStream, type StreamSettings } from './digest-stream.js';

const HELP = `Usage: veritree digest FILE... [options]
       veritree digest --files-from=LIST|- [-0] [--ndjson] [--out-merkle-tree-dir=DIR] [options]

Compute the fs-verity digest of each FILE ('-' reads standard input), as \`fsverity digest\` does.

Options:
  --hash-alg=ALG          sha256 (default) or sha512
  --block-size=N          Merkle tree block size, a power of two (default 4096)
  --salt=HEX              salt, up to 32 bytes in hex
  --compact               print only the hex digest
  --for-builtin-sig       print the digest formatted for a builtin signature
  --out-merkle-tree=FILE  write the Merkle tree (root level first); one FILE only
  --out-descriptor=FILE   write the 256-byte fs-verity descriptor; one FILE only
  -r, --recursive=DIR     digest every regular file below DIR (symlinks never followed)
  --threads=N             worker threads for many files or large ones (default: cores)
  --backend=NAME          auto (default), wasm-simd, wasm-scalar, node-crypto, noble
  --json                  one JSON document instead of lines
  -q, --quiet             no progress line (shown on a terminal when stdout is redirected)
  -h, --help              this help

Streaming (for image builders; one process for millions of files, in bounded memory):
  --files-from=LIST       digest the files named in LIST, or standard input for '-': one name a
                          line; names are bytes (any encoding), relative to the current directory,
                          symlinks followed as for FILE, empty names ignored. LIST is read as fast
                          as files are digested (a pipe may stay open). No FILE or -r with it.
  -0, --null              names in LIST end with a NUL byte, not a newline (find -print0,
                          xargs -0); use it whenever a name may hold a newline
  --order=ORDER           input (default; -r: completion): results in list order, holding only
                          those that finish early; completion: each as soon as it is known
  --ndjson                one JSON object a line, written as each file is done:
                            {"path":P,"digest":"sha256:HEX","size":N}
                            {"path":P,"error":{"code":C,"message":M,"errno":E}}  (errno if any)
                          P is the name as UTF-8; "pathBytes" (base64 of the exact bytes) is added
                          when the name is not UTF-8. Last line:
                            {"summary":{"files":N,"ok":N,"failed":N}}  (+ "interrupted":true)
                          With -r also {"path":P,"skipped":{…}} lines and a "skipped" count.
  --out-merkle-tree-dir=DIR
                          for each file also write DIR/HEX.merkle (its Merkle tree, as
                          --out-merkle-tree writes it) and DIR/HEX.desc (its 256-byte descriptor),
                          HEX being its digest; each atomically (temporary file, rename), skipped
                          when already there. DIR is created if missing. A file's line is printed
                          once both are written.
  --ndjson, --order and --out-merkle-tree-dir work with FILE... and -r too ('-' excepted).
  A file that fails is reported (an error line) and the rest go on. Ctrl-C stops reading LIST,
  prints what finished, and exits 2 (--ndjson: "interrupted":true in the summary).

Exit status: 0 all digested, 1 some file failed, 2 usage error (also: LIST or DIR unusable,
or interrupted).
`;

const OPTIONS = {
  ...TREE_OPTIONS,
  compact: { type: 'boolean' },
  'for-builtin-sig': { type: 'boolean' },
  'out-merkle-tree': { type: 'string' },
  'out-descriptor': { type: 'string' },
  backend: { type: 'string' },
  recursive: { type: 'string', short: 'r', multiple: true },
  threads: { type: 'string' },
  json: { type: 'boolean' },
  'files-from': { type: 'string' },
  null: { type: 'boolean', short: '0' },
  order: { type: 'string' },
  ndjson: { type: 'boolean' },
  'out-merkle-tree-dir': { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Files above this size are worth spreading over the pool even when digested alone. */
const POOL_SINGLE_FILE_ABOVE = 32 << 20;

interface Settings {
  readonly parsed: ParsedVerbArgs<typeof OPTIONS>;
  readonly plan: DigestPlan;
  readonly threads: number;
  readonly stream: StreamSettings | undefined;
  /** Many files, a tree, a list, or one big file: the worker pool (and Ctrl-C finishes what runs). */
  readonly pool: TaskRunner | undefined;
}

export const run: Verb = defineVerb({
  name: 'digest',
  help: HELP,
  options: OPTIONS,
  settings: digestSettings,
  // Ctrl-C lets the pool finish what it runs and prints it; one file in this thread just stops.
  interruptible: (s) => s.pool !== undefined,
  usesPool: true,
  run: (s, { io, signal }) => digestAll(s, io, signal),
});

async function digestSettings(parsed: ParsedVerbArgs<typeof OPTIONS>, io: CliIO): Promise<Settings> {
  const dirs = parsed.values.recursive ?? [];
  if (parsed.positionals.length === 0 && dirs.length === 0 && parsed.values['files-from'] === undefined) throw usageError('no FILE given');
  const stream = wantsStream(parsed.values) ? streamSettings(parsed.values, parsed.positionals, dirs) : undefined;
  const params = treeParams(parsed.values);
  const keepTree = parsed.values['out-merkle-tree'] !== undefined;
  if ((keepTree || parsed.values['out-descriptor'] !== undefined) && (parsed.positionals.length !== 1 || dirs.length > 0))
    throw usageError('--out-merkle-tree and --out-descriptor take a single FILE');
  if (parsed.positionals.filter((p) => p === '-').length > 1) throw usageError("'-' (standard input) may be given once");
  const backendChoice = parsed.values.backend !== undefined ? parseBackendChoice(parsed.values.backend) : undefined;
  const threads = parseIntOption('threads', parsed.values.threads) ?? defaultThreads();
  if (threads < 1) throw usageError('--threads must be at least 1');
  const files = parsed.positionals;
  const usePool =
    stream !== undefined ||
    dirs.length > 0 ||
    files.length > 1 ||
    (files.length === 1 && files[0] !== '-' && threads > 1 && !keepTree && sizeOf(files[0]!) > POOL_SINGLE_FILE_ABOVE);
  // Workers boot (~90 ms) while this thread calibrates the backends.
  const pool = usePool ? (await import('../pool/pool.js')).sharedPool(threads) : undefined;
  // Explicit files only (no -r, no stdin): whether they hold enough to make calibrating pay off.
  // Stats stop at the threshold, so thousands of files given by xargs cost no extra start-up.
  let expectedBytes: number | undefined;
  if (dirs.length === 0 && !files.includes('-') && stream?.filesFrom === undefined) {
    expectedBytes = 0;
    for (const f of files) {
      if (expectedBytes >= CALIBRATE_ABOVE_BYTES) break;
      expectedBytes += sizeOf(f);
    }
  }
  const plan = { params, backend: resolveBackend(backendChoice, params, io.env, expectedBytes), keepTree };
  return { parsed, plan, threads, stream, pool };
}

/** Long on purpose: the three output paths of `fsverity digest` (single files in order, stdin, trees) share one output object. */
async function digestAll(settings: Settings, io: CliIO, signal: AbortSignal): Promise<number> {
  const { parsed, plan, threads, stream, pool } = settings;
  const usePool = pool !== undefined;
  const v = parsed.values;
  const dirs = v.recursive ?? [];
  const files = parsed.positionals;
  if (stream && pool) return runStream({ signal, settings: stream, operands: files, dirs, plan, threads, pool }, io);
  const out = new DigestOutput(io, plan, v.json === true, v.compact === true, v['for-builtin-sig'] === true);
  // Progress goes to stderr; only when the digests themselves are not being drawn on the terminal.
  const stdoutIsTTY = (io.stdout as { isTTY?: boolean }).isTTY === true;
  out.progress = new ProgressLine(io.stderr, {
    enabled: ProgressLine.wanted({ isTTY: io.isTTY && !stdoutIsTTY, quiet: v.quiet === true }),
    prefix: 'digest',
  });

  if (!usePool || !pool) {
    for (const path of files) {
      try {
        const result = path === '-' ? await digestStream(io.stdin, plan, '-') : await digestFile(path, plan);
        if (v['out-merkle-tree'] !== undefined) await writeFileAtomic(v['out-merkle-tree'], result.merkleTree ?? new Uint8Array(0));
        if (v['out-descriptor'] !== undefined) await writeFileAtomic(v['out-descriptor'], result.descriptor);
        await out.ok(result.path, undefined, result.hex, result.digest, result.size);
      } catch (err) {
        out.fail(err instanceof VeritreeError ? err : fromSystemError(err, path));
      }
    }
    return out.finish();
  }

  // Ctrl-C (the runner's signal): stop submitting, print what finished, exit 2.
  const stop = { signal };
  const stdinResult = files.includes('-') ? await digestStream(io.stdin, plan, '-').catch((e: unknown) => e as VeritreeError) : undefined;
  const opts = { hashAlg: plan.params.alg.name, blockSize: plan.params.blockSize, salt: plan.params.salt, backend: plan.backend, threads, signal: stop.signal };
  const { digestFileBatches } = await import('../pool/scheduler.js');
  const { digestTreeBatches } = await import('../pool/tree.js');
  const { closeSharedPool } = await import('../pool/pool.js');
  try {
    // Explicit files print in the order given (like fsverity); -r prints as results complete.
    const explicit = files.filter((f) => f !== '-');
    const held = new Map<number, FileDigest>();
    let next = 0;
    const emit = (r: FileDigest): Promise<void> | void => {
      if (r.ok) return out.ok(r.path, r.pathBytes, r.hex, r.digest, r.size);
      out.fail(r.error);
    };
    let stdinPrinted = false;
    const printStdinAt = files.indexOf('-');
    /** Prints the stdin result once everything given before '-' has been printed. */
    const maybeStdin = async (beforePosition: number) => {
      if (stdinResult && !stdinPrinted && printStdinAt < beforePosition) {
        stdinPrinted = true;
        if (stdinResult instanceof VeritreeError) out.fail(stdinResult);
        else await out.ok('-', undefined, stdinResult.hex, stdinResult.digest, stdinResult.size);
      }
    };
    // Map explicit-file index → position in `files` (which may include '-').
    const positions = files.map((f, i) => (f === '-' ? -1 : i)).filter((i) => i >= 0);
    for await (const batch of digestFileBatches(explicit, { ...opts, pool })) {
      for (const r of batch) {
        held.set(r.index, r);
        for (let h = held.get(next); h; h = held.get(next)) {
          held.delete(next);
          await maybeStdin(positions[next]!);
          await emit(h);
          next++;
        }
      }
    }
    await maybeStdin(Infinity);
    for (const dir of dirs) {
      try {
        for await (const batch of digestTreeBatches(dir, { ...opts, pool })) {
          for (const r of batch) {
            if ('skipped' in r) out.skip(r.error, r.pathBytes);
            else {
              const pending = emit(r);
              if (pending) await pending; // only when the output buffer is being flushed
              if (!r.ok && r.pathBytes) out.exactPath(r.error, r.pathBytes);
            }
          }
        }
      } catch (err) {
        out.fail(err instanceof VeritreeError ? err : fromSystemError(err, dir));
      }
    }
  } finally {
    await closeSharedPool();
  }
  const code = await out.finish(stop.signal.aborted);
  if (stop.signal.aborted) {
    io.stderr.write('veritree digest: interrupted; the output above is partial\n');
    return EXIT_FAILURE;
  }
  return code;
}

function sizeOf(path: string): number {
  try {
    return fs.statSync(path).size;
  } catch {
    return 0; // the digest itself reports the error
  }
}

/** Collects results and prints them as lines (fsverity format) or one JSON document. */
class DigestOutput {
  readonly #files: { path: string; pathBytes?: string; digest: string; size: number }[] = [];
  readonly #errors: VeritreeError[] = [];
  readonly #skipped: VeritreeError[] = [];
  /** Exact bytes of error and skip paths that are not UTF-8, for machine output. */
  readonly #exact = new Map<VeritreeError, Uint8Array>();
  progress: ProgressLine | undefined;
  constructor(
    readonly io: CliIO,
    readonly plan: DigestPlan,
    readonly json: boolean,
    readonly compact: boolean,
    readonly forBuiltinSig: boolean,
  ) {}

  /** Returns a promise only when it flushed the output buffer (callers await just then). */
  ok(path: string, pathBytes: Uint8Array | undefined, hex: string, digest: Uint8Array, size: number): Promise<void> | void {
    this.progress?.add(1, size);
    if (this.json) {
      this.#files.push({ ...pathFields(pathBytes ?? path), digest: `${this.plan.params.alg.name}:${hex}`, size });
      return;
    }
    // Lines are gathered and written in chunks: one write per line is one syscall per file.
    this.#pending.add(formatLine(this.plan, pathBytes ?? path, hex, digest, this.compact, this.forBuiltinSig));
    if (this.#pending.bytes >= 64 * 1024) return this.flush();
    this.#flushTimer ??= setTimeout(() => void this.flush(), 50);
  }

  readonly #pending = new LineChunks(80 * 1024);
  #flushTimer: NodeJS.Timeout | undefined;

  async flush(): Promise<void> {
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#pending.bytes === 0) return;
    await write(this.io.stdout, this.#pending.take());
  }

  fail(e: VeritreeError): void {
    this.progress?.add(1, 0);
    this.#errors.push(e);
    // One line per error, whatever the name holds.
    if (!this.json) this.io.stderr.write(`veritree digest: ${escapeText(e.describe())}\n`);
  }

  /** Symlinks and special files met by -r: not digested, not an error (like find -type f). */
  skip(e: VeritreeError, pathBytes?: Uint8Array): void {
    this.#skipped.push(e);
    if (pathBytes) this.#exact.set(e, pathBytes);
  }

  /** The exact bytes of a failed file's path (not UTF-8), for --json. */
  exactPath(e: VeritreeError, pathBytes: Uint8Array): void {
    this.#exact.set(e, pathBytes);
  }

  #errorJson(e: VeritreeError): object {
    const exact = this.#exact.get(e);
    return exact ? { ...e.toJSON(), ...pathFields(exact) } : e.toJSON();
  }

  async finish(interrupted = false): Promise<number> {
    this.progress?.done();
    await this.flush();
    if (this.json) {
      const p = this.plan.params;
      const doc = {
        hashAlg: p.alg.name,
        blockSize: p.blockSize,
        salt: Buffer.from(p.salt).toString('hex'),
        backend: this.plan.backend,
        files: this.#files,
        errors: this.#errors.map((e) => this.#errorJson(e)),
        skipped: this.#skipped.map((e) => this.#errorJson(e)),
        summary: { files: this.#files.length + this.#errors.length, ok: this.#files.length, failed: this.#errors.length, skipped: this.#skipped.length },
        // Cut short by SIGINT: the lists above are partial.
        ...(interrupted ? { interrupted: true } : {}),
      };
      await write(this.io.stdout, `${JSON.stringify(doc, null, 2)}\n`);
    }
    return this.#errors.length > 0 ? EXIT_PROBLEMS : EXIT_OK;
  }
}

/**
 * The line `fsverity digest` prints (programs/cmd_digest.c), with one difference: a name holding
 * a newline or backslash is escaped the way `sha256sum` does (leading `\\`), so a name can never
 * forge a line of output. Text when the line is plain text (see `lineOf`), else bytes.
 */
export function formatLine(plan: DigestPlan, path: PathLike, digestHex: string, digest: Uint8Array, compact: boolean, forBuiltinSig: boolean): string | Buffer {
  const hex = forBuiltinSig ? Buffer.from(formattedDigest(plan.params.alg.id, digest)).toString('hex') : digestHex;
  if (compact) return `${hex}\n`;
  return lineOf(forBuiltinSig ? hex : `${plan.params.alg.name}:${hex}`, path);
}

