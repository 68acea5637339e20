/**
 * `veritree dump-metadata merkle_tree|descriptor|signature FILE [--offset N] [--length N]`: the
 * raw bytes FS_IOC_READ_VERITY_METADATA returns, to stdout, like `fsverity dump_metadata`
 * (docs/FORMATS.md §2.2; the Merkle tree comes root level first, §1.2).
 */
import type { Writable } from 'node:stream';
import { EXIT_OK, EXIT_PROBLEMS, write, type Verb } from './io.js';
import { defineVerb } from './verb.js';
import { escapeText } from '../report/text.js';
import { parseIntOption } from './args.js';
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

interface Settings {
  readonly type: MetadataType;
  readonly file: string;
  readonly offset: number | undefined;
  readonly length: number | undefined;
}

export const run: Verb = defineVerb({
  name: 'dump-metadata',
  help: HELP,
  options: OPTIONS,
  settings: ({ values, positionals }): Settings => {
    if (positionals.length !== 2) throw usageError('expected a metadata type and one FILE');
    const t = positionals[0]!.replace(/-/g, '_');
    if (!Object.hasOwn(METADATA_TYPES, t)) throw usageError(`unknown metadata type ${JSON.stringify(positionals[0])} (expected merkle_tree, descriptor or signature)`);
    const offset = parseIntOption('offset', values.offset);
    const length = parseIntOption('length', values.length);
    if (offset !== undefined && !Number.isSafeInteger(offset)) throw usageError(`--offset: ${values.offset} is too large`);
    if (length !== undefined && !Number.isSafeInteger(length)) throw usageError(`--length: ${values.length} is too large`);
    return { type: t as MetadataType, file: positionals[1]!, offset, length };
  },
  run: async ({ type, file, offset, length }, { io }) => {
    let bytes: Uint8Array;
    try {
      bytes = await readVerityMetadata(file, type, { ...(offset !== undefined ? { offset } : {}), ...(length !== undefined ? { length } : {}) });
    } catch (err) {
      // The file's own problem (not verity, no signature): reported, exit 1, like fsverity.
      if (!(err instanceof VeritreeError)) throw err;
      await write(io.stderr, `veritree dump-metadata: ${escapeText(err.describe())}\n`);
      return EXIT_PROBLEMS;
    }
    await writeBytes(io.stdout, bytes);
    return EXIT_OK;
  },
});

function writeBytes(out: Writable, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    out.write(bytes, (err) => (err ? reject(err) : resolve()));
  });
}
