/**
 * `veritree image ls|objects|missing-objects|dump IMAGE...` — composefs-info 1.0.8 compatible
 * (docs/FORMATS.md §4.3, dump format §4.4), byte for byte on the fixture images.
 *
 * - `ls`: one line per path below the root, pre-order, children sorted; directories get `/` +
 *   TAB, symlinks TAB `-> target`, regular files with a backing object TAB `@ XX/YYYY…`. A later
 *   name of a hard-linked inode is printed bare (composefs-info sees a node without a mode).
 * - `dump`: composefs-dump(5) lines.
 * - `objects`: sorted, de-duplicated backing-object paths across all images, unescaped.
 * - `missing-objects`: those not present under `--basedir` (stat follows symlinks); without
 *   `--basedir` every object is missing, as with composefs-info.
 *
 * Options (anywhere before `--`, GNU style): `--basedir=DIR`, `--filter=NAME` (load only these
 * top-level entries; repeatable). A plain EROFS image without the composefs header is refused
 * with `not-composefs` (composefs-info cannot load it either). An unreadable or invalid image
 * is reported on stderr as `veritree image: PATH: reason` and the other images are still
 * processed; the exit status is then 2. Missing objects are not an error (exit 0), as with
 * composefs-info.
 */
import { stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { collectPayloads, openImage, uniqueSorted } from '../composefs/image.js';
import type { ComposefsImage } from '../composefs/image.js';
import { dumpLines, lsLines } from '../composefs/info.js';
export { dumpRecord, formatDump, formatLs } from '../composefs/info.js';
import { VeritreeError, usageError } from '../report/errors.js';
import { EXIT_FAILURE, EXIT_OK, write } from './io.js';
import { defineVerb } from './verb.js';
import type { CliIO, Verb } from './io.js';

const COMMANDS = ['ls', 'objects', 'missing-objects', 'dump'] as const;
type Command = (typeof COMMANDS)[number];

const HELP = `Usage: veritree image [--basedir=DIR] [--filter=NAME]... COMMAND IMAGE...

Read composefs images like composefs-info(1); output is byte-identical to composefs-info 1.0.8.

Commands:
  ls               list every path (directories end in '/', symlinks '-> target',
                   files with a backing object '@ XX/YYYY...')
  dump             composefs-dump(5) text, one line per path
  objects          sorted backing-object paths of all images
  missing-objects  the objects not present under --basedir
  create           write an image from a directory or a dump, like mkcomposefs
                   (see 'veritree image create --help')

Options:
  --basedir=DIR    object store to look in for missing-objects
  --filter=NAME    only load the top-level entry NAME (repeatable)
  -h, --help       show this help
`;

interface Options {
  basedir: string | undefined;
  filter: string[];
  command: Command;
  images: string[];
}

function parseArgs(args: string[]): Options | 'help' {
  let basedir: string | undefined;
  const filter: string[] = [];
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (arg === '-h' || arg === '--help') return 'help';
    const m = /^--(basedir|filter)(?:=(.*))?$/s.exec(arg);
    if (m !== null) {
      let value = m[2];
      if (value === undefined) {
        value = args[++i];
        if (value === undefined) throw usageError(`option --${m[1]} needs a value`);
      }
      if (m[1] === 'basedir') basedir = value;
      else filter.push(value);
      continue;
    }
    if (arg.startsWith('-') && arg !== '-') throw usageError(`unknown option '${arg}'`);
    positional.push(arg);
  }
  const [command, ...images] = positional;
  if (command === undefined) throw usageError('no command specified (ls, objects, missing-objects, dump)');
  if (!(COMMANDS as readonly string[]).includes(command)) throw usageError(`unknown command '${command}'`);
  if (images.length === 0) throw usageError('no image path specified');
  return { basedir, filter, command: command as Command, images };
}


/** Writes lines in ~64 KiB chunks, so a huge listing never becomes one string. */
async function writeLines(stream: Writable, lines: Iterable<string>): Promise<void> {
  let chunk = '';
  for (const line of lines) {
    chunk += line;
    if (chunk.length >= 65536) {
      await write(stream, chunk);
      chunk = '';
    }
  }
  if (chunk.length > 0) await write(stream, chunk);
}

/** Is the object at `payload` (leading slashes dropped) present under `basedir`? */
async function objectPresent(basedir: string | undefined, payload: Uint8Array): Promise<boolean> {
  let start = 0;
  while (start < payload.length && payload[start] === 0x2f) start++;
  const rel = payload.subarray(start);
  // composefs-info stats with AT_EMPTY_PATH, so an empty path names the directory (or fd) itself.
  if (rel.length === 0) return true;
  if (basedir === undefined) return false;
  try {
    await stat(Buffer.concat([Buffer.from(basedir), Buffer.from('/'), rel]));
    return true;
  } catch {
    return false;
  }
}

async function missingObjects(basedir: string | undefined, payloads: Uint8Array[]): Promise<Uint8Array[]> {
  const unique = uniqueSorted(payloads);
  const present = new Array<boolean>(unique.length);
  const parallel = 32;
  for (let i = 0; i < unique.length; i += parallel) {
    const batch = unique.slice(i, i + parallel);
    const results = await Promise.all(batch.map((p) => objectPresent(basedir, p)));
    results.forEach((r, j) => { present[i + j] = r; });
  }
  return unique.filter((_, i) => !present[i]);
}

function linesOf(items: Uint8Array[]): Buffer {
  return Buffer.concat(items.flatMap((p) => [p, Buffer.from('\n')]));
}

const readVerb: Verb = defineVerb({
  name: 'image',
  help: HELP,
  options: { help: { type: 'boolean', short: 'h' } } as const,
  // composefs-info's grammar: options anywhere before `--`, `--opt VALUE` or `--opt=VALUE`.
  parse: parseArgs,
  run: (opts, { io }) => readImages(opts, io),
});

/** `image create …` is its own verb (mkcomposefs' options); the rest read images. */
export const run: Verb = async (args, io) => (args[0] === 'create' ? (await import('./image-create.js')).run(args.slice(1), io) : readVerb(args, io));

async function readImages(opts: Options, io: CliIO): Promise<number> {
  const { basedir, command } = opts;
  if (command === 'missing-objects' && basedir !== undefined) {
    try {
      if (!(await stat(basedir)).isDirectory()) throw new Error('not a directory');
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message;
      io.stderr.write(`veritree image: can't open basedir '${basedir}': ${reason}\n`);
      return EXIT_FAILURE;
    }
  }
  let status = EXIT_OK;
  const payloads: Uint8Array[] = [];
  for (const path of opts.images) {
    let image: ComposefsImage;
    try {
      image = await openImage(path, { requireComposefs: true, ...(opts.filter.length > 0 ? { filter: opts.filter } : {}) });
    } catch (err) {
      if (!(err instanceof VeritreeError)) throw err;
      io.stderr.write(`veritree image: ${err.describe()}\n`);
      status = EXIT_FAILURE;
      continue;
    }
    if (command === 'ls') await writeLines(io.stdout, lsLines(image));
    else if (command === 'dump') await writeLines(io.stdout, dumpLines(image));
    else payloads.push(...collectPayloads(image.root));
  }
  if (command === 'objects') await write(io.stdout, linesOf(uniqueSorted(payloads)));
  if (command === 'missing-objects') await write(io.stdout, linesOf(await missingObjects(basedir, payloads)));
  return status;
}
