#!/usr/bin/env bash
# Bulk enable in the fs-verity guest (test/kernel/vm.mjs): `veritree enable -r` on N files versus
# `find -type f -exec fsverity enable {} \;` on an identical copy, same VM, same run.
# Prints both times and the ratio. Timing inside a TCG guest is emulated: compare the ratio, not
# the seconds. Usage: bench/kernel-enable.sh [N=2000]   (run test/kernel/prepare.sh first)
set -eu
cd "$(dirname "$0")/.."
N=${1:-2000}
DIST=build/dist
if [ ! -f $DIST/cli/enable.js ] || [ -n "$(find src/kernel src/cli -newer $DIST/cli/enable.js -name '*.ts' | head -1)" ]; then
  DIST=build/kvm-dist
  echo "[bench] compiling into $DIST" >&2
  node node_modules/typescript/bin/tsc -p tsconfig.json --outDir $DIST >/dev/null || true
fi
VERITREE_KVM_QUIET=1 exec node test/kernel/vm.mjs run "
set -e
N=$N
node -e '
  const fs = require(\"fs\");
  for (const d of [\"a\", \"b\"]) for (let i = 0; i < $N; i++) {
    const sub = process.env.VERITREE_SCRATCH + \"/\" + d + \"/d\" + (i % 20);
    fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(sub + \"/f\" + i, Buffer.alloc((i * 7919) % 20000, i & 0xff));
  }'
sync
ms() { date +%s%N | cut -b1-13; }
t0=\$(ms); node $DIST/cli/main.js enable -r -q \$VERITREE_SCRATCH/a; t1=\$(ms)
find \$VERITREE_SCRATCH/b -type f -exec fsverity enable {} \\; ; t2=\$(ms)
[ \"\$(node $DIST/cli/main.js measure -r \$VERITREE_SCRATCH/a | wc -l)\" = $N ] || { echo 'veritree: not all files enabled'; exit 1; }
[ \"\$(find \$VERITREE_SCRATCH/b -type f -exec fsverity measure {} + | wc -l)\" = $N ] || { echo 'fsverity: not all files enabled'; exit 1; }
v=\$((t1 - t0)); f=\$((t2 - t1))
echo \"@@BENCH files=$N veritree_enable_r_ms=\$v find_exec_fsverity_ms=\$f ratio=\$(awk -v a=\$f -v b=\$v 'BEGIN { printf \"%.1f\", a / b }')x (TCG guest, emulated timing)\"
"
