/**
 * veritree's kernel verbs against a real fs-verity kernel: boots Debian's 6.12 kernel under qemu
 * ONCE (test/kernel/vm.mjs), runs test/kernel/guest-checks.mjs inside it, and asserts on the
 * `@@VT` result lines it prints. Skipped, with the reason printed, where qemu or the kernel
 * package cannot be had (no apt, offline, not x86_64).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JS harness, shared with bench/ and CI scripts
import * as vm from './kernel/vm.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BULK = 2000;

/** Checks the guest script must report, each must pass. */
const EXPECTED = [
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
let guest: { rc: number | null; timedOut: boolean; seconds: number; output: string } | undefined;

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
      if (at >= 0) lines.push(JSON.parse(l.slice(at + 5)) as CheckLine);
    },
  });
  startLine = lines.find((l) => l.start);
  doneLine = lines.find((l) => l.done);
  results = new Map(lines.filter((l) => l.check).map((l) => [l.check!, l]));
}, 480_000);

afterAll(() => {
  if (skipReason || !guest) return;
  const summary = [...results.values()].map((r) => `${r.ok ? 'ok  ' : 'FAIL'} ${r.check} (${r.ms} ms)`).join('\n');
  console.log(`guest: ${JSON.stringify(startLine)}\n${summary}\n${JSON.stringify(doneLine)}; VM ${guest.seconds.toFixed(1)} s`);
});

describe('fs-verity kernel (qemu guest, Linux 6.12)', () => {
  it('guest booted, ran every check and exited 0', (ctx) => {
    if (skipReason) ctx.skip();
    if (!doneLine) throw new Error(`guest did not finish (rc ${guest?.rc}, timed out: ${guest?.timedOut}):\n${guest?.output.slice(-4000)}`);
    expect(guest?.timedOut).toBe(false);
    expect(doneLine.failed).toBe(0);
    expect(guest?.rc).toBe(0);
  });

  for (const name of EXPECTED) {
    it(name, (ctx) => {
      if (skipReason) ctx.skip();
      const r = results.get(name);
      if (!r) throw new Error(`guest reported no result for ${name}${doneLine ? '' : ' (guest did not finish)'}`);
      if (!r.ok) throw new Error(`${name} failed in the guest:\n${r.error}`);
      expect(r.ok).toBe(true);
    });
  }

  it('measure was compared with fsverity digest and with veritree digest', (ctx) => {
    if (skipReason) ctx.skip();
    const r = results.get('measure-equals-userspace-sizes');
    expect(r?.comparedWith).toContain('fsverity digest');
    if (startLine?.digestCli) expect(r?.comparedWith).toContain('veritree digest');
    if (startLine?.engine) expect(r?.comparedWith).toContain('digestFile');
  });
});

describe('vm harness: a guest kernel that dies while booting is booted again', () => {
  const bootPanic = [
    '[    0.961262] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI',
    '[    0.961632] RIP: 0010:sched_clock_cpu+0x9/0x190',
    '[    0.963280] Kernel panic - not syncing: Fatal exception in interrupt',
    '',
  ].join('\n');
  it('recognises a panic before anything of the test ran', () => {
    expect(vm.diedBooting({ rc: null, timedOut: false, output: bootPanic })).toBe(true);
  });
  it('never retries a guest that ran: output of its own, an exit status, or a timeout', () => {
    expect(vm.diedBooting({ rc: null, timedOut: false, output: `guest: {"start":true}\n${bootPanic}` })).toBe(false);
    expect(vm.diedBooting({ rc: null, timedOut: false, output: `@@VM insmod loop failed\n${bootPanic}` })).toBe(false);
    expect(vm.diedBooting({ rc: 1, timedOut: false, output: bootPanic })).toBe(false);
    expect(vm.diedBooting({ rc: null, timedOut: true, output: bootPanic })).toBe(false);
    expect(vm.diedBooting({ rc: null, timedOut: false, output: '' })).toBe(false);
  });
});
