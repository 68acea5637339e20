/**
 * The one verb runner. A verb is a declaration — name, help text, options, how parsed options
 * become settings, and the work — and this runs it the same way for all:
 *
 * - parsing (`node:util` parseArgs, strict), `-h/--help`, and the usage error line:
 *   `veritree VERB: reason` + `Run 'veritree VERB --help' for usage.`, exit 2;
 * - a VeritreeError escaping the work: one line `veritree VERB: CODE: PATH: reason`, exit 2
 *   (problems found are the verb's own report and exit 1);
 * - SIGINT for interruptible verbs: the first one aborts `ctx.signal` (the verb finishes what is
 *   in flight and reports it, marked interrupted, exit 2), a second exits at once;
 * - the worker pool's lifetime: closed when the work ends, however it ends.
 */
import { closeSharedPoolIfOpen } from '../pool/shared.js';
import { asVeritreeError, VeritreeError } from '../report/errors.js';
import { escapeText } from '../report/text.js';
import { parseVerbArgs, type OptionsConfig, type ParsedVerbArgs } from './args.js';
import { EXIT_FAILURE, EXIT_OK, write, type CliIO, type Verb } from './io.js';

export interface VerbContext {
  readonly io: CliIO;
  /** Aborted by the first SIGINT (interruptible verbs). */
  readonly signal: AbortSignal;
  /** Writes `err` as this verb's one error line; returns exit status 2. */
  fail(err: unknown): Promise<number>;
}

export interface VerbSpec<O extends OptionsConfig, S> {
  readonly name: string;
  readonly help: string;
  readonly options: O;
  /** Parsed arguments → the verb's settings; throws a usage error for bad ones (unless `parse`). */
  readonly settings?: (parsed: ParsedVerbArgs<O>, io: CliIO) => S | Promise<S>;
  /**
   * A verb whose arguments follow another tool's grammar (`image` reads composefs-info's) parses
   * them itself: settings, or 'help'. Everything else about running it stays the runner's.
   */
  readonly parse?: (args: string[]) => S | 'help';
  /** The work: returns the exit status (0 ok, 1 problems found, 2 failure). */
  readonly run: (settings: S, ctx: VerbContext) => Promise<number>;
  /** SIGINT stops the work gracefully (said on stderr with `interruptNotice`); may depend on the settings. */
  readonly interruptible?: boolean | ((settings: S) => boolean);
  readonly interruptNotice?: string;
  /** The work uses the shared worker pool: it is closed when the work ends. */
  readonly usesPool?: boolean;
}

/** The error line of `verb` for `err` (usage errors point to --help). */
export function errorLine(verb: string, err: unknown): string {
  const e = asVeritreeError(err);
  if (e.code === 'usage') return `veritree ${verb}: ${escapeText(e.describe())}\nRun 'veritree ${verb} --help' for usage.\n`;
  return `veritree ${verb}: ${e.code}: ${escapeText(e.describe())}\n`;
}

export function defineVerb<O extends OptionsConfig & { help: { type: 'boolean'; short?: string } }, S>(spec: VerbSpec<O, S>): Verb {
  return async (args, io) => {
    const fail = async (err: unknown): Promise<number> => {
      await write(io.stderr, errorLine(spec.name, err));
      return EXIT_FAILURE;
    };
    let settings: S;
    try {
      if (spec.parse !== undefined) {
        const own = spec.parse(args);
        if (own === 'help') {
          await write(io.stdout, spec.help);
          return EXIT_OK;
        }
        settings = own;
      } else {
        const parsed = parseVerbArgs(args, spec.options);
        if ((parsed.values as { help?: boolean }).help === true) {
          await write(io.stdout, spec.help);
          return EXIT_OK;
        }
        if (spec.settings === undefined) throw new TypeError(`verb ${spec.name} declares neither settings nor parse`);
        settings = await spec.settings(parsed, io);
      }
    } catch (err) {
      if (err instanceof TypeError || err instanceof RangeError) return fail(new VeritreeError('usage', err.message));
      return fail(err);
    }
    const stop = new AbortController();
    const onSigint = () => {
      if (stop.signal.aborted) process.exit(EXIT_FAILURE);
      stop.abort();
      if (spec.interruptNotice) io.stderr.write(`${io.isTTY ? '\r\x1b[K' : ''}${spec.name}: ${spec.interruptNotice}\n`);
    };
    const interruptible = typeof spec.interruptible === 'function' ? spec.interruptible(settings) : spec.interruptible === true;
    if (interruptible) process.on('SIGINT', onSigint);
    try {
      return await spec.run(settings, { io, signal: stop.signal, fail });
    } catch (err) {
      return fail(err);
    } finally {
      if (interruptible) process.off('SIGINT', onSigint);
      if (spec.usesPool) await closeSharedPoolIfOpen();
    }
  };
}
