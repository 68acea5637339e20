/**
 * The shared body of `veritree check-image` and `veritree check-overlay`: options, running the
 * check, reporting, exit status (0 clean, 1 problems, 2 unusable input or usage).
 */
import { EXIT_OK, EXIT_PROBLEMS, type Verb } from './io.js';
import { defineVerb } from './verb.js';
import { parseBackendChoice, type BackendChoice } from '../backends/index.js';
import { sharedPool } from '../pool/pool.js';
import { usageError } from '../report/errors.js';
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

interface Settings {
  readonly lower: string;
  readonly layers: string[];
  readonly verity: VerityMode;
  readonly prefix: XattrPrefixName | 'auto';
  readonly measure: boolean;
  readonly threads: number | undefined;
  readonly backend: BackendChoice | undefined;
  readonly format: CheckReportFormat;
}

/** `check-image` and `check-overlay`: one verb shape, two sources of lower-layer entries. */
export function checkVerb(inv: CheckInvocation): Verb {
  const options = { ...CHECK_OPTIONS, [inv.layerOption]: { type: 'string', multiple: true } } as typeof CHECK_OPTIONS & Record<typeof inv.layerOption, { type: 'string'; multiple: true }>;
  return defineVerb({
    name: inv.verb,
    help: inv.help,
    options,
    usesPool: true,
    settings: ({ values: v, positionals }): Settings => {
      if (positionals.length !== 1) throw usageError(`expected exactly one ${inv.sourceName}, got ${positionals.length}`);
      const layers = (v as Record<string, unknown>)[inv.layerOption] as string[] | undefined;
      if (layers === undefined || layers.length === 0) throw usageError(`--${inv.layerOption} DIR is required`);
      const verity = (v.verity ?? 'on') as VerityMode;
      if (!VERITY_MODES.includes(verity)) throw usageError(`--verity must be on or require, got ${JSON.stringify(v.verity)}`);
      const prefix = (v['xattr-prefix'] ?? 'auto') as XattrPrefixName | 'auto';
      if (prefix !== 'auto' && !Object.hasOwn(XATTR_PREFIXES, prefix)) throw usageError(`--xattr-prefix must be trusted, user or auto, got ${JSON.stringify(prefix)}`);
      if (v.json === true && v.ndjson === true) throw usageError('--json and --ndjson are exclusive');
      if (v.threads !== undefined && !/^[1-9][0-9]*$/.test(v.threads)) throw usageError(`--threads must be a positive integer, got ${JSON.stringify(v.threads)}`);
      return {
        lower: positionals[0]!, layers, verity, prefix, measure: v['no-measure'] !== true,
        threads: v.threads !== undefined ? Number(v.threads) : undefined,
        backend: v.backend !== undefined ? parseBackendChoice(v.backend) : undefined,
        format: v.json === true ? 'json' : v.ndjson === true ? 'ndjson' : 'text',
      };
    },
    run: async (s, { io }) => {
      let dataLayers: DataLayer[] = [];
      try {
        // Workers boot (~50 ms) while the image is opened and parsed, not after.
        sharedPool(s.threads);
        dataLayers = await openDataLayers(s.layers);
        const entries = await inv.entries(s.lower);
        const result = await checkLowerLayer(entries, {
          dataLayers, verity: s.verity, xattrPrefix: s.prefix, measure: s.measure,
          ...(s.threads !== undefined ? { threads: s.threads } : {}),
          ...(s.backend !== undefined ? { backend: s.backend } : {}),
        });
        await writeCheckReport(io.stdout, s.format, result, { [inv.sourceName]: s.lower, dataLayers: s.layers });
        return result.summary.problems > 0 ? EXIT_PROBLEMS : EXIT_OK;
      } finally {
        closeDataLayers(dataLayers);
      }
    },
  });
}
