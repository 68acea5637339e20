/**
 * veritree's kernel verbs against a real fs-verity kernel: boots Debian's 6.12 kernel under qemu
 * ONCE (test/kernel/vm.mjs), runs test/kernel/guest-checks.mjs inside it, and asserts on the
 * `@@VT` result lines it prints. Skipped, with the reason printed, where qemu or the kernel
 * package cannot be had (no apt, offline, not x86_64). A guest kernel crash (oops, panic, BUG) is
 * reported as such, with its first console lines; the harness's own logic is unit-tested, without
 * a VM, in test/kernel/vm-harness.test.ts.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestTrouble as describeTrouble, type GuestRun } from './helpers/guest.js';
// @ts-expect-error plain JS harness, shared with bench/ and CI scripts
import * as vm from './kernel/vm.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BULK = 2000;

/** Checks the guest script must report, each must pass. */
const EXPECTED = [
  'wasm-simd-in-guest',
  'enable-sizes',
  'measure-equals-userspace-sizes',
  'enable-measure-sha512',
  'enable-measure-sha256-salt',
  'enable-measure-sha512-salt',
  'enable-measure-sha256-block1024',
  'read-metadata-equals-userspace',
  'empty-file-has-no-tree',
  'eexist-already-enabled',
  'etxtbsy-open-for-writing',
  'etxtbsy-copy-replaces-file',
  'enodata-measure-non-verity',
  'tmpfs-not-supported',
  'einval-block-size-above-page',
  'bad-signature',
  'directory-and-special-files',
  'verity-file-is-read-only',
  'xattr-round-trip-ext4',
  `bulk-enable-r-${BULK}`,
  'verify-cas-measure-modes',
  'cli-process-exit-codes',
];

interface CheckLine {
  check?: string;
  ok?: boolean;
  error?: string;
  done?: boolean;
  start?: boolean;
  passed?: number;
  failed?: number;
  [k: string]: unknown;
}

let skipReason: string | undefined;
let results = new Map<string, CheckLine>();
let startLine: CheckLine | undefined;
let doneLine: CheckLine | undefined;
let guest: GuestRun | undefined;

const guestTrouble = (): string => describeTrouble(guest);

/** Compiled JS the guest runs: build/dist when it is complete and fresh, else a private build. */
function compiledDist(): string {
  const needed = ['cli/main.js', 'cli/enable.js', 'cli/measure.js', 'cli/dump-metadata.js', 'kernel/index.js'];
  const sources = [
    ...fs.readdirSync(path.join(ROOT, 'src/kernel')).map((f) => path.join(ROOT, 'src/kernel', f)),
    ...['main', 'enable', 'measure', 'dump-metadata', 'args', 'io'].map((f) => path.join(ROOT, 'src/cli', `${f}.ts`)),
  ];
  const newestSource = Math.max(...sources.filter((f) => fs.existsSync(f)).map((f) => fs.statSync(f).mtimeMs));
  const fresh = (dist: string) =>
    needed.every((f) => fs.existsSync(path.join(dist, f)) && fs.statSync(path.join(dist, f)).mtimeMs >= newestSource);
  const main = path.join(ROOT, 'build/dist');
  if (fresh(main)) return main;
  // Other work in progress may keep the whole tree from type-checking; tsc still emits every file.
  const own = path.join(ROOT, 'build/kvm-dist');
  spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.json'), '--outDir', own], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (!fresh(own)) throw new Error(`could not compile veritree for the guest into ${own}`);
  return own;
}

beforeAll(async () => {
  let prepared: unknown;
  try {
    prepared = vm.prepare();
  } catch (err) {
    if (err instanceof vm.Unavailable) {
      skipReason = `real-kernel tests skipped: ${(err as Error).message}`;
      console.warn(skipReason);
      return;
    }
    throw err;
  }
  const dist = compiledDist();
  const lines: CheckLine[] = [];
  guest = await vm.runInGuest(`node test/kernel/guest-checks.mjs`, {
    prepared,
    cwd: ROOT,
    env: { VT_DIST: dist, VT_BULK: String(BULK) },
    timeoutMs: 170_000,
    onLine: (l: string) => {
      const at = l.indexOf('@@VT ');
      if (at < 0) return;
      // A kernel message can land in the middle of a result line: such a line is lost, not fatal.
      try {
        lines.push(JSON.parse(l.slice(at + 5)) as CheckLine);
      } catch {}
    },
  });
  startLine = lines.find((l) => l.start);
  doneLine = lines.find((l) => l.done);
  results = new Map(lines.filter((l) => l.check).map((l) => [l.check!, l]));
}, 480_000);

afterAll(() => {
  if (skipReason || !guest) return;
  const summary = [...results.values()].map((r) => `${r.ok ? 'ok  ' : 'FAIL'} ${r.check} (${r.ms} ms)`).join('\n');
  const trouble = guest.outcome === 'clean' ? '' : `\n${vm.describeOutcome(guest)}`;
  console.log(`guest: ${JSON.stringify(startLine)}\n${summary}\n${JSON.stringify(doneLine)}; VM ${guest.seconds.toFixed(1)} s (${guest.outcome}; boots ${guest.attempts}, queued ${guest.lockWaitSeconds?.toFixed(1)} s)${trouble}`);
});

describe('fs-verity kernel (qemu guest, Linux 6.12)', () => {
  it('guest booted, ran every check and exited 0', (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    // A kernel crash (the guest stopped on its console text) or a timeout is said as such, with
    // the crash's first lines, even when every check had already reported.
    if (guest?.outcome !== 'clean' || !doneLine) throw new Error(guestTrouble());
    expect(guest?.timedOut).toBe(false);
    expect(doneLine.failed).toBe(0);
    expect(guest?.rc).toBe(0);
  });

  for (const name of EXPECTED) {
    it(name, (ctx) => {
      if (skipReason) ctx.skip(skipReason);
      const r = results.get(name);
      if (!r) throw new Error(`guest reported no result for ${name}${doneLine ? '' : `: ${guestTrouble()}`}`);
      if (!r.ok) throw new Error(`${name} failed in the guest:\n${r.error}`);
      expect(r.ok).toBe(true);
    });
  }

  it('measure was compared with fsverity digest and with veritree digest', (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    const r = results.get('measure-equals-userspace-sizes');
    expect(r?.comparedWith).toContain('fsverity digest');
    if (startLine?.digestCli) expect(r?.comparedWith).toContain('veritree digest');
    if (startLine?.engine) expect(r?.comparedWith).toContain('digestFile');
  });
});
