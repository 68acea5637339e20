// Helpers of bench/scale.mjs: running one whole process with its output sent to /dev/null (wall
// time, CPU time, peak RSS), host configurations (environments), sizes, statistics and markdown
// cells. Kept apart so scale.mjs reads as the list of what is measured.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

export const GNU_TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

// Without GNU time: node children report their own peak RSS and CPU time at exit (preloaded module,
// as in bench/whole-file.mjs); other programs get no figures (n/a).
const RSS_PRELOAD = `data:text/javascript,${encodeURIComponent(
  `import fs from 'node:fs'; process.on('exit', () => { const u = process.resourceUsage(); if (process.env.VERITREE_RSS_FILE) fs.writeFileSync(process.env.VERITREE_RSS_FILE, [u.maxRSS, u.userCPUTime / 1e6, u.systemCPUTime / 1e6].join(' ')); });`,
)}`;

/**
 * Runs whole processes, spawn to exit. stdout goes to /dev/null unless `capture` (the untimed
 * checks), so neither tool pays for a pipe the other does not. Peak RSS (kB) and user+system CPU
 * (ms) come from GNU time (`-f '%M %U %S'`; for `sh -c` pipelines that is the largest process and
 * the CPU of all of them).
 */
export class Runner {
  #scratch;
  #devNull;

  constructor() {
    this.#scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-scale-run-'));
    this.#devNull = fs.openSync('/dev/null', 'w');
    process.once('exit', () => fs.rmSync(this.#scratch, { recursive: true, force: true }));
  }

  /** @returns {{ ms: number, cpuMs?: number, rssKB?: number, stdout?: string }} */
  run(argv, env, { capture = false } = {}) {
    const rssFile = path.join(this.#scratch, 'rusage');
    fs.rmSync(rssFile, { force: true });
    let cmd = argv[0];
    let rest = argv.slice(1);
    let childEnv = env;
    if (GNU_TIME) {
      rest = ['-f', '%M %U %S', '-o', rssFile, cmd, ...rest];
      cmd = GNU_TIME;
    } else if (cmd === process.execPath) {
      rest = ['--import', RSS_PRELOAD, ...rest];
      childEnv = { ...env, VERITREE_RSS_FILE: rssFile };
    }
    const stdio = ['ignore', capture ? 'pipe' : this.#devNull, 'pipe'];
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, rest, { env: childEnv, stdio, maxBuffer: 1 << 30, encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status ?? r.signal}: ${String(r.stderr).slice(0, 2000)}`);
    let rssKB;
    let cpuMs;
    try {
      const [m, user, sys] = fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
      if ([m, user, sys].every(Number.isFinite)) {
        rssKB = m;
        cpuMs = (user + sys) * 1e3;
      }
    } catch {
      /* no figures */
    }
    return { ms, cpuMs, rssKB, stdout: capture ? r.stdout : undefined };
  }
}

/**
 * The host configurations: every process of a run (veritree, fsverity, the floor, node -e 0,
 * veritree bench) gets the same environment. `masked` clears the SHA extensions bit (CPUID leaf 7
 * EBX bit 29) from OpenSSL's capability vector, in Node's bundled OpenSSL and in the system
 * libcrypto fsverity links alike. VERITREE_BACKEND is removed so `auto` means auto.
 */
export function configEnvs(names, mask) {
  const base = { ...process.env };
  delete base.OPENSSL_ia32cap;
  delete base.VERITREE_BACKEND;
  const all = { native: base, masked: { ...base, OPENSSL_ia32cap: mask } };
  return Object.fromEntries(
    names.map((n) => {
      if (!all[n]) throw new Error(`unknown configuration ${n} (native, masked)`);
      return [n, all[n]];
    }),
  );
}

/**
 * '2.5GB' → 2.5e9 and '30MB' → 3e7 (kB/MB/GB/TB: powers of 10); '4g', '4GiB', '64m', '64MiB' →
 * powers of 2 (k/m/g/t alone or with iB, as bench/gen-tree.mjs reads them); a bare number is bytes.
 */
export function parseBytes(text) {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*(?:([kmgt])(i?)(b?))?$/i.exec(String(text).trim());
  if (!m) throw new Error(`bad size ${JSON.stringify(text)} (e.g. 2.5GB, 30MB, 4GiB, 64m)`);
  const [, num, unit, i, b] = m;
  if (!unit) return Math.round(Number(num));
  const power = 'kmgt'.indexOf(unit.toLowerCase()) + 1;
  const decimal = b !== '' && i === '';
  return Math.round(Number(num) * (decimal ? 1000 ** power : 1024 ** power));
}

export const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Markdown table cells: a literal | must be escaped, even inside code spans. */
export const cell = (text) => String(text).replace(/\|/g, '\\|');
export const code = (text) => `\`${cell(text)}\``;
export const secs = (ms) => (Number.isFinite(ms) ? `${(ms / 1e3).toFixed(3)} s` : 'n/a');
export const millis = (ms) => (Number.isFinite(ms) ? `${ms.toFixed(1)} ms` : 'n/a');
export const times = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '—');
export const int = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a');
export const mb = (kB) => (Number.isFinite(kB) ? `${(kB / 1024).toFixed(1)} MB` : 'n/a');

/** Shell quoting for `sh -c` scripts. */
export const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
export const sh = (script) => ['/bin/sh', '-c', script];

/** First line of `cmd --version`, or undefined. */
export function versionOf(cmd, flag = '--version') {
  const r = spawnSync(cmd, [flag], { encoding: 'utf8' });
  return r.status === 0 ? (r.stdout || r.stderr).split('\n')[0].trim() : undefined;
}

/** Whether /proc/cpuinfo lists the SHA extensions (x86 `sha_ni`); undefined off Linux. */
export function cpuHasShaNi() {
  try {
    return /\bsha_ni\b/.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return undefined;
  }
}

/** Writes `text` to `file` via a temporary sibling and a rename. */
export function writeAtomic(file, text) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}
