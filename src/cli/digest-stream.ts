/**
 * `veritree digest` as a streaming service for image builders in any language: names in
 * (`--files-from=FILE|-`, newline- or NUL-separated bytes), one result out per file as soon as it
 * is known (`--ndjson`: one JSON object a line, or the classic `sha256:<hex> <path>` lines), in
 * input or completion order, and optionally each file's Merkle tree and descriptor written to a
 * directory by digest (`--out-merkle-tree-dir`). One process takes millions of names in bounded
 * memory: the list is read only as fast as the pool takes files (digestFileBatches bounds what is
 * in flight), input order holds at most a fixed window of results (the scheduler's `maxAhead`),
 * and every result is formatted and written at once — nothing per file outlives its line.
 *
 * Used for FILE operands and -r too when any of these options is given (not for '-': stdin is
 * then either the list or data, never both).
 */
import fs from 'node:fs';
import { EXIT_FAILURE, EXIT_OK, EXIT_PROBLEMS, write, type CliIO } from './io.js';
import { formatLine } from './digest.js';
import { chunksUntil, listedFiles, NEWLINE, NUL, type ListState } from './digest-list.js';
import { MerkleDirWriter } from './digest-merkle-dir.js';
import type { DigestPlan } from '../merkle/file.js';
import type { FileDigest } from '../pool/scheduler.js';
import type { TreeDigest } from '../pool/tree.js';
import type { TaskRunner } from '../pool/runner.js';
import { pathFields } from '../fs/path.js';
import { ProgressLine } from '../report/progress.js';
import { LineChunks } from '../report/output.js';
import { asVeritreeError, usageError, VeritreeError, withPath } from '../report/errors.js';
import { fromSystemError } from '../report/errno.js';
import { escapeText } from '../report/text.js';

export type Order = 'input' | 'completion';

export interface StreamSettings {
  /** The list of names: a file, or '-' for standard input. */
  readonly filesFrom?: string;
  /** The byte between names: newline, or NUL with -0. */
  readonly separator: number;
  /** Explicit --order; default input order, completion order for -r (walk order means little). */
  readonly order?: Order;
  readonly ndjson: boolean;
  readonly merkleDir?: string;
  readonly compact: boolean;
  readonly forBuiltinSig: boolean;
  readonly quiet: boolean;
}

/** The option values `veritree digest` parsed (only those read here). */
export interface StreamOptionValues {
  readonly 'files-from'?: string | undefined;
  readonly null?: boolean | undefined;
  readonly order?: string | undefined;
  readonly ndjson?: boolean | undefined;
  readonly 'out-merkle-tree-dir'?: string | undefined;
  readonly json?: boolean | undefined;
  readonly compact?: boolean | undefined;
  readonly 'for-builtin-sig'?: boolean | undefined;
  readonly 'out-merkle-tree'?: string | undefined;
  readonly 'out-descriptor'?: string | undefined;
  readonly quiet?: boolean | undefined;
}

/** Whether any option of the streaming mode is given (then `streamSettings` validates them). */
export function wantsStream(v: StreamOptionValues): boolean {
  return v['files-from'] !== undefined || v.null === true || v.order !== undefined || v.ndjson === true || v['out-merkle-tree-dir'] !== undefined;
}

/** The streaming options, checked against each other and the operands; usage errors thrown. */
export function streamSettings(v: StreamOptionValues, operands: readonly string[], dirs: readonly string[]): StreamSettings {
  const filesFrom = v['files-from'];
  if (v.null === true && filesFrom === undefined) throw usageError('-0/--null says how the --files-from list is separated; give --files-from too');
  if (filesFrom !== undefined && (operands.length > 0 || dirs.length > 0)) throw usageError('--files-from takes the names from its list: no FILE operands or -r with it');
  if (filesFrom === '') throw usageError('--files-from needs a FILE (or - for standard input)');
  if (v.order !== undefined && v.order !== 'input' && v.order !== 'completion') throw usageError(`--order must be input or completion, not ${JSON.stringify(v.order)}`);
  if (v.json === true) throw usageError('--json prints one document at the end; with --files-from, --ndjson, --order or --out-merkle-tree-dir use --ndjson (one line per file)');
  if (v.ndjson === true && (v.compact === true || v['for-builtin-sig'] === true)) throw usageError('--compact and --for-builtin-sig shape text lines; --ndjson prints JSON');
  if (v['out-merkle-tree'] !== undefined || v['out-descriptor'] !== undefined) throw usageError('--out-merkle-tree and --out-descriptor take a single FILE; for many files use --out-merkle-tree-dir');
  if (operands.includes('-')) throw usageError("'-' (data on standard input) cannot be used here; for a list of names on standard input give --files-from=-");
  if (v['out-merkle-tree-dir'] === '') throw usageError('--out-merkle-tree-dir needs a DIR');
  return {
    ...(filesFrom !== undefined ? { filesFrom } : {}),
    separator: v.null === true ? NUL : NEWLINE,
    ...(v.order !== undefined ? { order: v.order as Order } : {}),
    ndjson: v.ndjson === true,
    ...(v['out-merkle-tree-dir'] !== undefined ? { merkleDir: v['out-merkle-tree-dir'] } : {}),
    compact: v.compact === true,
    forBuiltinSig: v['for-builtin-sig'] === true,
    quiet: v.quiet === true,
  };
}

export interface StreamRun {
  /** Aborted by the first Ctrl-C (the verb runner's): stop reading names, finish what runs. */
  readonly signal: AbortSignal;
  readonly settings: StreamSettings;
  readonly operands: readonly string[];
  readonly dirs: readonly string[];
  readonly plan: DigestPlan;
  readonly threads: number;
  readonly pool: TaskRunner;
}

/** Results an input-order run may hold while an earlier file is still being hashed (at least). */
const MIN_WINDOW = 4096;

/** Long on purpose: the reader of names, the pool stream and the ordered writer share one window. */
export async function runStream(run: StreamRun, io: CliIO): Promise<number> {
  const { settings: s, plan, pool } = run;
  const { closeSharedPool } = await import('../pool/pool.js');
  // Set-up failures (the list or DIR unusable) are operational: exit 2 before any output.
  let list: AsyncIterable<Uint8Array | string> | undefined;
  let trees: MerkleDirWriter | undefined;
  try {
    if (s.filesFrom === '-') list = io.stdin;
    else if (s.filesFrom !== undefined) list = await openList(s.filesFrom);
    if (s.merkleDir !== undefined) trees = await MerkleDirWriter.open(s.merkleDir);
  } catch (err) {
    const e = err instanceof VeritreeError ? err : fromSystemError(err, s.filesFrom ?? '', 'open');
    io.stderr.write(`veritree digest: ${escapeText(e.describe())}\n`);
    if (list && list !== io.stdin) (list as fs.ReadStream).destroy();
    await closeSharedPool();
    return EXIT_FAILURE;
  }

  const out = new StreamOutput(io, plan, s);
  const stdoutIsTTY = (io.stdout as { isTTY?: boolean }).isTTY === true;
  out.progress = new ProgressLine(io.stderr, {
    enabled: ProgressLine.wanted({ isTTY: io.isTTY && !stdoutIsTTY, quiet: s.quiet, machineReadable: s.ndjson }),
    prefix: 'digest',
  });

  // Ctrl-C (the runner's signal): stop reading names, let what is running finish and print, exit 2.
  const stop = { signal: run.signal };

  const { digestFileBatches } = await import('../pool/scheduler.js');
  const { digestTreeBatches } = await import('../pool/tree.js');
  const opts = {
    hashAlg: plan.params.alg.name,
    blockSize: plan.params.blockSize,
    salt: plan.params.salt,
    backend: plan.backend,
    threads: run.threads,
    signal: stop.signal,
    pool,
    ...(trees ? { merkleTree: true } : {}),
  };
  // Wide enough that the window never starves the pool (a few tasks per thread in flight).
  const window = Math.max(MIN_WINDOW, pool.threads * 4 * 128 * 2);
  const ordered = (order: Order) => (order === 'input' ? { maxAhead: window } : {});
  const listState: ListState = {};
  let operational: VeritreeError | undefined;
  try {
    if (run.operands.length > 0) {
      const order = s.order ?? 'input';
      await drain(digestFileBatches(run.operands, { ...opts, ...ordered(order) }), order, out, trees);
    }
    if (list) {
      const order = s.order ?? 'input';
      const label = s.filesFrom === '-' ? '<standard input>' : s.filesFrom!;
      const names = listedFiles(chunksUntil(list, stop.signal), s.separator, listState, label);
      await drain(digestFileBatches(names, { ...opts, ...ordered(order) }), order, out, trees);
      if (listState.error) operational = listState.error;
    }
    for (const dir of run.dirs) {
      if (stop.signal.aborted) break;
      const order = s.order ?? 'completion';
      try {
        await drain(digestTreeBatches(dir, { ...opts, ...ordered(order) }), order, out, trees);
      } catch (err) {
        // The tree root itself cannot be walked: that one operand failed, as in the classic mode.
        out.emit(out.failRecord(err instanceof VeritreeError ? err : fromSystemError(err, dir)));
      }
    }
  } catch (err) {
    operational = asVeritreeError(err);
  } finally {
    await trees?.drain();
    await closeSharedPool();
    if (list && list !== io.stdin) (list as fs.ReadStream).destroy();
  }
  const interrupted = stop.signal.aborted;
  await out.finish({ interrupted, ...(operational ? { error: operational } : {}), skipped: run.dirs.length > 0 });
  if (operational) io.stderr.write(`veritree digest: ${escapeText(operational.describe())}\n`);
  if (interrupted) io.stderr.write('veritree digest: interrupted; the output above is partial\n');
  if (operational || interrupted) return EXIT_FAILURE;
  return out.failed > 0 ? EXIT_PROBLEMS : EXIT_OK;
}

/** The list file, opened now (so an unreadable one fails before anything runs) and streamed. */
async function openList(file: string): Promise<fs.ReadStream> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (err) {
    throw fromSystemError(err, file, 'open');
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw fromSystemError(Object.assign(new Error('is a directory'), { code: 'EISDIR' }), file, 'read');
  } catch (err) {
    await fh.close();
    throw err instanceof VeritreeError ? err : fromSystemError(err, file, 'stat');
  }
  // Closes the handle when it ends or is destroyed.
  return fh.createReadStream({ highWaterMark: 64 * 1024 });
}

type AnyDigest = FileDigest | TreeDigest;

/**
 * Pulls every result of one run and prints it: at once (completion order), or held until all
 * before it are out (input order). With a Merkle directory a file's line is printed only once its
 * tree and descriptor are on disk, so a builder reading the line can use them.
 */
async function drain(batches: AsyncIterable<AnyDigest[]>, order: Order, out: StreamOutput, trees: MerkleDirWriter | undefined): Promise<void> {
  const reorder = order === 'input' ? new Reorder((rec) => out.emit(rec)) : undefined;
  // Walk findings (skipped entries, unreadable directories) have no input position: at once.
  const settle = (index: number, rec: OutRecord) => (reorder && index >= 0 ? reorder.add(index, rec) : out.emit(rec));
  const writes = new Set<Promise<void>>();
  for await (const batch of batches) {
    for (const r of batch) {
      if ('skipped' in r) {
        settle(-1, out.skipRecord(r.error, r.pathBytes));
        continue;
      }
      if (!r.ok) {
        settle(r.index, out.failRecord(r.error, r.pathBytes));
        continue;
      }
      if (!trees) {
        settle(r.index, out.okRecord(r));
        continue;
      }
      // Results keep coming while writes wait for room: the pool never waits on the disk here.
      await trees.room();
      const tree = r.merkleTree ?? new Uint8Array(0);
      const descriptor = r.descriptor;
      if (!descriptor) throw new Error('the pool returned no descriptor for a Merkle tree');
      const job = trees.write(r.hex, tree, descriptor).then(
        () => settle(r.index, out.okRecord(r)),
        (err: unknown) => {
          const e = asVeritreeError(err);
          // The digest is known, but what the builder asked for is not there: the file failed.
          settle(r.index, out.failRecord(withPath(e, r.path, `${e.path ?? trees.dir}: `), r.pathBytes));
        },
      );
      writes.add(job);
      void job.finally(() => writes.delete(job));
    }
    await out.ready();
  }
  await Promise.all([...writes]);
  // Positions never filled (taken from the list just as Ctrl-C stopped the run): close the gaps.
  reorder?.flushAll();
  await out.flush();
}

/** A result ready to print: stdout bytes, or a stderr line (text mode errors), and what it counts as. */
interface OutRecord {
  readonly kind: 'ok' | 'failed' | 'skipped';
  readonly size: number;
  /** Text is encoded once, into the output chunk (`LineChunks`). */
  readonly stdout?: string | Buffer;
  readonly stderr?: string;
}

/** Results by input position, released in order; holds only those that came early. */
class Reorder {
  readonly #held = new Map<number, OutRecord>();
  #next = 0;
  constructor(readonly emit: (rec: OutRecord) => void) {}

  add(index: number, rec: OutRecord): void {
    if (index !== this.#next) {
      this.#held.set(index, rec);
      return;
    }
    this.emit(rec);
    this.#next++;
    for (let h = this.#held.get(this.#next); h; h = this.#held.get(this.#next)) {
      this.#held.delete(this.#next);
      this.emit(h);
      this.#next++;
    }
  }

  /** Whatever is still held, in order, gaps skipped. */
  flushAll(): void {
    for (const index of [...this.#held.keys()].sort((a, b) => a - b)) {
      this.emit(this.#held.get(index)!);
      this.#held.delete(index);
    }
  }
}

/**
 * Lines out: gathered while one batch of results is handled, written together right after (one
 * write per batch, not per file; never held longer than the current turn of the event loop), with
 * stdout's back-pressure passed back to the caller through `ready()`.
 */
class StreamOutput {
  files = 0;
  ok = 0;
  failed = 0;
  skipped = 0;
  progress: ProgressLine | undefined;
  readonly #pending = new LineChunks(80 * 1024);
  #scheduled = false;
  #draining: Promise<void> | undefined;

  constructor(
    readonly io: CliIO,
    readonly plan: DigestPlan,
    readonly s: StreamSettings,
  ) {}

  okRecord(r: Extract<FileDigest, { ok: true }>): OutRecord {
    const where = r.pathBytes ?? r.path;
    const stdout = this.s.ndjson
      ? `${JSON.stringify({ ...pathFields(where), digest: `${this.plan.params.alg.name}:${r.hex}`, size: r.size })}\n`
      : formatLine(this.plan, where, r.hex, r.digest, this.s.compact, this.s.forBuiltinSig);
    return { kind: 'ok', size: r.size, stdout };
  }

  failRecord(e: VeritreeError, pathBytes?: Uint8Array): OutRecord {
    if (!this.s.ndjson) return { kind: 'failed', size: 0, stderr: `veritree digest: ${escapeText(e.describe())}\n` };
    const line = { ...pathFields(pathBytes ?? e.path ?? ''), error: errorJson(e) };
    return { kind: 'failed', size: 0, stdout: `${JSON.stringify(line)}\n` };
  }

  /** Symlinks and special files met by -r: not digested, not an error (like find -type f). */
  skipRecord(e: VeritreeError, pathBytes?: Uint8Array): OutRecord {
    if (!this.s.ndjson) return { kind: 'skipped', size: 0 };
    const line = { ...pathFields(pathBytes ?? e.path ?? ''), skipped: errorJson(e) };
    return { kind: 'skipped', size: 0, stdout: `${JSON.stringify(line)}\n` };
  }

  emit(rec: OutRecord): void {
    if (rec.kind === 'skipped') this.skipped++;
    else {
      this.files++;
      if (rec.kind === 'ok') this.ok++;
      else this.failed++;
      this.progress?.add(1, rec.size);
    }
    if (rec.stderr !== undefined) this.io.stderr.write(rec.stderr);
    if (rec.stdout === undefined) return;
    this.#pending.add(rec.stdout);
    if (this.#pending.bytes >= 64 * 1024) this.#write();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.#write();
      });
    }
  }

  #write(): void {
    if (this.#pending.bytes === 0) return;
    const p = write(this.io.stdout, this.#pending.take());
    if (p && !this.#draining) {
      const d: Promise<void> = p.then(() => {
        if (this.#draining === d) this.#draining = undefined;
      });
      this.#draining = d;
    }
  }

  /** Resolves once stdout has taken what was written (the caller pulls more only then). */
  async ready(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  async flush(): Promise<void> {
    this.#write();
    await this.ready();
  }

  async finish(o: { interrupted: boolean; error?: VeritreeError; skipped: boolean }): Promise<void> {
    this.progress?.done();
    if (this.s.ndjson) {
      const summary = {
        files: this.files,
        ok: this.ok,
        failed: this.failed,
        ...(o.skipped ? { skipped: this.skipped } : {}),
        ...(o.interrupted ? { interrupted: true } : {}),
        // The run stopped short for a reason of its own (the list could not be read further).
        ...(o.error ? { error: errorJson(o.error, true) } : {}),
      };
      this.#pending.add(`${JSON.stringify({ summary })}\n`);
    }
    await this.flush();
  }
}

/** `{code, message, errno?}`: the path is the line's own `path` (exact, with `pathBytes`). */
function errorJson(e: VeritreeError, withPathField = false): { code: string; message: string; errno?: string; path?: string } {
  return {
    code: e.code,
    message: e.message,
    ...(e.errno !== undefined ? { errno: e.errno } : {}),
    ...(withPathField && e.path !== undefined ? { path: e.path } : {}),
  };
}
