/**
 * Command-line operands → the files a bulk kernel verb works on. Without `-r` each operand is
 * taken as given (symlinks followed, kind checked after opening, as fsverity does); with `-r`
 * directories are walked without following symlinks (./tree.ts).
 */
import { walkTree, type WalkEntry } from '../kernel/tree.js';

export async function* expandOperands(operands: readonly string[], recursive: boolean): AsyncGenerator<WalkEntry> {
  for (const op of operands) {
    if (recursive) yield* walkTree(op);
    else yield { path: op, kind: 'file' };
  }
}
