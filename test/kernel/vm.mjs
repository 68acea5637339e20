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
 * Environment:
 *   VERITREE_KVM_CACHE   cache folder (default /var/cache/veritree-kvm as root, else ~/.cache/veritree-kvm)
 *   VERITREE_KVM_KERNEL_PKG   Debian package to use instead of the newest linux-image-6.12.*-amd64-unsigned
 *   VERITREE_KVM_NO_FETCH=1   never call apt-get (use the cache or fail)
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

/** Real hardware virtualisation only: the /dev/kvm stand-in on these machines is far slower than TCG. */
export function accel() {
  const real = fs.existsSync('/sys/module/kvm_intel') || fs.existsSync('/sys/module/kvm_amd');
  if (real && fs.existsSync('/dev/kvm') && process.env.VERITREE_KVM_TCG !== '1') return ['-enable-kvm', '-cpu', 'host,-arch-capabilities'];
  return ['-accel', 'tcg', '-cpu', 'max'];
}

/**
 * Runs `script` (POSIX sh) in the guest, chrooted into the host's root. Resolves with the guest
 * exit status (`rc`, null if the guest did not report one), whether it timed out, and the console
 * output. `env` values are exported before the script; the working directory is `cwd`.
 */
export async function runInGuest(script, opts = {}) {
  // One VM at a time (KERNEL-VM.md: 2 TCG vCPUs are CPU-bound): test files run in parallel, so
  // a second caller waits here for the first guest to power off.
  const release = await lockVm(opts.lockWaitMs ?? 300_000);
  try {
    for (let attempt = 1; ; attempt++) {
      const r = await runInGuestUnlocked(script, opts);
      if (!diedBooting(r) || attempt >= BOOT_ATTEMPTS) return r;
      // Under TCG with 2 vCPUs the stock kernel now and then oopses while patching its own code at
      // boot (an int3 hit in sched_clock_cpu, "Fatal exception in interrupt"), before /init or
      // the test ever runs. That is the emulator, not the code under test: boot again.
      process.stderr.write(`[vm] guest kernel died while booting (attempt ${attempt} of ${BOOT_ATTEMPTS}); booting again\n`);
    }
  } finally {
    release();
  }
}

const BOOT_ATTEMPTS = 3;

/**
 * The guest panicked before its /init printed anything of its own (an `@@VM` marker) and before
 * the test script printed a line that is not a kernel message: nothing under test ran.
 */
export function diedBooting({ rc, timedOut, output }) {
  if (rc !== null || timedOut || !/Kernel panic - not syncing/.test(output)) return false;
  // A booted guest prints nothing of the kernel's (quiet loglevel=3) before the test's own lines.
  return output.split('\n').every((l) => l === '' || /^\s*\[\s*\d+\.\d+\]/.test(l) || l.startsWith('qemu-system'));
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

async function runInGuestUnlocked(script, { env = {}, cwd = process.cwd(), timeoutMs = 120_000, memoryMiB = 1024, cpus = 2, scratchMiB = 256, onLine, prepared, shares = [] } = {}) {
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
      '-append', 'console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init',
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
      for (const l of parts) onLine?.(l);
    };
    child.stdout.on('data', feed);
    child.stderr.on('data', feed);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const status = await new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve(code));
    });
    clearTimeout(timer);
    if (partial) onLine?.(partial);
    // isa-debug-exit: qemu exits with (value << 1) | 1; 0 would mean the guest never wrote it.
    const rc = !timedOut && typeof status === 'number' && status % 2 === 1 ? (status - 1) / 2 : null;
    return { rc, qemuStatus: status, timedOut, output: out, seconds: (Date.now() - started) / 1000 };
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
      log(`guest exit ${r.rc ?? 'none'} (qemu ${r.qemuStatus}${r.timedOut ? ', timed out' : ''}) in ${r.seconds.toFixed(1)} s`);
      process.exitCode = r.rc ?? 125;
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
