/**
 * `veritree import SRC --objects DIR|--repo REPO [--dump FILE] [--enable]` — the builder backend:
 * every regular file of SRC larger than 64 bytes goes into the object store (`XX/<rest>` by
 * fs-verity digest: a composefs digest store DIR, SHA-256; or a composefs-rs repository REPO,
 * `REPO/objects/…` with `meta.json`, SHA-512 by default or as `--hash-alg` says), and a
 * composefs-dump(5) of the tree is written for `mkcomposefs --from-file` / `veritree image create
 * --from-file` (docs/FORMATS.md §4.1, §4.4; src/composefs/import.ts).
 */
import { ObjectStore, OBJECT_HASH_ALGS, type ObjectHashAlg } from '../composefs/store.js';
import { initRepository } from '../cas/layout.js';
import { importTree } from '../composefs/import.js';
import { enableOne } from '../kernel/index.js';
import { parseBackendChoice, type BackendChoice } from '../backends/index.js';
import { writeFileAtomic } from '../report/atomic-write.js';
import { usageError } from '../report/errors.js';
import { parseIntOption } from './args.js';
import { defineVerb } from './verb.js';
import { EXIT_OK, EXIT_PROBLEMS, write, type CliIO, type Verb } from './io.js';

const HELP = `Usage: veritree import SRC --objects DIR|--repo REPO [--dump FILE] [--enable] [options]

Store every regular file of SRC larger than 64 bytes in an object store, named by its fs-verity
digest (identical files stored once; written from the bytes hashed, files over 1 MiB copied
with copy_file_range, a reflink where the filesystem can), and describe the tree as a composefs
dump that 'mkcomposefs --from-file FILE IMAGE' (or 'veritree image create
--from-file') turns into an image. Symlinks are never followed; names are kept byte for byte.

Options:
  --objects=DIR     a composefs digest store: DIR/XX/<62 hex>, SHA-256 (created if missing)
  --repo=REPO       a composefs-rs repository: REPO/objects/XX/<rest> and REPO/meta.json
                    (created if missing; an existing one keeps its algorithm)
  --hash-alg=ALG    sha256 or sha512 object digests (--repo only; a new repository defaults
                    to sha512, as composefs-rs does)
  --dump=FILE       write the dump to FILE (atomically); '-' for standard output
  --image=FILE      also write the composefs image (as 'veritree image create --from-file'
                    would from the dump; atomically)
  --enable          enable fs-verity on the stored objects (FS_IOC_ENABLE_VERITY)
  --no-fsync        do not make objects durable before naming them (faster; after a crash an
                    object may be named but incomplete). Default: nothing is named before its
                    bytes are on disk (fsync per large object, one syncfs per batch of small ones)
  --threads=N       worker threads for digests (default: cores)
  --backend=NAME    auto (default), wasm-simd, wasm-scalar, node-crypto, noble
  -h, --help        this help

Exit status: 0 done, 1 fs-verity could not be enabled on some object, 2 failure or usage.
`;

const OPTIONS = {
  objects: { type: 'string' },
  repo: { type: 'string' },
  'hash-alg': { type: 'string' },
  dump: { type: 'string' },
  image: { type: 'string' },
  enable: { type: 'boolean' },
  'no-fsync': { type: 'boolean' },
  threads: { type: 'string' },
  backend: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface Settings {
  readonly src: string;
  readonly objects: string | undefined;
  readonly repo: string | undefined;
  readonly hashAlg: ObjectHashAlg | undefined;
  readonly dump: string | undefined;
  readonly image: string | undefined;
  readonly enable: boolean;
  readonly fsync: boolean;
  readonly threads: number | undefined;
  readonly backend: BackendChoice | undefined;
}

export const run: Verb = defineVerb({
  name: 'import',
  help: HELP,
  options: OPTIONS,
  usesPool: true,
  settings: ({ values, positionals }): Settings => {
    if (positionals.length !== 1) throw usageError(`expected exactly one source directory, got ${positionals.length}`);
    if ((values.objects === undefined) === (values.repo === undefined)) throw usageError('give one of --objects DIR (composefs digest store) or --repo REPO (composefs-rs repository)');
    const alg = values['hash-alg'];
    if (alg !== undefined && !OBJECT_HASH_ALGS.includes(alg as ObjectHashAlg)) throw usageError(`--hash-alg must be sha256 or sha512, got ${JSON.stringify(alg)}`);
    if (alg === 'sha512' && values.repo === undefined) throw usageError('--hash-alg sha512 needs --repo: composefs digest stores (--objects) hold SHA-256 objects');
    const threads = parseIntOption('threads', values.threads);
    if (threads === 0) throw usageError('--threads must be at least 1');
    return {
      src: positionals[0]!, objects: values.objects, repo: values.repo, hashAlg: alg as ObjectHashAlg | undefined, dump: values.dump, image: values.image,
      enable: values.enable === true, fsync: values['no-fsync'] !== true, threads,
      backend: values.backend !== undefined ? parseBackendChoice(values.backend) : undefined,
    };
  },
  run: async (s, { io }) => {
    // The summary must not mix with a dump written to standard output.
    const info = s.dump === '-' ? io.stderr : io.stdout;
    const where = s.repo !== undefined ? await initRepository(s.repo, s.hashAlg) : { objects: s.objects!, hashAlg: 'sha256' as const };
    const store = new ObjectStore(where.objects, { fsync: s.fsync, hashAlg: where.hashAlg });
    const result = await importTree(s.src, store, { ...(s.threads !== undefined ? { threads: s.threads } : {}), ...(s.backend !== undefined ? { backend: s.backend } : {}) });
    if (s.dump === '-') await write(io.stdout, result.dump);
    else if (s.dump !== undefined) await writeFileAtomic(s.dump, Buffer.from(result.dump, 'latin1'));
    if (s.image !== undefined) {
      const { writeImage } = await import('../composefs/writer.js');
      const image = await writeImage({ kind: 'dump', text: result.dump }, s.image);
      await write(info, `image: ${s.image} (format version ${image.version}, fs-verity digest ${image.digest})\n`);
    }
    const f = result.files;
    const o = result.objects;
    await write(info, `files: ${f.total} regular (${f.stored} stored, ${f.inline} inline, ${f.empty} empty); objects: ${o.referenced} (${o.added} new, ${o.existing} already stored)\n`);
    if (!s.enable) return EXIT_OK;
    return enableAll(result.objectPaths, store.hashAlg, io);
  },
});

/** Enables fs-verity on each object; stops at the first `verity-not-supported` (it applies to all). */
async function enableAll(paths: readonly string[], hashAlg: ObjectHashAlg, io: CliIO): Promise<number> {
  let enabled = 0;
  let already = 0;
  let failed = 0;
  for (const p of paths) {
    const r = await enableOne(p, { hashAlg, blockSize: 4096 });
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
