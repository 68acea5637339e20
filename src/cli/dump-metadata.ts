/**
 * `veritree dump-metadata merkle_tree|descriptor|signature FILE [--offset N] [--length N]`: the
 * raw bytes FS_IOC_READ_VERITY_METADATA returns, to stdout, like `fsverity dump_metadata`
 * (docs/FORMATS.md §2.2; the Merkle tree comes root level first, §1.2).
 */
import type { Writable } from 'node:stream';
import { EXIT_FAILURE, EXIT_OK, EXIT_PROBLEMS, type Verb } from './io.js';
import { parseIntOption, parseVerbArgs } from './args.js';
import { usageError, VeritreeError } from '../report/errors.js';
import { readVerityMetadata } from '../kernel/async.js';
import { METADATA_TYPES, type MetadataType } from '../kernel/verity.js';

const HELP = `Usage: veritree dump-metadata merkle_tree|descriptor|signature FILE [options]

Write a verity file's metadata as the kernel stores it (FS_IOC_READ_VERITY_METADATA) to stdout:
the Merkle tree (root level first), the fs-verity descriptor, or the builtin signature.

Options:
  --offset=N          start N bytes into the metadata
  --length=N          write at most N bytes
  -h, --help          this text
`;

const OPTIONS = {
  offset: { type: 'string' },
  length: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const run: Verb = async (args, io) => {
  let type: MetadataType;
  let file: string;
  let offset: number | undefined;
  let length: number | undefined;
  try {
    const { values, positionals } = parseVerbArgs(args, OPTIONS);
    if (values.help) {
      io.stdout.write(HELP);
      return EXIT_OK;
    }
    if (positionals.length !== 2) throw usageError('expected a metadata type and one FILE');
    const t = positionals[0]!.replace(/-/g, '_');
    if (!Object.hasOwn(METADATA_TYPES, t)) throw usageError(`unknown metadata type ${JSON.stringify(positionals[0])} (expected merkle_tree, descriptor or signature)`);
    type = t as MetadataType;
    file = positionals[1]!;
    offset = parseIntOption('offset', values.offset);
    length = parseIntOption('length', values.length);
    if (offset !== undefined && !Number.isSafeInteger(offset)) throw usageError(`--offset: ${values.offset} is too large`);
    if (length !== undefined && !Number.isSafeInteger(length)) throw usageError(`--length: ${values.length} is too large`);
  } catch (err) {
    if (!(err instanceof VeritreeError)) throw err;
    io.stderr.write(`veritree dump-metadata: ${err.describe()}\nTry 'veritree dump-metadata --help'.\n`);
    return EXIT_FAILURE;
  }
  let bytes: Uint8Array;
  try {
    bytes = await readVerityMetadata(file, type, { ...(offset !== undefined ? { offset } : {}), ...(length !== undefined ? { length } : {}) });
  } catch (err) {
    if (!(err instanceof VeritreeError)) throw err;
    io.stderr.write(`veritree dump-metadata: ${err.describe()}\n`);
    return EXIT_PROBLEMS;
  }
  await writeBytes(io.stdout, bytes);
  return EXIT_OK;
};

function writeBytes(out: Writable, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    out.write(bytes, (err) => (err ? reject(err) : resolve()));
  });
}
