/**
 * A hostile neighbour for the race tests: swaps the directory TARGET with a symlink to OUTSIDE
 * and back in a tight loop, in its own process (so on its own core), until the file STOP exists
 * or MAX_SWAPS swaps or MAX_MS milliseconds have passed. Each state is held for a few
 * microseconds. The running count is written to COUNT every 64 swaps; on exit TARGET is the real
 * directory again and the final count is printed.
 *
 *   node swap-dir.mjs TARGET OUTSIDE STOP COUNT MAX_SWAPS MAX_MS
 */
import fs from 'node:fs';

const [target, outside, stop, count, maxSwaps, maxMs] = process.argv.slice(2);
const hidden = `${target}.real`;
const end = Date.now() + Number(maxMs);
const limit = Number(maxSwaps);
const hold = () => {
  const until = process.hrtime.bigint() + 20_000n; // 20 µs
  while (process.hrtime.bigint() < until);
};
let swaps = 0;
try {
  while (swaps < limit) {
    if (swaps % 64 === 0) {
      if (fs.existsSync(stop) || Date.now() > end) break;
      fs.writeFileSync(count, String(swaps));
    }
    fs.renameSync(target, hidden);
    fs.symlinkSync(outside, target);
    hold();
    fs.unlinkSync(target);
    fs.renameSync(hidden, target);
    swaps++;
    hold();
  }
} finally {
  if (fs.existsSync(hidden)) {
    try {
      fs.unlinkSync(target);
    } catch {
      /* already the directory or gone */
    }
    fs.renameSync(hidden, target);
  }
}
process.stdout.write(`${swaps}\n`);
