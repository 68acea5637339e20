/**
 * `veritree enable FILE... | -r DIR...`: FS_IOC_ENABLE_VERITY on many files at once, with the
 * kernel's errors explained (docs/FORMATS.md §2.3). Prints nothing per enabled file (like `fsverity
 * enable`), one stderr line per problem, and a summary line. Exit 0 when every file has verity
 * with the requested parameters, 1 when some file failed or differs, 2 on usage errors.
 */
import { readFileSync } from 'node:fs';
import { EXIT_OK, EXIT_PROBLEMS, write, type CliIO, type Verb } from './io.js';
import { escapeText } from '../report/text.js';
import { defineVerb } from './verb.js';
import { treeParams, TREE_OPTIONS } from './args.js';
import { kernelError, usageError } from '../report/errors.js';
import { MAX_SIGNATURE_SIZE } from '../kernel/constants.js';
import { enableOne, type EnableOutcome } from '../kernel/bulk.js';
import { bulkOperands, expandOperands } from './operands.js';
import { orderedMap } from './ordered.js';
import { skipReason, type WalkEntry } from '../kernel/tree.js';
import type { VerityParams } from '../params.js';

const HELP = `Usage: veritree enable [options] FILE...
       veritree enable [options] -r DIR...

Enable fs-verity on files (FS_IOC_ENABLE_VERITY). Files must be on a filesystem with fs-verity
(ext4/f2fs made or tuned with -O verity, btrfs) and not open for writing.

Options:
  --hash-alg=ALG      sha256 (default) or sha512
  --block-size=N      Merkle tree block size in bytes (default 4096)
  --salt=HEX          salt, up to 32 bytes, as hex
  --signature=FILE    builtin signature to store (PKCS#7 DER, as made by 'fsverity sign')
  -r, --recursive     enable every regular file under each DIR; symlinks are not followed,
                      symlinks and special files are reported as skipped
  --copy              when a file stays open for writing, enable a fresh copy of it and rename
                      the copy into place (mode, owner, xattrs and times kept)
  -j, --jobs=N        blocking kernel calls in flight at once (default 3)
  --json              one JSON object per file on stdout, then {"summary": ...}
  -q, --quiet         no summary line
  -h, --help          this text

Already-enabled files count as success; if their parameters differ from the requested ones that
is reported and the exit status is 1.
`;

const OPTIONS = {
  ...TREE_OPTIONS,
  signature: { type: 'string' },
  recursive: { type: 'boolean', short: 'r' },
  copy: { type: 'boolean' },
  jobs: { type: 'string', short: 'j' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface Summary {
  files: number;
  enabled: number;
  enabledViaCopy: number;
  alreadyEnabled: number;
  mismatched: number;
  skipped: number;
  failed: number;
}

type Item = { entry: WalkEntry; outcome?: EnableOutcome };

interface Settings {
  readonly operands: string[];
  readonly recursive: boolean;
  readonly json: boolean;
  readonly quiet: boolean;
  readonly copy: boolean;
  readonly params: VerityParams;
  readonly signature: Uint8Array | undefined;
}

export const run: Verb = defineVerb({
  name: 'enable',
  help: HELP,
  options: OPTIONS,
  settings: ({ values, positionals }): Settings => {
    const operands = bulkOperands(values, positionals);
    const params = treeParams(values);
    const signature = values.signature !== undefined ? readSignature(values.signature) : undefined;
    return { operands, recursive: values.recursive === true, json: values.json === true, quiet: values.quiet === true, copy: values.copy === true, params, signature };
  },
  run: (s, { io }) => enableAll(s, io),
});

async function enableAll(s: Settings, io: CliIO): Promise<number> {
  const { operands, params, signature, json } = s;
  const summary: Summary = { files: 0, enabled: 0, enabledViaCopy: 0, alreadyEnabled: 0, mismatched: 0, skipped: 0, failed: 0 };
  const opts = { params, ...(signature ? { signature } : {}), copy: s.copy, measure: json };
  // Files in flight: enough to keep the kernel-call slots busy while results are printed in order.
  const window = 16;

  const results = orderedMap(expandOperands(operands, s.recursive), window, async (entry): Promise<Item> => {
    if (entry.error || entry.kind !== 'file') return { entry };
    try {
      return { entry, outcome: await enableOne(entry.ref ?? entry.path, opts) };
    } finally {
      entry.release?.();
    }
  });

  for await (const { entry, outcome } of results) {
    summary.files++;
    if (!outcome) {
      if (entry.error) {
        summary.failed++;
        const e = entry.error;
        await report(io, json, { path: entry.path, status: 'failed', ...e.toJSON() }, `${entry.path}: ${e.errno === 'ENOENT' ? 'no such file or directory' : e.message}`);
      } else {
        summary.skipped++;
        await report(io, json, { path: entry.path, status: 'skipped', reason: skipReason(entry.kind) }, `${entry.path}: skipped: ${skipReason(entry.kind)}`);
      }
      continue;
    }
    const digest = outcome.measurement ? `${outcome.measurement.hashAlg}:${outcome.measurement.hex}` : undefined;
    switch (outcome.status) {
      case 'enabled':
        summary.enabled++;
        if (json) await write(io.stdout, JSON.stringify({ path: outcome.path, status: 'enabled', ...(digest ? { digest } : {}) }) + '\n');
        break;
      case 'enabled-via-copy':
        summary.enabledViaCopy++;
        await report(io, json, { path: outcome.path, status: 'enabled-via-copy', ...(digest ? { digest } : {}) }, `${outcome.path}: was open for writing; enabled on a copy renamed into place`);
        break;
      case 'already-enabled':
        summary.alreadyEnabled++;
        if (outcome.mismatch) {
          summary.mismatched++;
          await report(io, json, { path: outcome.path, status: 'already-enabled', code: 'verity-params-differ', mismatch: outcome.mismatch, ...(digest ? { digest } : {}) }, `${outcome.path}: ${outcome.mismatch}`);
        } else if (json) {
          await write(io.stdout, JSON.stringify({ path: outcome.path, status: 'already-enabled', ...(digest ? { digest } : {}) }) + '\n');
        }
        break;
      case 'failed': {
        summary.failed++;
        const e = outcome.error!;
        const hint = e.code === 'file-open-for-writing' && !s.copy ? ' (--copy enables a copy and renames it into place)' : '';
        await report(io, json, { path: outcome.path, status: 'failed', ...e.toJSON() }, `${outcome.path}: ${e.message}${hint}`);
        break;
      }
    }
  }

  if (json) await write(io.stdout, JSON.stringify({ summary }) + '\n');
  else if (!s.quiet) await write(io.stdout, summaryLine(summary) + '\n');
  return summary.failed > 0 || summary.mismatched > 0 ? EXIT_PROBLEMS : EXIT_OK;
}

export function summaryLine(s: Summary): string {
  const parts = [`${s.enabled} enabled`];
  if (s.enabledViaCopy) parts.push(`${s.enabledViaCopy} enabled via copy`);
  parts.push(`${s.alreadyEnabled} already enabled${s.mismatched ? ` (${s.mismatched} with different parameters)` : ''}`);
  parts.push(`${s.skipped} skipped`, `${s.failed} failed`);
  return `veritree enable: ${s.files} file${s.files === 1 ? '' : 's'}: ${parts.join(', ')}`;
}

/** Problem line on stderr (always) and, with --json, the object on stdout. */
async function report(io: CliIO, json: boolean, obj: object, line: string): Promise<void> {
  await write(io.stderr, `veritree enable: ${escapeText(line)}\n`);
  if (json) await write(io.stdout, JSON.stringify(obj) + '\n');
}

function readSignature(file: string): Uint8Array {
  let sig: Uint8Array;
  try {
    sig = readFileSync(file);
  } catch (err) {
    throw usageError(`--signature: ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  if (sig.length === 0) throw usageError(`--signature: ${file}: empty file`);
  if (sig.length > MAX_SIGNATURE_SIZE)
    throw kernelError('salt-or-signature-too-large', `--signature: ${file}: ${sig.length} bytes; the kernel accepts at most ${MAX_SIGNATURE_SIZE}`);
  return sig;
}

