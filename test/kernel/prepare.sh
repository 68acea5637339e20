#!/usr/bin/env bash
# Installs and fetches what the real-kernel tests (test/kernel-vm.test.ts, bench/kernel-enable.sh)
# need, following shared/spec/KERNEL-VM.md: the Debian packages, then Debian's 6.12 kernel
# (apt-get download, extracted into the cache, never installed) and the test initramfs.
# Idempotent: a second run finds everything in place and does nothing but say so.
# Exit 0 when a guest can boot; 1 when something could not be had (the VM test then skips).
# Env: VERITREE_KVM_CACHE (cache folder), VERITREE_KVM_KERNEL_PKG (pin the kernel package).
set -u
cd "$(dirname "$0")/../.."
t0=$(date +%s%N)
say() { printf '[prepare] %s\n' "$*"; }

if [ "$(uname -m)" != x86_64 ]; then
  say "host is $(uname -m); the guest kernel is amd64: nothing to do (VM tests will skip)"; exit 1
fi

# Packages: qemu, a static busybox for the initramfs, fsverity-utils (userspace reference),
# e2fsprogs (mkfs.ext4 -O verity), xz (modules), zstd (vmlinux out of the bzImage).
need=()
for pkg in qemu-system-x86 busybox-static fsverity e2fsprogs xz-utils zstd; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
updated=0
if [ ${#need[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then say "missing ${need[*]} and no apt-get"; exit 1; fi
  say "installing ${need[*]}"
  apt-get update -qq && updated=1
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
    say "apt-get install ${need[*]} failed"; exit 1
  fi
else
  say "packages present: qemu-system-x86 busybox-static fsverity e2fsprogs xz-utils zstd"
fi

if VERITREE_KVM_QUIET=1 node test/kernel/vm.mjs status >/dev/null 2>&1; then
  say "guest kernel and initramfs already cached in ${VERITREE_KVM_CACHE:-the default cache}"
else
  # Package lists never fetched (fresh machine): apt-cache would not know the kernel package.
  if [ $updated = 0 ] && ! apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb[0-9]+-amd64-unsigned$' 2>/dev/null | grep -q .; then
    say "apt lists know no linux-image-6.12: apt-get update"
    apt-get update -qq
  fi
  if ! node test/kernel/vm.mjs prepare; then
    say "could not prepare the guest kernel (VM tests will skip)"; exit 1
  fi
fi
node test/kernel/vm.mjs status
say "done in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
