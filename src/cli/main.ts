#!/usr/bin/env node
/**
 * veritree CLI entry: verb-first, like fsverity(1) and cfsctl. Each verb lives in its own module
 * under src/cli/ and is loaded only when used, so `veritree digest` never pays for the EROFS reader.
 */
import { EXIT_FAILURE, type CliIO, type Verb } from './io.js';

interface VerbEntry {
  readonly load: () => Promise<{ run: Verb }>;
  readonly summary: string;
}

const VERBS: Record<string, VerbEntry> = {
  digest: { load: () => import('./digest.js'), summary: 'compute fs-verity digests of files (like `fsverity digest`)' },
  enable: { load: () => import('./enable.js'), summary: 'enable fs-verity on files, in bulk with -r (FS_IOC_ENABLE_VERITY)' },
  measure: { load: () => import('./measure.js'), summary: "print the kernel's fs-verity digest of verity files (like `fsverity measure`)" },
  'dump-metadata': { load: () => import('./dump-metadata.js'), summary: 'write a verity file\'s Merkle tree, descriptor or signature to stdout' },
  image: { load: () => import('./image.js'), summary: 'write composefs images (like `mkcomposefs`); list, dump and check their objects (like `composefs-info`)' },
  bench: { load: () => import('./bench.js'), summary: 'measure what this machine can hash: backends x threads, leaves and a file tree' },
  'verify-cas': { load: () => import('./verify-cas.js'), summary: 'check a composefs / composefs-rs object store: every object must hash to its name' },
  'check-image': { load: () => import('./check-image.js'), summary: 'check a composefs image against object stores as overlayfs verity=on|require would' },
  'check-overlay': { load: () => import('./check-overlay.js'), summary: 'check a lower dir with overlay.metacopy/redirect xattrs against data dirs (verity)' },
  import: { load: () => import('./import.js'), summary: 'store a tree in a composefs object store and write its dump for mkcomposefs --from-file' },
  // Other verbs register here, one line each, in the order they appear in the help text.
};

function usage(): string {
  const width = Math.max(...Object.keys(VERBS).map((v) => v.length));
  const lines = Object.entries(VERBS).map(([name, v]) => `  ${name.padEnd(width)}  ${v.summary}`);
  return `Usage: veritree <command> [options] [args]\n\nCommands:\n${lines.join('\n')}\n\nRun 'veritree <command> --help' for a command's options.\n`;
}

export async function main(argv: string[], io: CliIO): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') {
    (verb === undefined ? io.stderr : io.stdout).write(usage());
    return verb === undefined ? EXIT_FAILURE : 0;
  }
  if (verb === '--version' || verb === 'version') {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };
    io.stdout.write(`veritree ${pkg.version}\n`);
    return 0;
  }
  const entry = Object.hasOwn(VERBS, verb) ? VERBS[verb] : undefined;
  if (!entry) {
    io.stderr.write(`veritree: unknown command '${verb}'\n\n${usage()}`);
    return EXIT_FAILURE;
  }
  const mod = await entry.load();
  return mod.run(rest, io);
}

const isEntry = process.argv[1] !== undefined && import.meta.url === (await import('node:url')).pathToFileURL((await import('node:fs')).realpathSync(process.argv[1])).href;
if (isEntry) {
  const io: CliIO = {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    isTTY: Boolean(process.stderr.isTTY),
  };
  // EPIPE on stdout (e.g. `veritree digest ... | head`) is not an error worth a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  main(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const e = err as { describe?: () => string; message?: string };
      process.stderr.write(`veritree: ${typeof e?.describe === 'function' ? e.describe() : (e?.message ?? String(err))}\n`);
      process.exitCode = EXIT_FAILURE;
    },
  );
}
