/**
 * `veritree measure FILE... | -r DIR...`: the kernel's fs-verity digest of verity files
 * (FS_IOC_MEASURE_VERITY, docs/FORMATS.md §2.4), printed exactly like `fsverity measure`:
 * `sha256:<hex> <path>` (docs/FORMATS.md §1.4). Exit 1 if some file could not be measured.
 */
import { EXIT_OK, EXIT_PROBLEMS, write, type CliIO, type Verb } from './io.js';
import { defineVerb } from './verb.js';
import { VeritreeError } from '../report/errors.js';
import { measureVerity } from '../kernel/async.js';
import { bulkOperands, expandOperands } from './operands.js';
import { orderedMap } from './ordered.js';
import { skipReason, type WalkEntry } from '../kernel/tree.js';
import type { Measurement } from '../kernel/verity.js';
import { lineOf } from '../fs/path.js';
import { escapeText } from '../report/text.js';

const HELP = `Usage: veritree measure [options] FILE...
       veritree measure [options] -r DIR...

Print the fs-verity digest the kernel holds for each verity file (FS_IOC_MEASURE_VERITY), as
'fsverity measure' does: ALG:HEX PATH.

Options:
  -r, --recursive     measure every regular file under each DIR (symlinks not followed)
  -j, --jobs=N        blocking kernel calls in flight at once (default 3)
  --json              one JSON object per file: {"path","hashAlg","digest"} or {"path","code","message"}
  -h, --help          this text
`;

const OPTIONS = {
  recursive: { type: 'boolean', short: 'r' },
  jobs: { type: 'string', short: 'j' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Item = { entry: WalkEntry; m?: Measurement; error?: VeritreeError };

interface Settings {
  readonly operands: string[];
  readonly recursive: boolean;
  readonly json: boolean;
}

export const run: Verb = defineVerb({
  name: 'measure',
  help: HELP,
  options: OPTIONS,
  settings: ({ values, positionals }): Settings => {
    return { operands: bulkOperands(values, positionals), recursive: values.recursive === true, json: values.json === true };
  },
  run: (s, { io }) => measureAll(s, io),
});

async function measureAll({ operands, recursive, json }: Settings, io: CliIO): Promise<number> {
  let failed = 0;
  const results = orderedMap(expandOperands(operands, recursive), 16, async (entry): Promise<Item> => {
    if (entry.error || entry.kind !== 'file') return { entry };
    try {
      return { entry, m: await measureVerity(entry.ref ?? entry.path) };
    } catch (err) {
      if (err instanceof VeritreeError) return { entry, error: err };
      throw err;
    } finally {
      entry.release?.();
    }
  });
  for await (const { entry, m, error } of results) {
    if (m) {
      await write(io.stdout, json ? JSON.stringify({ path: m.path, hashAlg: m.hashAlg, digest: m.hex }) + '\n' : lineOf(`${m.hashAlg}:${m.hex}`, m.path));
    } else if (error || entry.error) {
      failed++;
      const e = error ?? entry.error!;
      await problem(io, json, e.toJSON(), `${entry.path}: ${e.message}`);
    } else {
      await problem(io, json, { path: entry.path, status: 'skipped', reason: skipReason(entry.kind) }, `${entry.path}: skipped: ${skipReason(entry.kind)}`);
    }
  }
  return failed > 0 ? EXIT_PROBLEMS : EXIT_OK;
}

async function problem(io: CliIO, json: boolean, obj: object, line: string): Promise<void> {
  await write(io.stderr, `veritree measure: ${escapeText(line)}\n`);
  if (json) await write(io.stdout, JSON.stringify(obj) + '\n');
}
