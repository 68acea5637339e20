/**
 * Command-line operands → the files a bulk kernel verb works on. Without `-r` each operand is
 * taken as given (symlinks followed, kind checked after opening, as fsverity does); with `-r`
 * directories are walked without following symlinks (./tree.ts).
 */
import { setMaxInFlight } from '../kernel/async.js';
import { walkTree, type WalkEntry } from '../kernel/tree.js';
import { usageError } from '../report/errors.js';
import { parseIntOption } from './args.js';

/** The operand and `--jobs` checks enable and measure share: files or `-r` dirs, kernel calls in flight. */
export function bulkOperands(values: { recursive?: boolean | undefined; jobs?: string | undefined }, positionals: string[]): string[] {
  if (positionals.length === 0) throw usageError(values.recursive ? 'no directory given' : 'no file given');
  const jobs = parseIntOption('jobs', values.jobs);
  if (jobs !== undefined) {
    if (jobs < 1) throw usageError('--jobs must be at least 1');
    setMaxInFlight(jobs);
  }
  return positionals;
}

export async function* expandOperands(operands: readonly string[], recursive: boolean): AsyncGenerator<WalkEntry> {
  for (const op of operands) {
    if (recursive) yield* walkTree(op);
    else yield { path: op, kind: 'file' };
  }
}
