#!/usr/bin/env node
// Compiles the AssemblyScript hashing kernels into build/sha.scalar.wasm (no SIMD opcodes) and
// build/sha.simd.wasm (wasm SIMD128), after writing their generated round code into
// build/assembly/ (gen-kernels.mjs). Run with `npm run build:wasm`.
import asc from 'assemblyscript/asc';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative } from 'node:path';
import { writeKernels } from './gen-kernels.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'build');
mkdirSync(outDir, { recursive: true });
writeKernels(join(outDir, 'assembly'));

const common = [
  '-O3',
  '--runtime', 'stub',
  '--noAssert',
  '--use', 'abort=',
  '--disable', 'threads',
];

const targets = [
  { entry: 'assembly/index.ts', out: 'sha.scalar.wasm', flags: ['--disable', 'simd'] },
  { entry: 'assembly/index.simd.ts', out: 'sha.simd.wasm', flags: ['--enable', 'simd'] },
];

let failed = false;
for (const t of targets) {
  const outFile = join(outDir, t.out);
  const args = [join(root, t.entry), '--outFile', outFile, ...common, ...t.flags];
  const { error, stderr } = await asc.main(args, { stdout: process.stdout, stderr: process.stderr });
  if (error) {
    failed = true;
    console.error(`asc failed for ${t.entry}: ${error.message}`);
    console.error(stderr.toString());
  } else {
    console.log(`built ${relative(root, outFile)}`);
  }
}
if (failed) process.exit(1);
