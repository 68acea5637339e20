/**
 * `veritree image create SRC|--from-file DUMP|- IMAGE` — mkcomposefs 1.0.8 compatible: writes a
 * composefs image from a source directory or a composefs-dump(5) file, byte-identical to what
 * mkcomposefs writes with the same options (docs/FORMATS.md §4.2; src/composefs/writer.ts).
 *
 * The image is written atomically (temporary file + rename); IMAGE `-` writes it to standard
 * output (refused on a terminal). `--print-digest` prints the image's fs-verity digest (what
 * `mount.composefs -o digest=` expects); `--print-digest-only` prints it and writes nothing.
 * Exit status 0 on success; on any failure 2 and one line `veritree image create: PATH: reason`
 * on stderr, and nothing left under IMAGE.
 */
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { parseBackendChoice } from '../backends/index.js';
import { buildImage, writeImage, type ImageOptions, type ImageSource } from '../composefs/writer.js';
import { initRepository } from '../cas/layout.js';
import { asVeritreeError, usageError, withPath } from '../report/errors.js';
import { fromSystemError } from '../report/errno.js';
import type { ParsedVerbArgs } from './args.js';
import { defineVerb } from './verb.js';
import { EXIT_OK, write, type CliIO, type Verb } from './io.js';

const HELP = `Usage: veritree image create [options] SOURCE IMAGE
       veritree image create --from-file [options] DUMP|- IMAGE
       veritree image create --print-digest-only [options] SOURCE

Write a composefs image (EROFS) from the directory SOURCE, or with --from-file from a
composefs-dump(5) file ('-' reads standard input). The image is byte-identical to the one
mkcomposefs 1.0.8 writes with the same options. IMAGE '-' writes to standard output.

Options:
  --from-file            SOURCE is a composefs dump, not a directory
  --digest-store=DIR     copy the files referenced by digest into the object store DIR
                         (DIR/XX/<62 hex>; directory SOURCE only, as with mkcomposefs)
  --repo=REPO            the same into a composefs-rs repository (REPO/objects, meta.json);
                         its algorithm (sha512 for a new one, or --hash-alg) names the objects
                         and the metacopy digests (algorithm 2 for SHA-512)
  --hash-alg=ALG         sha256 or sha512 objects (with --repo; directory SOURCE only)
  --print-digest         print the fs-verity digest of the image
  --print-digest-only    print the digest, write no image (then give no IMAGE)
  --min-version=N        lowest format version (default 0)
  --max-version=N        highest format version (default 1; a whiteout raises min to it;
                         giving either bound makes the other default to 0)
  --user-xattrs          keep only user.* xattrs            (directory SOURCE only)
  --skip-xattrs          keep no xattrs of the source        (directory SOURCE only)
  --use-epoch            set every mtime to 0                (directory SOURCE only)
  --skip-devices         leave out char and block devices    (directory SOURCE only)
  --threads=N            worker threads for file digests (default: cores)
  --backend=NAME         hashing backend: auto (default), wasm-simd, wasm-scalar, node-crypto, noble
  --no-fsync             do not make new objects durable before naming them (as import)
  -h, --help             this help

Exit status: 0 done, 2 failure or usage error.
`;

const OPTIONS = {
  'from-file': { type: 'boolean' },
  'digest-store': { type: 'string' },
  repo: { type: 'string' },
  'hash-alg': { type: 'string' },
  'print-digest': { type: 'boolean' },
  'print-digest-only': { type: 'boolean' },
  'min-version': { type: 'string' },
  'max-version': { type: 'string' },
  'user-xattrs': { type: 'boolean' },
  'skip-xattrs': { type: 'boolean' },
  'use-epoch': { type: 'boolean' },
  'skip-devices': { type: 'boolean' },
  threads: { type: 'string' },
  backend: { type: 'string' },
  'no-fsync': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface Plan {
  /** A composefs-rs repository to store the objects in (its meta.json says the algorithm). */
  repo: string | undefined;
  source: string;
  fromFile: boolean;
  output: string | null;
  printDigest: boolean;
  options: ImageOptions;
}

function versionOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]+$/.test(value)) throw usageError(`--${name}: ${JSON.stringify(value)} is not a version number`);
  return Number(value);
}

function parse({ values: v, positionals }: ParsedVerbArgs<typeof OPTIONS>): Plan {
  const digestOnly = v['print-digest-only'] === true;
  if (positionals.length === 0) throw usageError('no source path specified');
  if (positionals.length > 2) throw usageError('too many arguments');
  const source = positionals[0]!;
  if (source === '') throw usageError('empty source path');
  if (digestOnly && positionals.length === 2) throw usageError('no IMAGE with --print-digest-only');
  if (!digestOnly && positionals.length === 1) throw usageError('no destination IMAGE specified');
  const fromFile = v['from-file'] === true;
  if (source === '-' && !fromFile) throw usageError("SOURCE '-' (standard input) needs --from-file");
  let threads: number | undefined;
  if (v.threads !== undefined) {
    if (!/^[1-9][0-9]*$/.test(v.threads)) throw usageError(`--threads must be a positive integer, got ${JSON.stringify(v.threads)}`);
    threads = Number(v.threads);
  }
  if (v['digest-store'] !== undefined && v.repo !== undefined) throw usageError('--digest-store and --repo exclude each other');
  if (v['hash-alg'] !== undefined && v['hash-alg'] !== 'sha256' && v['hash-alg'] !== 'sha512') throw usageError(`--hash-alg must be sha256 or sha512, got ${JSON.stringify(v['hash-alg'])}`);
  if (v['hash-alg'] === 'sha512' && v.repo === undefined && !fromFile) throw usageError('--hash-alg sha512 needs --repo: composefs digest stores (--digest-store) hold SHA-256 objects');
  const minVersion = versionOption('min-version', v['min-version']);
  const maxVersion = versionOption('max-version', v['max-version']);
  const backend = v.backend !== undefined ? parseBackendChoice(v.backend) : undefined;
  const options: ImageOptions = {
    ...(minVersion !== undefined ? { minVersion } : {}),
    ...(maxVersion !== undefined ? { maxVersion } : {}),
    ...(v['user-xattrs'] === true ? { userXattrs: true } : {}),
    ...(v['skip-xattrs'] === true ? { skipXattrs: true } : {}),
    ...(v['use-epoch'] === true ? { useEpoch: true } : {}),
    ...(v['skip-devices'] === true ? { skipDevices: true } : {}),
    ...(v['digest-store'] !== undefined && !fromFile ? { digestStore: v['digest-store'] } : {}),
    ...(v['hash-alg'] !== undefined ? { objectHashAlg: v['hash-alg'] as 'sha256' | 'sha512' } : {}),
    ...(threads !== undefined ? { threads } : {}),
    ...(backend !== undefined ? { backend } : {}),
    ...(v['no-fsync'] === true ? { fsync: false } : {}),
  };
  return {
    repo: v.repo !== undefined && !fromFile ? v.repo : undefined,
    source,
    fromFile,
    output: digestOnly ? null : positionals[1]!,
    printDigest: digestOnly || v['print-digest'] === true,
    options,
  };
}


async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

async function loadSource(plan: Plan, io: CliIO): Promise<ImageSource> {
  if (!plan.fromFile) return { kind: 'directory', path: plan.source };
  if (plan.source === '-') return { kind: 'dump', text: await readAll(io.stdin), path: '-' };
  const text = await readFile(plan.source).catch((err: unknown) => {
    throw fromSystemError(err, plan.source, 'read');
  });
  return { kind: 'dump', text, path: plan.source };
}

export const run: Verb = defineVerb({
  name: 'image create',
  help: HELP,
  options: OPTIONS,
  usesPool: true,
  settings: parse,
  run: (plan, { io, fail }) => create(plan, io, fail),
});

async function create(plan: Plan, io: CliIO, fail: (err: unknown) => Promise<number>): Promise<number> {
  const toStdout = plan.output === '-';
  if (toStdout && (io.stdout as { isTTY?: boolean }).isTTY === true) return fail(usageError('standard output is a terminal; refusing to write an image to it'));
  if (toStdout && plan.printDigest) return fail(usageError('--print-digest would mix with an image written to standard output'));
  try {
    const source = await loadSource(plan, io);
    let options = plan.options;
    if (plan.repo !== undefined) {
      const repo = await initRepository(plan.repo, plan.options.objectHashAlg);
      options = { ...options, digestStore: repo.objects, objectHashAlg: repo.hashAlg };
    }
    const result = plan.output === null || toStdout ? await buildImage(source, options) : await writeImage(source, plan.output, options);
    if (toStdout) await write(io.stdout, result.image);
    if (plan.printDigest) await write(io.stdout, `${result.digest}\n`);
    return EXIT_OK;
  } catch (err) {
    // A dump line's error names no file: it is about the dump given.
    const e = asVeritreeError(err);
    throw e.path === undefined && e.code !== 'usage' ? withPath(e, plan.fromFile && plan.source === '-' ? '<stdin>' : plan.source) : e;
  }
}
