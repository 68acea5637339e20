#!/bin/busybox sh
# /init of the test guest (see test/kernel/vm.mjs and shared/spec/KERNEL-VM.md): load the
# modules, mount the host root read-only over 9p, give it fresh /proc /sys /dev /tmp /run and a
# scratch ext4 with the verity feature, run /cmd.sh chrooted into it, and report its exit status
# through isa-debug-exit (port 0xf4). Lines starting with "@@VM" are this script's own markers.
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
for m in $($B cat /modules/order); do
  $B insmod /modules/$m.ko 2>/dev/null || echo "@@VM insmod $m failed"
done
report() {
  rc=$1
  [ "$rc" -gt 127 ] && rc=127
  echo "@@VM exit $1"
  $B printf "\\$($B printf '%03o' "$rc")" | $B dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
  $B poweroff -f
}
if ! $B mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288,cache=loose host /host; then
  echo "@@VM cannot mount the host root over 9p"; report 120
fi
$B mount -t proc proc /host/proc
$B mount -t sysfs sys /host/sys
$B mount -t devtmpfs dev /host/dev
$B mount -t tmpfs -o mode=1777 tmp /host/tmp
$B mount -t tmpfs tmp /host/run
# Host folders under /tmp or /run that the test needs (the project itself when cloned there).
while read -r tag dir; do
  [ -n "$tag" ] || continue
  $B mkdir -p "/host$dir" && $B mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288,cache=loose "$tag" "/host$dir" \
    || echo "@@VM cannot mount share $tag at $dir"
done < /shares.list
$B cp /cmd.sh /host/tmp/.veritree-cmd.sh
# Scratch ext4 -O verity on a tmpfs-backed loop device; 4K blocks = page size (KERNEL-VM.md).
S=/tmp/verity
$B mkdir -p /host$S
$B chroot /host /bin/sh -c "
  size=\$(sed -n 's/^export VERITREE_SCRATCH_MIB=.\\([0-9]*\\).*/\\1/p' /tmp/.veritree-cmd.sh)
  truncate -s \${size:-256}M /tmp/.veritree-scratch.img &&
  mkfs.ext4 -q -F -O verity -b 4096 /tmp/.veritree-scratch.img &&
  mount -o loop /tmp/.veritree-scratch.img $S" || { echo "@@VM scratch ext4 setup failed"; report 121; }
$B chroot /host /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin VERITREE_SCRATCH=$S \
  /bin/sh /tmp/.veritree-cmd.sh
report $?
