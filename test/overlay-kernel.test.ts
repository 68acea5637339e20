/**
 * `veritree check-image` against the real overlayfs `verity=` code: boots Debian's 6.12 kernel
 * under qemu (test/kernel/vm.mjs `runInGuest`) and runs test/overlay-kernel/guest-check.mjs in
 * it, which mounts the fixture image over an fs-verity object store, tampers with objects, and
 * compares the files whose open() fails with the files check-image flags; and mounts a plain
 * directory carrying every metacopy/redirect case as the metadata layer and compares with
 * check-overlay. Skipped, with the reason
 * printed, where qemu or the kernel package cannot be had. A guest kernel crash (oops, panic, BUG)
 * is reported as such, with its first console lines (test/kernel/vm.mjs `classifyConsole`).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { guestTrouble as describeTrouble, type GuestRun } from './helpers/guest.js';
// @ts-expect-error plain JS harness shared with the kernel tests
import * as vm from './kernel/vm.mjs';
import { FIXTURES_DIR } from './helpers/fixtures.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface PhaseLine {
  phase?: string;
  verity?: string;
  ok?: boolean;
  agree?: boolean;
  opened?: number;
  failing?: Record<string, string>;
  flagged?: Record<string, string[]>;
  problems?: string[];
  error?: string;
  start?: boolean;
  kernel?: string;
  done?: boolean;
  failedPhases?: number;
}

let skipReason: string | undefined;
let lines: PhaseLine[] = [];
let guest: GuestRun | undefined;

const guestTrouble = (): string => describeTrouble(guest);

/** Compiled JS for the guest: build/dist when it has fresh check-image code, else a private build. */
function compiledDist(): string {
  const needed = ['cli/main.js', 'cli/check-image.js', 'overlay/validate.js', 'erofs/index.js'];
  const sources = [
    ...fs.readdirSync(path.join(ROOT, 'src/overlay')).map((f) => path.join(ROOT, 'src/overlay', f)),
    path.join(ROOT, 'src/cli/check-image.ts'),
  ];
  const newest = Math.max(...sources.map((f) => fs.statSync(f).mtimeMs));
  const fresh = (dist: string) => needed.every((f) => fs.existsSync(path.join(dist, f)) && fs.statSync(path.join(dist, f)).mtimeMs >= newest);
  const main = path.join(ROOT, 'build/dist');
  if (fresh(main)) return main;
  const own = path.join(ROOT, 'build/ovk-dist');
  // Work in progress elsewhere may fail type-checking; tsc still emits every file.
  spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.json'), '--outDir', own], { cwd: ROOT });
  if (!fresh(own)) throw new Error(`could not compile veritree for the guest into ${own}`);
  // build/ovk-dist sits beside build/*.wasm, where the compiled wasm backend looks for them.
  return own;
}

beforeAll(async () => {
  let prepared: unknown;
  try {
    prepared = vm.prepare();
  } catch (err) {
    if (err instanceof vm.Unavailable) {
      skipReason = `overlay kernel test skipped: ${(err as Error).message}`;
      console.warn(skipReason);
      return;
    }
    throw err;
  }
  const dist = compiledDist();
  const collected: PhaseLine[] = [];
  guest = await vm.runInGuest('node test/overlay-kernel/guest-check.mjs', {
    prepared,
    cwd: ROOT,
    env: { VT_DIST: dist, VT_FIXTURES: FIXTURES_DIR },
    shares: [FIXTURES_DIR],
    timeoutMs: 200_000,
    onLine: (l: string) => {
      const at = l.indexOf('@@OVK ');
      if (at < 0) return;
      // A kernel message can land in the middle of a result line: such a line is lost, not fatal.
      try {
        collected.push(JSON.parse(l.slice(at + 6)) as PhaseLine);
      } catch {}
    },
  });
  lines = collected;
  const phases = lines.filter((l) => l.phase);
  console.log(
    `overlay guest (${lines.find((l) => l.start)?.kernel ?? '?'}), VM ${guest!.seconds.toFixed(1)} s (${guest!.outcome}; boots ${guest!.attempts}, queued ${guest!.lockWaitSeconds?.toFixed(1)} s):\n` +
      (guest!.outcome === 'clean' ? '' : `${vm.describeOutcome(guest)}\n`) +
      phases.map((p) => `${p.ok ? 'ok  ' : 'FAIL'} ${p.phase} verity=${p.verity}: open() failed ${JSON.stringify(p.failing)}; flagged ${JSON.stringify(p.flagged)}${p.problems?.length ? `; ${p.problems.join('; ')}` : ''}${p.error ? `\n${p.error}` : ''}`).join('\n'),
  );
}, 480_000);

describe('check-image agrees with overlayfs verity= (qemu guest, Linux 6.12)', () => {
  it('the guest ran every phase and exited 0', (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    const done = lines.find((l) => l.done);
    // A kernel crash (the guest stopped on its console text) or a timeout is said as such, with
    // the crash's first lines, even when every phase had already reported.
    if (guest?.outcome !== 'clean' || !done) throw new Error(guestTrouble());
    expect(lines.find((l) => l.phase === 'setup')).toBeUndefined();
    expect(done.failedPhases).toBe(0);
    expect(guest?.rc).toBe(0);
  });

  for (const [phase, verity] of [['clean', 'require'], ['clean', 'on'], ['xattrs', 'require'], ['xattrs', 'on'], ['tampered', 'require'], ['tampered', 'on']] as const) {
    it(`${phase}, verity=${verity}: flagged files = files whose open() fails`, (ctx) => {
      if (skipReason) ctx.skip(skipReason);
      const p = lines.find((l) => l.phase === phase && l.verity === verity);
      if (!p) throw new Error(`no result for ${phase}/${verity}${lines.some((l) => l.done) ? '' : `: ${guestTrouble()}`}`);
      expect(Object.keys(p.flagged ?? {}).sort()).toEqual(Object.keys(p.failing ?? {}).sort());
      expect(p.problems).toEqual([]);
      if (phase === 'clean') expect(p.failing).toEqual({});
      if (phase === 'tampered') expect(Object.keys(p.failing ?? {}).length).toBe(8);
      // Every metacopy/redirect case the kernel distinguishes (guest-check.mjs `xattrPhase`).
      if (phase === 'xattrs') expect(Object.keys(p.failing ?? {}).length).toBeGreaterThanOrEqual(verity === 'require' ? 20 : 15);
    });
  }
});
