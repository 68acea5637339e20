/**
 * The upstream-tool fixtures bundled in test/fixtures/composefs-small (provenance: its README and
 * test/fixtures/README.md), and helpers that extract the fixture tarballs once.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export const FIXTURES_DIR = path.resolve(here, '../fixtures/composefs-small');

// The fixtures are part of the repository: a missing one is a broken checkout, not a skip.
if (!fs.existsSync(path.join(FIXTURES_DIR, 'fsverity-variants.tsv'))) {
  throw new Error(`test fixtures missing at ${FIXTURES_DIR}: the checkout is incomplete`);
}

export function fixture(name: string): string {
  return path.join(FIXTURES_DIR, name);
}

let srcDir: string | undefined;
/** Extracts the regular files of small-src.tar (no devices: works without root) and returns small-src/. */
export function extractSmallSrc(): string {
  if (srcDir) return srcDir;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-small-src-'));
  execFileSync('tar', ['-xf', fixture('small-src.tar'), '-C', dir, '--exclude=small-src/special'], { stdio: 'pipe' });
  srcDir = path.join(dir, 'small-src');
  return srcDir;
}

/** Undoes bash `printf %q` quoting as used in small-src.fsverity-sha256.tsv. */
export function unquoteBash(q: string): string {
  if (q.startsWith("$'") && q.endsWith("'")) {
    return q.slice(2, -1).replace(/\\(n|t|\\|'|x[0-9a-fA-F]{2})/g, (_, e: string) =>
      e === 'n' ? '\n' : e === 't' ? '\t' : e === '\\' ? '\\' : e === "'" ? "'" : String.fromCharCode(parseInt(e.slice(1), 16)));
  }
  return q.replace(/\\(.)/g, '$1');
}

export function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}
