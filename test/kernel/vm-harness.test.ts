/**
 * The qemu harness's own logic (test/kernel/vm.mjs), without a VM: how the console output of a
 * guest run is classified (a kernel that died while booting, a kernel crash during the test, a
 * timeout, a clean exit), which runs are booted again, and that a guest whose kernel crashed and
 * then hung is stopped on the crash text instead of at its timeout (a shell script stands in for
 * qemu).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JS harness, shared with bench/ and CI scripts
import * as vm from './vm.mjs';

/** The int3 oops the stock kernel now and then hits under TCG while patching itself at boot. */
const bootPanic = [
  '[    0.961262] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI',
  '[    0.961632] RIP: 0010:sched_clock_cpu+0x9/0x190',
  '[    0.963280] Kernel panic - not syncing: Fatal exception in interrupt',
  '',
].join('\n');

/** The filed issue: TCG 7.2 misexecuting a VEX vmovq in V8's code, mid-test; the guest then hung. */
const userOops = [
  '[   41.207316] BUG: unable to handle page fault for address: 00007f2c8d3fe000',
  '[   41.207719] #PF: supervisor read access in user mode',
  '[   41.207854] #PF: error_code(0x0000) - not-present page',
  '[   41.208017] PGD 4a9e067 P4D 4a9e067 PUD 4a9f067 PMD 0 ',
  '[   41.208297] Oops: 0000 [#1] PREEMPT SMP NOPTI',
  '[   41.208511] CPU: 1 UID: 0 PID: 231 Comm: node Not tainted 6.12.117+deb12-amd64 #1  Debian 6.12.117-1~deb12u1',
  '[   41.208802] Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 0.1 11/11/2019',
  '[   41.209013] RIP: 0033:0x7f2c9a61c0d4',
  '[   41.209166] Code: 4c 8b 55 e8 4d 8b 52 07 c4 c1 f9 6e ca c5 f3 58 c8 c4 e1 f9 7e c8 <48> 89 45 e0',
  '[   41.209511] RSP: 002b:00007ffd1e2c4a90 EFLAGS: 00010246',
  '[   41.209701] RAX: 0000000000000000 RBX: 00007f2c8d3fe000 RCX: 0000000000000001',
  '[   41.209930] RDX: 0000000000000000 RSI: 00007ffd1e2c4b00 RDI: 0000000000000002',
  '[   41.210148] RBP: 00007ffd1e2c4ab8 R08: 0000000000000000 R09: 0000000000000000',
  '[   41.210366] R10: 00003d2c08041d41 R11: 0000000000000246 R12: 00007f2c8d3fe000',
  '[   41.210581] R13: 0000000000000000 R14: 00007f2c8d3fe000 R15: 0000000000000000',
  '[   41.210797] FS:  00007f2c9b8e0780(0000) GS:ffff9a1e3bd00000(0000) knlGS:0000000000000000',
  '[   41.211032] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033',
  '[   41.211187] CR2: 00007f2c8d3fe000 CR3: 0000000004b8a000 CR4: 00000000003506f0',
  '[   41.211391] Modules linked in: 9p 9pnet_virtio 9pnet netfs loop overlay erofs ext4',
  '[   41.211611] CR2: 00007f2c8d3fe000',
  '[   41.211712] ---[ end trace 0000000000000000 ]---',
].join('\n');

const started = [
  '@@VT {"start":true,"kernel":"6.12.117+deb12-amd64","node":"v20.20.2"}',
  '@@VT {"check":"enable-sizes","ok":true,"ms":366}',
].join('\n');

describe('vm harness: classifying the console of a guest run', () => {
  it('a kernel that crashed before anything of the test ran: boot-crash', () => {
    const c = vm.classifyConsole({ rc: null, timedOut: false, output: bootPanic });
    expect(c.outcome).toBe('boot-crash');
    expect(c.crash.split('\n')[0]).toBe('[    0.961262] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI');
    // qemu's own warnings come before the kernel's lines and do not count as the test's output.
    const warned = `qemu-system-x86_64: warning: TCG doesn't support requested feature: CPUID.01H:ECX.x2apic [bit 21]\n${bootPanic}`;
    expect(vm.classifyConsole({ rc: null, timedOut: false, output: warned }).outcome).toBe('boot-crash');
  });

  it('a kernel crash after the test started: crash, with the first 15 lines of the report', () => {
    for (const output of [`${started}\n${userOops}\n`, `${started}\n${userOops}`]) {
      const c = vm.classifyConsole({ rc: null, timedOut: false, output });
      expect(c.outcome).toBe('crash');
      const lines = c.crash.split('\n');
      expect(lines).toHaveLength(vm.CRASH_LINES);
      expect(vm.CRASH_LINES).toBe(15);
      expect(lines[0]).toBe('[   41.207316] BUG: unable to handle page fault for address: 00007f2c8d3fe000');
      expect(c.crash).toContain('#PF: supervisor read access in user mode');
      expect(c.crash).toContain('RIP: 0033:0x7f2c9a61c0d4');
      expect(c.crash).toContain('c4 c1 f9 6e ca');
    }
  });

  it('a crash stays a crash whatever came after it: a timeout, an exit status', () => {
    expect(vm.classifyConsole({ rc: null, timedOut: true, output: `${started}\n${userOops}` }).outcome).toBe('crash');
    expect(vm.classifyConsole({ rc: 0, timedOut: false, output: `${started}\n${userOops}\n@@VM exit 0` }).outcome).toBe('crash');
    const r = { rc: null, timedOut: true, stoppedOnCrash: false, seconds: 170, output: `${started}\n${userOops}` };
    const text = vm.describeOutcome(r);
    expect(text).toMatch(/^guest kernel crashed during the test after 170\.0 s \(then hung until the timeout\)/);
    expect(text).toContain('RIP: 0033:0x7f2c9a61c0d4');
    expect(text).not.toMatch(/timed out/);
  });

  it('test output interleaved with the report: left out of the quoted lines; the crash line counts', () => {
    const mixed = [
      started,
      '@@VT {"check":"bulk-enable-r-2000","ok":tr[   41.207316] BUG: unable to handle page fault for address: 00007f2c8d3fe000',
      '[   41.207719] #PF: supervisor read access in user mode',
      'ue,"ms":6547}',
      '[   41.208297] Oops: 0000 [#1] PREEMPT SMP NOPTI',
    ].join('\n');
    const c = vm.classifyConsole({ rc: null, timedOut: false, output: mixed });
    expect(c.outcome).toBe('crash');
    expect(c.crash.split('\n')).toEqual([
      '[   41.207316] BUG: unable to handle page fault for address: 00007f2c8d3fe000',
      '[   41.207719] #PF: supervisor read access in user mode',
      '[   41.208297] Oops: 0000 [#1] PREEMPT SMP NOPTI',
    ]);
    // Output of its own on the crash line itself: the test had run.
    const prefixed = bootPanic.replace('[    0.961262]', 'guest: {"start":true}[    0.961262]');
    expect(vm.classifyConsole({ rc: null, timedOut: false, output: prefixed }).outcome).toBe('crash');
  });

  it('every kind of kernel crash text is recognised, and nothing else', () => {
    for (const l of [
      '[    3.695263] Kernel panic - not syncing: sysrq triggered crash',
      '[   12.000001] Oops: general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] PREEMPT SMP NOPTI',
      '[   12.000001] BUG: kernel NULL pointer dereference, address: 0000000000000008',
      '[   52.123456] watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [node:231]',
      '[   12.000001] kernel BUG at fs/verity/enable.c:123!',
      '[   12.000001] traps: node[231] general protection fault ip:7f2c9a61c0d4 sp:7ffd1e2c4a90 error:0 in node[1c00000+2e4c000]',
      '[   12.000001] Oops: invalid opcode: 0000 [#1] PREEMPT SMP NOPTI',
    ])
      expect(vm.isCrashLine(l), l).toBe(true);
    for (const l of [
      '@@VT {"check":"bad-signature","ok":false,"error":"BUG: Oops: Kernel panic - not syncing"}',
      'BUG: unable to handle page fault (no timestamp: not the kernel\'s)',
      '[    5.100000] overlayfs: "redirect_dir=on" without "metacopy=on" is not supported',
      '[    5.100000] fs-verity (loop0, inode 12): FILE CORRUPTED! pos=0, level=-1, want_hash=sha256:00',
      '[    5.100000] EXT4-fs (loop0): mounted filesystem with ordered data mode.',
      '[    5.100000] ------------[ cut here ]------------',
      '',
    ])
      expect(vm.isCrashLine(l), l).toBe(false);
  });

  it('no crash text: timeout, no exit status, or a clean exit (whatever its status)', () => {
    const hung = `${started}\n[   30.000001] EXT4-fs (loop0): mounted filesystem`;
    expect(vm.classifyConsole({ rc: null, timedOut: true, output: hung })).toEqual({ outcome: 'timeout' });
    expect(vm.describeOutcome({ rc: null, timedOut: true, seconds: 170, output: hung })).toMatch(
      /^guest timed out after 170\.0 s with no kernel crash on the console; last console lines:\n@@VT/,
    );
    expect(vm.classifyConsole({ rc: null, timedOut: false, output: started })).toEqual({ outcome: 'no-status' });
    expect(vm.classifyConsole({ rc: null, timedOut: false, output: '' })).toEqual({ outcome: 'no-status' });
    expect(vm.classifyConsole({ rc: 0, timedOut: false, output: `${started}\n@@VM exit 0` })).toEqual({ outcome: 'clean' });
    expect(vm.classifyConsole({ rc: 1, timedOut: false, output: `${started}\n@@VM exit 1` })).toEqual({ outcome: 'clean' });
  });
});

describe('vm harness: a guest kernel that dies while booting is booted again', () => {
  it('recognises a panic, or an oops the harness stopped on, before anything of the test ran', () => {
    expect(vm.diedBooting({ rc: null, timedOut: false, output: bootPanic })).toBe(true);
    const bootOops = '[    0.961262] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI\n[    0.961632] RIP: 0010:sched_clock_cpu+0x9/0x190\n';
    expect(vm.diedBooting({ rc: null, timedOut: false, stoppedOnCrash: true, output: bootOops })).toBe(true);
  });
  it('never retries a guest that ran: output of its own, an exit status, a timeout, no crash', () => {
    expect(vm.diedBooting({ rc: null, timedOut: false, output: `guest: {"start":true}\n${bootPanic}` })).toBe(false);
    expect(vm.diedBooting({ rc: null, timedOut: false, output: `@@VM insmod loop failed\n${bootPanic}` })).toBe(false);
    expect(vm.diedBooting({ rc: 1, timedOut: false, output: bootPanic })).toBe(false);
    expect(vm.diedBooting({ rc: null, timedOut: true, output: bootPanic })).toBe(false);
    expect(vm.diedBooting({ rc: null, timedOut: false, output: '' })).toBe(false);
    expect(vm.diedBooting({ rc: null, timedOut: false, output: `${started}\n${userOops}` })).toBe(false);
  });
});

describe('vm harness: a guest that crashes and hangs is stopped on the crash text', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vt-fake-qemu-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'initramfs.cpio'), '');
  /** A stand-in for qemu that prints `console` and then behaves as `then` says. */
  const fakeQemu = (name: string, consoleText: string, then: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(path.join(dir, `${name}.txt`), consoleText);
    fs.writeFileSync(p, `#!/bin/sh\ncat '${path.join(dir, `${name}.txt`)}'\n${then}\n`, { mode: 0o755 });
    return { qemu: p, kernel: { dir, vmlinux: false, modules: [] }, initramfs: path.join(dir, 'initramfs.cpio') };
  };
  // `exec sleep`: one process, like qemu, so killing it closes the console pipe.
  const run = (prepared: unknown, opts: Record<string, unknown> = {}) =>
    vm.runInGuestUnlocked('true', { prepared, cwd: '/', timeoutMs: 60_000, crashGraceMs: 1_500, ...opts });

  it('an oops whose report ends ("---[ end trace"), then a hang: stopped within a second, reported as a crash', async () => {
    const lines: string[] = [];
    const r = await run(fakeQemu('oops-end', `${started}\n${userOops}\n`, 'exec sleep 600'), { onLine: (l: string) => lines.push(l) });
    expect(r.outcome).toBe('crash');
    expect(r.stoppedOnCrash).toBe(true);
    expect(r.timedOut).toBe(false);
    expect(r.rc).toBe(null);
    expect(r.seconds).toBeLessThan(10);
    expect(r.crash.split('\n')).toHaveLength(15);
    expect(r.crash).toContain('c4 c1 f9 6e ca');
    expect(lines).toContain('[   41.209166] Code: 4c 8b 55 e8 4d 8b 52 07 c4 c1 f9 6e ca c5 f3 58 c8 c4 e1 f9 7e c8 <48> 89 45 e0');
    const text = vm.describeOutcome(r);
    expect(text).toMatch(/^guest kernel crashed during the test after \d+\.\d s \(VM stopped on the crash text\); kernel console:\n\[   41\.207316\] BUG: unable/);
  }, 30_000);

  it('a crash line and no end of report (a soft lockup), then a hang: stopped after the grace time', async () => {
    const lockup = `${started}\n[   52.123456] watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [node:231]\n`;
    const r = await run(fakeQemu('lockup', lockup, 'exec sleep 600'));
    expect(r.outcome).toBe('crash');
    expect(r.stoppedOnCrash).toBe(true);
    expect(r.seconds).toBeGreaterThanOrEqual(1.4);
    expect(r.seconds).toBeLessThan(10);
  }, 30_000);

  it('a hang without crash text runs into the timeout, and says so', async () => {
    const r = await run(fakeQemu('hang', `${started}\n`, 'exec sleep 600'), { timeoutMs: 1_500 });
    expect(r.outcome).toBe('timeout');
    expect(r.timedOut).toBe(true);
    expect(r.stoppedOnCrash).toBe(false);
    expect(vm.describeOutcome(r)).toMatch(/^guest timed out after \d+\.\d s with no kernel crash on the console/);
  }, 30_000);

  it('a guest that reports its exit status: clean, with that status (isa-debug-exit: qemu exits 2*rc+1)', async () => {
    const r = await run(fakeQemu('exit3', `${started}\n@@VM exit 3\n`, 'exit 7'));
    expect(r).toMatchObject({ outcome: 'clean', rc: 3, timedOut: false, stoppedOnCrash: false });
  }, 30_000);

  it('a panic the guest powers off on by itself: a crash, not stopped by the harness', async () => {
    const panic = `${started}\n[    3.695263] Kernel panic - not syncing: sysrq triggered crash\n[    3.703249] Kernel Offset: disabled\n`;
    const r = await run(fakeQemu('panic', panic, 'exit 0'));
    expect(r).toMatchObject({ outcome: 'crash', rc: null, stoppedOnCrash: false, timedOut: false });
  }, 30_000);
});
