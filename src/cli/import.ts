/**
 * `veritree import SRC --objects DIR [--dump FILE] [--enable]` — the builder backend: every regular
 * file of SRC larger than 64 bytes goes into the composefs object store DIR (`XX/<62 hex>` by
 * fs-verity SHA-256 digest), and a composefs-dump(5) of the tree is written for
 * `mkcomposefs --from-file` (docs/FORMATS.md §4.1, §4.4; src/composefs/import.ts).
 */
import { ObjectStore } from '../composefs/store.js';
import { importTree } from '../composefs/import.js';
import { enableOne } from '../kernel/index.js';
import { parseBackendChoice } from '../backends/index.js';
import { closeSharedPool } from '../pool/pool.js';
import { writeFileAtomic } from '../report/atomic-write.js';
import { usageError, VeritreeError } from '../report/errors.js';
import { parseVerbArgs } from './args.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_PROBLEMS, write, type CliIO } from './io.js';

const HELP = `Usage: veritree import SRC --objects DIR [--dump FILE] [--enable] [options]

Store every regular file of SRC larger than 64 bytes in the composefs object store DIR
(DIR/XX/<62 hex>, named by fs-verity SHA-256 digest; identical files stored once; reflinked
where the filesystem can), and describe the tree as a composefs dump that
'mkcomposefs --from-file FILE IMAGE' turns into an image. Symlinks are never followed.

Options:
  --objects=DIR     the object store (created if missing)
  --dump=FILE       write the dump to FILE (atomically); '-' for standard output
  --enable          enable fs-verity on the stored objects (FS_IOC_ENABLE_VERITY)
  --no-fsync        do not fsync new objects (faster, not crash-safe)
  --threads=N       worker threads for digests (default: cores)
  --backend=NAME    auto (default), wasm-simd, wasm-scalar, node-crypto, noble
  -h, --help        this help

Exit status: 0 done, 1 fs-verity could not be enabled on some object, 2 failure or usage.
`;

const OPTIONS = {
  objects: { type: 'string' },
  dump: { type: 'string' },
  enable: { type: 'boolean' },
  'no-fsync': { type: 'boolean' },
  threads: { type: 'string' },
  backend: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function run(args: string[], io: CliIO): Promise<number> {
  let parsed;
  let threads: number | undefined;
  let backend;
  try {
    parsed = parseVerbArgs(args, OPTIONS);
    if (parsed.values.help === true) {
      await write(io.stdout, HELP);
      return EXIT_OK;
    }
    if (parsed.positionals.length !== 1) throw usageError(`expected exactly one source directory, got ${parsed.positionals.length}`);
    if (parsed.values.objects === undefined) throw usageError('--objects DIR is required');
    if (parsed.values.threads !== undefined) {
      if (!/^[1-9][0-9]*$/.test(parsed.values.threads)) throw usageError(`--threads must be a positive integer, got ${JSON.stringify(parsed.values.threads)}`);
      threads = Number(parsed.values.threads);
    }
    backend = parsed.values.backend !== undefined ? parseBackendChoice(parsed.values.backend) : undefined;
  } catch (err) {
    await write(io.stderr, `veritree import: ${err instanceof Error ? err.message : String(err)}\n\n${HELP}`);
    return EXIT_FAILURE;
  }
  const src = parsed.positionals[0]!;
  const dumpTo = parsed.values.dump;
  // The summary must not mix with a dump written to standard output.
  const info = dumpTo === '-' ? io.stderr : io.stdout;
  try {
    const store = new ObjectStore(parsed.values.objects, { fsync: parsed.values['no-fsync'] !== true });
    const result = await importTree(src, store, { ...(threads !== undefined ? { threads } : {}), ...(backend !== undefined ? { backend } : {}) });
    if (dumpTo === '-') await write(io.stdout, result.dump);
    else if (dumpTo !== undefined) await writeFileAtomic(dumpTo, Buffer.from(result.dump, 'latin1'));
    const f = result.files;
    const o = result.objects;
    await write(info, `files: ${f.total} regular (${f.stored} stored, ${f.inline} inline, ${f.empty} empty); objects: ${o.referenced} (${o.added} new, ${o.existing} already stored)\n`);
    if (parsed.values.enable !== true) return EXIT_OK;
    return await enableAll(result.objectPaths, io);
  } catch (err) {
    const msg = err instanceof VeritreeError ? `${err.code}: ${err.describe()}` : err instanceof Error ? err.message : String(err);
    await write(io.stderr, `veritree import: ${msg}\n`);
    return EXIT_FAILURE;
  } finally {
    await closeSharedPool();
  }
}

/** Enables fs-verity on each object; stops at the first `verity-not-supported` (it applies to all). */
async function enableAll(paths: readonly string[], io: CliIO): Promise<number> {
  let enabled = 0;
  let already = 0;
  let failed = 0;
  for (const p of paths) {
    const r = await enableOne(p, { hashAlg: 'sha256', blockSize: 4096 });
    if (r.status === 'failed') {
      const e = r.error!;
      await write(io.stderr, `veritree import: ${e.code}: ${e.describe()}\n`);
      if (e.code === 'verity-not-supported') {
        await write(io.stderr, `veritree import: fs-verity not enabled on ${paths.length} objects\n`);
        return EXIT_PROBLEMS;
      }
      failed++;
    } else if (r.status === 'already-enabled') {
      already++;
      if (r.mismatch !== undefined) {
        failed++;
        await write(io.stderr, `veritree import: ${p}: ${r.mismatch}\n`);
      }
    } else enabled++;
  }
  await write(io.stdout, `fs-verity: ${enabled} enabled, ${already} already enabled${failed > 0 ? `, ${failed} failed` : ''}\n`);
  return failed > 0 ? EXIT_PROBLEMS : EXIT_OK;
}
