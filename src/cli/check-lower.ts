/**
 * The shared body of `veritree check-image` and `veritree check-overlay`: options, running the
 * check, reporting, exit status (0 clean, 1 problems, 2 unusable input or usage).
 */
import { parseVerbArgs } from './args.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_PROBLEMS, write, type CliIO } from './io.js';
import { parseBackendChoice } from '../backends/index.js';
import { closeSharedPool, sharedPool } from '../pool/pool.js';
import { usageError, VeritreeError } from '../report/errors.js';
import { VERITY_MODES, type VerityMode } from '../overlay/analyze.js';
import { XATTR_PREFIXES, type XattrPrefixName } from '../overlay/constants.js';
import type { LowerEntry } from '../overlay/lower.js';
import { writeCheckReport, type CheckReportFormat } from '../overlay/report.js';
import { closeDataLayers, openDataLayers, type DataLayer } from '../overlay/resolve.js';
import { checkLowerLayer } from '../overlay/validate.js';

export const CHECK_OPTIONS = {
  verity: { type: 'string' },
  'xattr-prefix': { type: 'string' },
  'no-measure': { type: 'boolean' },
  threads: { type: 'string' },
  backend: { type: 'string' },
  json: { type: 'boolean' },
  ndjson: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const COMMON_HELP = `  --verity=on|require     on (default): verify objects whose metacopy has a digest;
                          require: a metacopy without a digest is an error (as overlayfs verity=)
  --xattr-prefix=P        trusted, user or auto (default: whichever the files carry)
  --no-measure            do not ask the kernel (FS_IOC_MEASURE_VERITY) and judge objects by
                          content only. By default an object with fs-verity is judged by the
                          kernel's measurement, and one without it on a filesystem that has
                          fs-verity is an error (overlayfs refuses it); where the kernel has no
                          fs-verity, digests are computed
  --threads=N             worker threads for hashing (default: cores)
  --backend=NAME          auto (default), wasm-simd, wasm-scalar, node-crypto, noble
  --json | --ndjson       machine-readable report
  -h, --help              this help

Exit status: 0 no problems, 1 problems found, 2 unreadable input, missing data dir, or usage.
`;

interface CheckInvocation {
  readonly verb: string;
  readonly help: string;
  /** The repeatable option naming data layers (`objects` / `data`). */
  readonly layerOption: 'objects' | 'data';
  readonly entries: (lower: string) => Promise<Iterable<LowerEntry> | AsyncIterable<LowerEntry>>;
  readonly sourceName: string;
}

export async function runCheck(args: string[], io: CliIO, inv: CheckInvocation): Promise<number> {
  const options = { ...CHECK_OPTIONS, [inv.layerOption]: { type: 'string', multiple: true } } as const;
  let parsed;
  try {
    parsed = parseVerbArgs(args, options);
  } catch (err) {
    return usage(io, inv, err);
  }
  const v = parsed.values as Record<string, unknown>;
  if (v.help === true) {
    await write(io.stdout, inv.help);
    return EXIT_OK;
  }
  let verity: VerityMode;
  let prefix: XattrPrefixName | 'auto';
  let threads: number | undefined;
  let format: CheckReportFormat;
  let backend;
  try {
    if (parsed.positionals.length !== 1) throw usageError(`expected exactly one ${inv.sourceName}, got ${parsed.positionals.length}`);
    const layers = v[inv.layerOption] as string[] | undefined;
    if (layers === undefined || layers.length === 0) throw usageError(`--${inv.layerOption} DIR is required`);
    verity = (v.verity as string | undefined ?? 'on') as VerityMode;
    if (!VERITY_MODES.includes(verity)) throw usageError(`--verity must be on or require, got ${JSON.stringify(v.verity)}`);
    prefix = (v['xattr-prefix'] as string | undefined ?? 'auto') as XattrPrefixName | 'auto';
    if (prefix !== 'auto' && !Object.hasOwn(XATTR_PREFIXES, prefix)) throw usageError(`--xattr-prefix must be trusted, user or auto, got ${JSON.stringify(prefix)}`);
    if (v.json === true && v.ndjson === true) throw usageError('--json and --ndjson are exclusive');
    format = v.json === true ? 'json' : v.ndjson === true ? 'ndjson' : 'text';
    if (v.threads !== undefined) {
      threads = Number(v.threads);
      if (!/^[1-9][0-9]*$/.test(String(v.threads))) throw usageError(`--threads must be a positive integer, got ${JSON.stringify(v.threads)}`);
    }
    backend = v.backend !== undefined ? parseBackendChoice(String(v.backend)) : undefined;
  } catch (err) {
    return usage(io, inv, err);
  }
  const lower = parsed.positionals[0]!;
  const layerPaths = v[inv.layerOption] as string[];
  let dataLayers: DataLayer[] = [];
  try {
    // Workers boot (~50 ms) while the image is opened and parsed, not after.
    sharedPool(threads);
    dataLayers = await openDataLayers(layerPaths);
    const entries = await inv.entries(lower);
    const result = await checkLowerLayer(entries, {
      dataLayers, verity, xattrPrefix: prefix, measure: v['no-measure'] !== true,
      ...(threads !== undefined ? { threads } : {}),
      ...(backend !== undefined ? { backend } : {}),
    });
    await writeCheckReport(io.stdout, format, result, { [inv.sourceName]: lower, dataLayers: layerPaths });
    return result.summary.problems > 0 ? EXIT_PROBLEMS : EXIT_OK;
  } catch (err) {
    const msg = err instanceof VeritreeError ? `${err.code}: ${err.describe()}` : err instanceof Error ? err.message : String(err);
    await write(io.stderr, `veritree ${inv.verb}: ${msg}\n`);
    return EXIT_FAILURE;
  } finally {
    await closeSharedPool();
    closeDataLayers(dataLayers);
  }
}

async function usage(io: CliIO, inv: CheckInvocation, err: unknown): Promise<number> {
  const msg = err instanceof Error ? err.message : String(err);
  await write(io.stderr, `veritree ${inv.verb}: ${msg}\n\n${inv.help}`);
  return EXIT_FAILURE;
}
