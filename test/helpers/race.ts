/**
 * Runs a verb again and again while test/helpers/swap-dir.mjs swaps a directory of the tree for a
 * symlink to somewhere outside it, on the other core: at least `runs` times, and until at least
 * `minSwaps` swaps have happened. Returns what each run produced and how many swaps there were.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SWAPPER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'swap-dir.mjs');

export async function whileSwapping<T>(target: string, outside: string, runs: number, minSwaps: number, run: (i: number) => Promise<T>): Promise<{ results: T[]; swaps: number }> {
  const stop = `${target}.stop`;
  const count = `${target}.count`;
  fs.rmSync(stop, { force: true });
  fs.writeFileSync(count, '0');
  const swapsSoFar = () => Number(fs.readFileSync(count, 'utf8')) || 0;
  const child = spawn(process.execPath, [SWAPPER, target, outside, stop, count, '1000000', '120000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  const results: T[] = [];
  try {
    // Let the swapper get going before the first run.
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < runs || (swapsSoFar() < minSwaps && i < runs * 20); i++) results.push(await run(i));
  } finally {
    fs.writeFileSync(stop, '');
  }
  const code = await exited;
  fs.rmSync(stop, { force: true });
  fs.rmSync(count, { force: true });
  if (code !== 0) throw new Error(`swapper exited with ${code}`);
  const swaps = Number(out.trim());
  if (!(swaps >= minSwaps)) throw new Error(`only ${swaps} swaps happened during ${runs} runs (wanted ≥ ${minSwaps})`);
  return { results, swaps };
}
