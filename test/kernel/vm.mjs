#!/usr/bin/env node
/**
 * Real-kernel harness: boots Debian's stock 6.12 kernel (CONFIG_FS_VERITY=y) under qemu with the
 * host's root filesystem shared read-only over 9p, and runs a shell script inside it, chrooted into
 * that root, with a fresh ext4 `-O verity` scratch filesystem mounted at $VERITREE_SCRATCH.
 * The guest's exit status comes back through qemu's isa-debug-exit device.
 *
 * Spec: shared/spec/KERNEL-VM.md (verified recipe: package, modules and their order, qemu flags,
 * the PVH vmlinux entry, TCG-only on these machines).
 *
 * Usage:
 *   node test/kernel/vm.mjs prepare            fetch the kernel, build the initramfs (cached)
 *   node test/kernel/vm.mjs status             say whether a VM can run here, and why not
 *   node test/kernel/vm.mjs run 'SCRIPT'       run SCRIPT (sh) in the guest; exit with its status
 *                                              (124: timed out, 125: no status, 126: guest kernel crashed)
 * Environment:
 *   VERITREE_KVM_CACHE   cache folder (default /var/cache/veritree-kvm as root, else ~/.cache/veritree-kvm)
 *   VERITREE_KVM_KERNEL_PKG   Debian package to use instead of the newest linux-image-6.12.*-amd64-unsigned
 *   VERITREE_KVM_NO_FETCH=1   never call apt-get (use the cache or fail)
 *   VERITREE_KVM_CPU     qemu -cpu model instead of TCG_CPU (or of host,-arch-capabilities under KVM)
 *   VERITREE_KVM_TCG=1   use TCG even where real KVM is available
 *   VERITREE_KVM_APPEND  extra guest kernel command-line arguments (experiments)
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** KERNEL-VM.md: the version verified on these machines; used when apt-cache finds nothing newer. */
export const FALLBACK_KERNEL_PKG = 'linux-image-6.12.107+deb12-amd64-unsigned';
const KERNEL_PKG_RE = /^linux-image-(6\.12\.[0-9]+\+deb[0-9]+)-amd64-unsigned$/;
/** Modules the guest needs; their dependencies are added from each module's `depends=`. */
const ROOT_MODULES = ['crc32c_generic', 'crc32c_intel', 'ext4', 'loop', 'overlay', 'erofs', '9pnet_virtio', '9p'];
const BUSYBOX = '/bin/busybox';
const GUEST_INIT = path.join(HERE, 'guest-init.sh');
/** Bump when the layout of the cache changes. */
const CACHE_FORMAT = 1;

export class Unavailable extends Error {}

function log(msg) {
  if (process.env.VERITREE_KVM_QUIET !== '1') process.stderr.write(`[vm] ${msg}\n`);
}

export function cacheDir() {
  if (process.env.VERITREE_KVM_CACHE) return process.env.VERITREE_KVM_CACHE;
  if (process.getuid?.() === 0) return '/var/cache/veritree-kvm';
  return path.join(os.homedir(), '.cache', 'veritree-kvm');
}

function which(cmd) {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw r.error;
  return r;
}

/** Newest `linux-image-6.12.N+debM-amd64-unsigned` apt knows, else the verified fallback. */
export function findKernelPackage() {
  if (process.env.VERITREE_KVM_KERNEL_PKG) return process.env.VERITREE_KVM_KERNEL_PKG;
  if (!which('apt-cache')) return FALLBACK_KERNEL_PKG;
  const r = sh('apt-cache', ['search', '--names-only', '^linux-image-6\\.12\\.[0-9]+\\+deb[0-9]+-amd64-unsigned$']);
  const names = r.stdout
    .split('\n')
    .map((l) => l.split(' - ')[0]?.trim())
    .filter((n) => n && KERNEL_PKG_RE.test(n));
  if (names.length === 0) return FALLBACK_KERNEL_PKG;
  const ver = (n) => Number(n.match(/^linux-image-6\.12\.([0-9]+)/)[1]);
  names.sort((a, b) => ver(b) - ver(a));
  return names[0];
}

/** Where a prepared kernel lives; `ready.json` marks completion. */
function kernelDir(pkg) {
  return path.join(cacheDir(), `kernel-${pkg.replace(/[^A-Za-z0-9.+_-]/g, '_')}`);
}

function findPreparedKernel() {
  const base = cacheDir();
  if (!fs.existsSync(base)) return undefined;
  const want = process.env.VERITREE_KVM_KERNEL_PKG;
  const dirs = fs
    .readdirSync(base)
    .filter((d) => d.startsWith('kernel-') && fs.existsSync(path.join(base, d, 'ready.json')))
    .map((d) => JSON.parse(fs.readFileSync(path.join(base, d, 'ready.json'), 'utf8')))
    .filter((k) => k.format === CACHE_FORMAT && (!want || k.pkg === want));
  dirs.sort((a, b) => b.patch - a.patch);
  return dirs[0];
}

/** Reads the `depends=` list from a module's .modinfo strings. */
export function moduleDepends(ko) {
  const text = ko.toString('latin1');
  const m = /(?:^|\0)depends=([^\0]*)\0/.exec(text);
  return m && m[1] ? m[1].split(',').filter(Boolean) : [];
}

const modName = (file) => path.basename(file).replace(/\.ko(\.xz|\.zst|\.gz)?$/, '').replace(/-/g, '_');

/** Dependencies first (post-order DFS), each module once. */
export function loadOrder(roots, depsOf) {
  const order = [];
  const state = new Map();
  const visit = (name, trail) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new Error(`module dependency cycle: ${[...trail, name].join(' -> ')}`);
    state.set(name, 'visiting');
    for (const d of depsOf(name)) visit(d, [...trail, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const r of roots) visit(r, []);
  return order;
}

/** Finds the zstd frame inside the bzImage and decompresses it to the vmlinux ELF (PVH entry). */
function extractVmlinux(bzImage, out) {
  if (!which('zstd')) return false;
  const img = fs.readFileSync(bzImage);
  const magic = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
  let at = img.indexOf(magic);
  while (at >= 0) {
    const r = spawnSync('zstd', ['-dc', '-q'], { input: img.subarray(at), maxBuffer: 512 << 20 });
    // zstd complains about the bytes after the frame; what matters is that an ELF came out.
    if (r.stdout && r.stdout.length > 4 && r.stdout.subarray(0, 4).toString('latin1') === '\x7fELF') {
      fs.writeFileSync(out, r.stdout);
      return true;
    }
    at = img.indexOf(magic, at + 1);
  }
  return false;
}

/** apt-get download + extract the kernel and the modules the guest needs into the cache. */
export function prepareKernel({ fetch = process.env.VERITREE_KVM_NO_FETCH !== '1' } = {}) {
  const have = findPreparedKernel();
  if (have) return have;
  if (!fetch) throw new Unavailable(`no prepared kernel in ${cacheDir()} and fetching is disabled`);
  for (const tool of ['apt-get', 'dpkg-deb', 'xz', 'tar'])
    if (!which(tool)) throw new Unavailable(`cannot fetch the guest kernel: '${tool}' is not installed`);
  let pkg = findKernelPackage();
  const dir = kernelDir(pkg);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-kvm-'));
  try {
    log(`downloading ${pkg}`);
    let r = sh('apt-get', ['download', pkg], { cwd: work });
    if (r.status !== 0 && pkg !== FALLBACK_KERNEL_PKG) {
      log(`apt-get download ${pkg} failed; trying ${FALLBACK_KERNEL_PKG}`);
      pkg = FALLBACK_KERNEL_PKG;
      r = sh('apt-get', ['download', pkg], { cwd: work });
    }
    if (r.status !== 0) throw new Unavailable(`apt-get download ${pkg} failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
    const deb = fs.readdirSync(work).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Unavailable(`apt-get download ${pkg} produced no .deb`);
    log(`extracting ${deb}`);
    const root = path.join(work, 'root');
    fs.mkdirSync(root);
    // Only boot/ and the module tree; the firmware-free rest of the package is not needed.
    execFileSync('sh', ['-c', `dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards './boot/vmlinuz-*' './lib/modules/*'`, 'sh', path.join(work, deb), root]);
    fs.rmSync(path.join(work, deb));
    const vmlinuz = fs.readdirSync(path.join(root, 'boot')).find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new Unavailable(`${pkg} has no /boot/vmlinuz-*`);
    const kver = vmlinuz.slice('vmlinuz-'.length);
    const modRoot = path.join(root, 'lib', 'modules', kver);
    const files = new Map();
    const walk = (d) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.ko(\.xz)?$/.test(e.name)) files.set(modName(e.name), p);
      }
    };
    walk(modRoot);
    const decompressed = new Map();
    const load = (name) => {
      if (!decompressed.has(name)) {
        const f = files.get(name);
        if (!f) throw new Unavailable(`module ${name} not found in ${pkg}`);
        decompressed.set(name, f.endsWith('.xz') ? execFileSync('xz', ['-dc', f], { maxBuffer: 256 << 20 }) : fs.readFileSync(f));
      }
      return decompressed.get(name);
    };
    const order = loadOrder(ROOT_MODULES.filter((m) => files.has(m) || m !== 'crc32c_intel'), (n) => moduleDepends(load(n)));
    const tmpDir = `${dir}.tmp-${process.pid}`;
    fs.rmSync(tmpDir, { recursive: true, force: true });
    fs.mkdirSync(path.join(tmpDir, 'modules'), { recursive: true });
    fs.copyFileSync(path.join(root, 'boot', vmlinuz), path.join(tmpDir, 'bzImage'));
    for (const name of order) fs.writeFileSync(path.join(tmpDir, 'modules', `${name}.ko`), load(name));
    const hasVmlinux = extractVmlinux(path.join(tmpDir, 'bzImage'), path.join(tmpDir, 'vmlinux'));
    const patch = Number(/^6\.12\.([0-9]+)/.exec(kver)?.[1] ?? 0);
    const info = { format: CACHE_FORMAT, pkg, kver, patch, modules: order, vmlinux: hasVmlinux, dir };
    fs.writeFileSync(path.join(tmpDir, 'ready.json'), JSON.stringify(info, null, 1) + '\n');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmpDir, dir);
    log(`kernel ${kver} ready in ${dir} (${hasVmlinux ? 'vmlinux' : 'bzImage'}; modules: ${order.join(' ')})`);
    return info;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

// ---- initramfs (newc cpio, uncompressed: the kernel unpacks it directly) ----

function cpioEntry(name, mode, data = Buffer.alloc(0), { rdevMajor = 0, rdevMinor = 0 } = {}) {
  const hex = (n) => n.toString(16).padStart(8, '0');
  const nameBuf = Buffer.from(name + '\0');
  const fields = [0, mode, 0, 0, 1, 0, data.length, 0, 0, rdevMajor, rdevMinor, nameBuf.length, 0];
  const header = Buffer.from('070701' + fields.map(hex).join(''), 'latin1');
  const pad = (n) => Buffer.alloc((4 - (n % 4)) % 4);
  return Buffer.concat([header, nameBuf, pad(header.length + nameBuf.length), data, pad(data.length)]);
}

export function cpio(entries) {
  return Buffer.concat([...entries.map((e) => cpioEntry(e.name, e.mode, e.data, e)), cpioEntry('TRAILER!!!', 0)]);
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

/** Base initramfs (busybox, modules, /init), cached by content. */
export function prepareInitramfs(kernel) {
  if (!fs.existsSync(BUSYBOX)) throw new Unavailable(`${BUSYBOX} missing (apt-get install busybox-static)`);
  const bb = fs.readFileSync(BUSYBOX);
  // A dynamically linked busybox names its ELF interpreter; the initramfs has no libc for it.
  if (bb.indexOf(Buffer.from('/lib64/ld-linux')) >= 0)
    throw new Unavailable(`${BUSYBOX} is not statically linked (apt-get install busybox-static)`);
  const init = fs.readFileSync(GUEST_INIT);
  const mods = kernel.modules.map((m) => ({ name: m, data: fs.readFileSync(path.join(kernel.dir, 'modules', `${m}.ko`)) }));
  const h = createHash('sha256').update(bb).update(init);
  for (const m of mods) h.update(m.name).update(m.data);
  const out = path.join(kernel.dir, `initramfs-${h.digest('hex').slice(0, 16)}.cpio`);
  if (fs.existsSync(out)) return out;
  const entries = [
    ...['bin', 'dev', 'proc', 'sys', 'host', 'modules', 'tmp'].map((d) => ({ name: d, mode: S_IFDIR | 0o755 })),
    // The kernel opens /dev/console for init before devtmpfs is mounted.
    { name: 'dev/console', mode: S_IFCHR | 0o600, rdevMajor: 5, rdevMinor: 1 },
    { name: 'bin/busybox', mode: S_IFREG | 0o755, data: bb },
    { name: 'init', mode: S_IFREG | 0o755, data: init },
    { name: 'modules/order', mode: S_IFREG | 0o644, data: Buffer.from(kernel.modules.join('\n') + '\n') },
    ...mods.map((m) => ({ name: `modules/${m.name}.ko`, mode: S_IFREG | 0o644, data: m.data })),
  ];
  fs.writeFileSync(`${out}.tmp`, cpio(entries));
  fs.renameSync(`${out}.tmp`, out);
  return out;
}

/** Everything needed to boot; throws Unavailable with the reason when something is missing. */
export function prepare(opts = {}) {
  const qemu = which('qemu-system-x86_64');
  if (!qemu) throw new Unavailable('qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)');
  if (process.arch !== 'x64') throw new Unavailable(`the guest kernel is amd64; this host is ${process.arch}`);
  const kernel = prepareKernel(opts);
  const initramfs = prepareInitramfs(kernel);
  return { qemu, kernel, initramfs };
}

/**
 * VEX-encoded instruction sets: AVX and what builds on it, and BMI1/BMI2 (VEX too). qemu 7.2 is
 * the first qemu whose TCG emulates them, and it gets them wrong now and then: node died in the
 * guest with a kernel oops on a user-mode `vmovq` (c4 c1 f9 6e ca) in V8-generated code
 * ("#PF: supervisor read access in user mode") and the guest hung mid-test. Without these CPUID
 * bits V8, OpenSSL and glibc take their SSE paths, which TCG has emulated for many releases.
 * Naming a feature this qemu already leaves out is harmless.
 */
const VEX_FEATURES = ['avx', 'avx2', 'fma', 'f16c', 'bmi1', 'bmi2', 'vaes', 'vpclmulqdq', 'avx-vnni', 'avx512f'];

/**
 * CPU model under TCG: qemu's `max` without VEX_FEATURES. SSE4.1/4.2 stay, so WebAssembly SIMD
 * (veritree's wasm-simd backend) still runs in the guest (guest-checks.mjs `wasm-simd-in-guest`).
 * Chosen by measurement against the named models without AVX (Nehalem, Westmere; Denverton and
 * Snowridge only add "TCG doesn't support requested feature" warnings), on an otherwise quiet
 * 2-core host: boot to power-off 2.7 s against 6.9 s, both guest suites 45-47 s against 64-68 s,
 * the same as plain `max` (3.0 s, 45-48 s). `max` has RDRAND, so the guest kernel's CRNG is
 * seeded at once; without it getrandom() fails with EAGAIN and mkfs.ext4 of the scratch
 * filesystem takes 4.2 s instead of 0.16 s (libuuid's time-based fallback) on every boot. And its
 * AMD vendor string spares the guest the PTI and MDS mitigations an old Intel model gets (Nehalem
 * with mitigations=off: 54-58 s). Under real KVM the guest gets the host's CPU instead (the silicon executes AVX
 * correctly). VERITREE_KVM_CPU overrides either.
 */
export const TCG_CPU = ['max', ...VEX_FEATURES.map((f) => `-${f}`)].join(',');

/**
 * Real hardware virtualisation only: the /dev/kvm stand-in on these machines is far slower than
 * TCG. Under real KVM the guest gets the host's CPU; under TCG, TCG_CPU. VERITREE_KVM_CPU
 * overrides either (experiments: `VERITREE_KVM_CPU=max node test/kernel/vm.mjs run ...`).
 */
export function accel() {
  const real = fs.existsSync('/sys/module/kvm_intel') || fs.existsSync('/sys/module/kvm_amd');
  const cpu = process.env.VERITREE_KVM_CPU || undefined;
  if (real && fs.existsSync('/dev/kvm') && process.env.VERITREE_KVM_TCG !== '1') return ['-enable-kvm', '-cpu', cpu ?? 'host,-arch-capabilities'];
  return ['-accel', 'tcg', '-cpu', cpu ?? TCG_CPU];
}

/**
 * Runs `script` (POSIX sh) in the guest, chrooted into the host's root. Resolves with the guest
 * exit status (`rc`, null if the guest did not report one), whether it timed out, the console
 * output, `outcome` and `crash` (classifyConsole: a kernel crash is never reported as a mere
 * timeout), `seconds` of the last boot, `attempts` (boots) and `lockWaitSeconds` (time queued
 * behind another guest). `env` values are exported before the script; the working directory is
 * `cwd`.
 */
export async function runInGuest(script, opts = {}) {
  // One VM at a time (KERNEL-VM.md: 2 TCG vCPUs are CPU-bound): test files run in parallel, so
  // a second caller waits here for the first guest to power off.
  const queued = Date.now();
  const release = await lockVm(opts.lockWaitMs ?? 300_000);
  const lockWaitSeconds = (Date.now() - queued) / 1000;
  try {
    for (let attempt = 1; ; attempt++) {
      const r = await runInGuestUnlocked(script, opts);
      if (!diedBooting(r) || attempt >= BOOT_ATTEMPTS) {
        // Said here, not only by the caller's assertions: a crash is never just a timeout.
        if (r.outcome !== 'clean') process.stderr.write(`[vm] ${describeOutcome(r)}\n`);
        return { ...r, attempts: attempt, lockWaitSeconds };
      }
      // Under TCG with 2 vCPUs the stock kernel now and then oopses while patching its own code at
      // boot (an int3 hit in sched_clock_cpu, "Fatal exception in interrupt"), before /init or
      // the test ever runs. That is the emulator, not the code under test: boot again.
      process.stderr.write(
        `[vm] guest kernel died while booting (attempt ${attempt} of ${BOOT_ATTEMPTS}: ${r.crash.split('\n')[0].trim()}); booting again\n`,
      );
    }
  } finally {
    release();
  }
}

const BOOT_ATTEMPTS = 3;

/**
 * The guest kernel crashed before its /init printed anything of its own (an `@@VM` marker) and
 * before the test script printed a line that is not a kernel message, and reported no exit
 * status: nothing under test ran, so booting again is safe.
 */
export function diedBooting(r) {
  return r.rc === null && !r.timedOut && classifyConsole(r).outcome === 'boot-crash';
}

/** How many console lines of a crash the harness and the tests quote. */
export const CRASH_LINES = 15;
/** A kernel message: printk's timestamp (printk.time=1 on the command line), anywhere in a line. */
const KMSG = /\[\s*\d+\.\d+\]\s/;
/**
 * Kernel text that means the guest kernel itself failed: a panic, an oops ("Oops: 0000 [#1]",
 * "Oops: int3", "Oops: general protection fault"), "BUG: unable to handle page fault",
 * "BUG: soft lockup", "kernel BUG at", a general protection fault, also one reported for a user
 * process by traps.c (under TCG that is the emulator misexecuting an instruction).
 */
const CRASH = /Kernel panic - not syncing|\bOops:|\bBUG:|kernel BUG at|general protection|invalid opcode:/;
/** The end of an oops or panic report. */
const CRASH_END = /---\[ end (trace|Kernel panic)/;

/** Whether one console line is the start (or any line) of a kernel crash report. */
export function isCrashLine(line) {
  const at = line.search(KMSG);
  return at >= 0 && CRASH.test(line.slice(at));
}

/**
 * What the console says happened to a guest run:
 *  - `boot-crash`: the kernel crashed (panic, oops, BUG) before anything of /init or the test
 *    printed a line of its own;
 *  - `crash`: the kernel crashed after the test started (whatever the exit status or timeout);
 *  - `timeout`: the guest was stopped at its time limit with no crash text on the console;
 *  - `no-status`: qemu ended without the guest reporting an exit status and without crash text;
 *  - `clean`: the guest reported its exit status (`rc`, which may be non-zero) and no crash.
 * `crash` (for both crash outcomes) holds the kernel lines of the report from its first line,
 * at most CRASH_LINES of them, from the timestamp on (test output interleaved is left out).
 */
export function classifyConsole({ rc, timedOut, output }) {
  const lines = output.split('\n');
  const at = lines.findIndex(isCrashLine);
  if (at >= 0) {
    const crash = lines
      .slice(at)
      .map((l) => (l.search(KMSG) >= 0 ? l.slice(l.search(KMSG)) : undefined))
      .filter((l) => l !== undefined)
      .slice(0, CRASH_LINES)
      .join('\n');
    // A booting guest prints nothing but kernel messages (quiet loglevel=3) and qemu's warnings
    // before the test's own lines; the crash line itself may carry test output before its
    // timestamp when the two interleave.
    const kernelOnly = (l) => l === '' || /^\s*\[\s*\d+\.\d+\]/.test(l) || l.startsWith('qemu-system');
    const booting = lines.slice(0, at).every(kernelOnly) && kernelOnly(lines[at]);
    return { outcome: booting ? 'boot-crash' : 'crash', crash };
  }
  if (timedOut) return { outcome: 'timeout' };
  if (rc === null) return { outcome: 'no-status' };
  return { outcome: 'clean' };
}

/** One paragraph for a failure message or a log: what happened to the guest, with the evidence. */
export function describeOutcome(r) {
  const secs = typeof r.seconds === 'number' ? ` after ${r.seconds.toFixed(1)} s` : '';
  const c = r.outcome ? r : { ...r, ...classifyConsole(r) };
  const tail = (n) => (r.output ?? '').trimEnd().split('\n').slice(-n).join('\n');
  switch (c.outcome) {
    case 'boot-crash':
      return `guest kernel crashed while booting${secs}, before the test ran (qemu ${r.qemuStatus ?? '?'}); kernel console:\n${c.crash}`;
    case 'crash':
      return (
        `guest kernel crashed during the test${secs}` +
        `${r.stoppedOnCrash ? ' (VM stopped on the crash text)' : r.timedOut ? ' (then hung until the timeout)' : ''}` +
        `${r.rc !== null && r.rc !== undefined ? `, guest exit ${r.rc}` : ''}; kernel console:\n${c.crash}`
      );
    case 'timeout':
      return `guest timed out${secs} with no kernel crash on the console; last console lines:\n${tail(20)}`;
    case 'no-status':
      return `guest ended without reporting an exit status (qemu exit ${r.qemuStatus ?? '?'}) and with no kernel crash on the console; last console lines:\n${tail(20)}`;
    default:
      return `guest exited ${r.rc}${secs}`;
  }
}

/** Exclusive lock file in the cache dir holding the owner's pid; a dead owner's lock is taken over. */
async function lockVm(waitMs) {
  fs.mkdirSync(cacheDir(), { recursive: true });
  const lock = path.join(cacheDir(), 'vm.lock');
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(lock, { force: true });
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    const owner = Number(fs.readFileSync(lock, 'utf8').trim() || '0');
    let alive = false;
    try {
      if (owner > 0) process.kill(owner, 0);
      alive = owner > 0;
    } catch {
      alive = false;
    }
    if (!alive) {
      fs.rmSync(lock, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`another qemu guest (pid ${owner}) held ${lock} for over ${waitMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Host folders the guest must see at their own path although the guest mounts fresh tmpfs over
 * /tmp and /run (a clone or fixtures under /tmp would vanish otherwise): each becomes its own
 * read-only 9p share, mounted over the tmpfs by guest-init.sh.
 */
function hiddenByGuestTmpfs(dirs) {
  const out = [];
  for (const d of dirs) {
    const abs = path.resolve(d);
    if (!/^\/(tmp|run)(\/|$)/.test(abs) || !fs.existsSync(abs)) continue;
    if (out.some((o) => abs === o || abs.startsWith(o + '/'))) continue;
    out.push(abs);
  }
  return out;
}

/**
 * One boot, without the lock or the boot retry (exported for the harness's own tests, which run
 * it with a stand-in for qemu). The result adds to runInGuest's: `stoppedOnCrash` (the harness
 * killed the VM after crash text), `outcome` and `crash` (classifyConsole).
 */
export async function runInGuestUnlocked(
  script,
  { env = {}, cwd = process.cwd(), timeoutMs = 120_000, crashGraceMs = 5_000, memoryMiB = 1024, cpus = 2, scratchMiB = 256, onLine, prepared, shares = [] } = {},
) {
  const { qemu, kernel, initramfs } = prepared ?? prepare();
  const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
  const lines = [
    'set -u',
    ...Object.entries({ VERITREE_SCRATCH_MIB: scratchMiB, ...env }).map(([k, v]) => `export ${k}=${q(v)}`),
    `cd ${q(cwd)} || exit 97`,
    script,
  ];
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-vm-'));
  try {
    const initrd = path.join(work, 'initrd.cpio');
    // A second cpio appended to the cached one: the kernel unpacks both, the later adds /cmd.sh.
    const extra = hiddenByGuestTmpfs([cwd, ...shares]);
    const sharesList = extra.map((p, i) => `share${i} ${p}`).join('\n') + (extra.length ? '\n' : '');
    fs.writeFileSync(
      initrd,
      Buffer.concat([
        fs.readFileSync(initramfs),
        cpio([
          { name: 'cmd.sh', mode: S_IFREG | 0o755, data: Buffer.from(lines.join('\n') + '\n') },
          { name: 'shares.list', mode: S_IFREG | 0o644, data: Buffer.from(sharesList) },
        ]),
      ]),
    );
    const kernelImage = kernel.vmlinux ? path.join(kernel.dir, 'vmlinux') : path.join(kernel.dir, 'bzImage');
    const args = [
      ...accel(),
      '-M', 'q35',
      ...(fs.existsSync('/usr/share/qemu/qboot.rom') ? ['-bios', '/usr/share/qemu/qboot.rom'] : []),
      '-m', String(memoryMiB),
      '-smp', String(cpus),
      '-nographic', '-no-reboot', '-nodefaults',
      '-serial', 'stdio',
      '-kernel', kernelImage,
      '-initrd', initrd,
      // printk.time=1: every kernel line carries a timestamp, which is how classifyConsole tells
      // kernel text from the test's. oops=panic: an oops powers the guest off (panic=-1 reboots,
      // -no-reboot exits) instead of leaving it half alive.
      '-append', `console=ttyS0 quiet loglevel=3 printk.time=1 oops=panic panic=-1 rdinit=/init ${process.env.VERITREE_KVM_APPEND ?? ''}`.trim(),
      '-virtfs', 'local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap',
      ...extra.flatMap((p, i) => ['-virtfs', `local,path=${p},mount_tag=share${i},security_model=none,readonly=on,multidevs=remap`]),
      '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04',
    ];
    const started = Date.now();
    const child = spawn(qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let partial = '';
    const feed = (chunk) => {
      const text = chunk.toString('utf8').replace(/\r/g, '');
      out += text;
      partial += text;
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) {
        watch(l);
        onLine?.(l);
      }
    };
    child.stdout.on('data', feed);
    child.stderr.on('data', feed);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    // A kernel crash on the console: the guest may hang after it (an oops in a process holding a
    // lock the others need) or run on in a state nothing can be concluded from, so stop it once
    // the report has been printed (its end marker, or crashGraceMs after its first line) instead
    // of waiting for the timeout. With oops=panic the guest normally powers off by itself first.
    let stoppedOnCrash = false;
    let crashTimer;
    const stopOnCrash = (ms) => {
      clearTimeout(crashTimer);
      crashTimer = setTimeout(() => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        stoppedOnCrash = true;
        child.kill('SIGKILL');
      }, ms);
    };
    let crashSeen = false;
    const watch = (l) => {
      if (!crashSeen && isCrashLine(l)) {
        crashSeen = true;
        stopOnCrash(crashGraceMs);
      } else if (crashSeen && CRASH_END.test(l)) stopOnCrash(Math.min(500, crashGraceMs));
    };
    const status = await new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve(code));
    });
    clearTimeout(timer);
    clearTimeout(crashTimer);
    if (partial) onLine?.(partial);
    // isa-debug-exit: qemu exits with (value << 1) | 1; 0 would mean the guest never wrote it.
    const rc = !timedOut && !stoppedOnCrash && typeof status === 'number' && status % 2 === 1 ? (status - 1) / 2 : null;
    const r = { rc, qemuStatus: status, timedOut, stoppedOnCrash, output: out, seconds: (Date.now() - started) / 1000 };
    return { ...r, ...classifyConsole(r) };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** `{ ok: true }` or `{ ok: false, reason }` without fetching anything. */
export function status() {
  try {
    prepare({ fetch: false });
    return { ok: true, accel: accel().join(' ') };
  } catch (err) {
    if (err instanceof Unavailable) return { ok: false, reason: err.message };
    throw err;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  const [cmd, ...rest] = process.argv.slice(2);
  try {
    if (cmd === 'prepare') {
      const t0 = Date.now();
      const p = prepare();
      log(`ready: ${p.kernel.pkg} (${p.kernel.vmlinux ? 'vmlinux' : 'bzImage'}), initramfs ${p.initramfs}, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } else if (cmd === 'status') {
      const s = status();
      console.log(JSON.stringify(s));
      process.exitCode = s.ok ? 0 : 1;
    } else if (cmd === 'run') {
      const r = await runInGuest(rest.join(' '), { onLine: (l) => process.stdout.write(l + '\n'), timeoutMs: Number(process.env.VERITREE_KVM_TIMEOUT ?? 600) * 1000 });
      log(`guest exit ${r.rc ?? 'none'} (qemu ${r.qemuStatus}, ${r.outcome}) in ${r.seconds.toFixed(1)} s`);
      // 126: the guest kernel crashed; 124: timed out; 125: no exit status for another reason.
      process.exitCode = r.outcome === 'crash' || r.outcome === 'boot-crash' ? 126 : r.timedOut ? 124 : (r.rc ?? 125);
    } else {
      process.stderr.write('usage: vm.mjs prepare | status | run SCRIPT\n');
      process.exitCode = 2;
    }
  } catch (err) {
    if (err instanceof Unavailable) {
      log(`unavailable: ${err.message}`);
      process.exitCode = 3;
    } else throw err;
  }
}
