/** Runs the built CLI (build/dist/cli/main.js) as a child process, as a user would. */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { PassThrough } from 'node:stream';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CliIO } from '../../src/cli/io.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'build/dist/cli/main.js');

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export function veritree(args: string[], opts: { input?: Buffer | string; env?: Record<string, string>; cwd?: string; timeout?: number; uid?: number; gid?: number } = {}): CliRun {
  const r: SpawnSyncReturns<Buffer> = spawnSync(process.execPath, [CLI, ...args], {
    input: opts.input,
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd ?? ROOT,
    timeout: opts.timeout ?? 120_000,
    maxBuffer: 256 << 20,
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
  });
  return { status: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), stdoutBytes: r.stdout };
}

/** A CliIO for calling a verb in-process: stdout and stderr collected, empty stdin, no TTY. */
export function memoryIO(outEncoding: BufferEncoding = 'utf8'): { io: CliIO; out: () => string; err: () => string } {
  const out = new PassThrough();
  const err = new PassThrough();
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  out.on('data', (c: Buffer) => o.push(c));
  err.on('data', (c: Buffer) => e.push(c));
  return {
    io: { stdout: out, stderr: err, stdin: new PassThrough(), env: {}, isTTY: false },
    out: () => Buffer.concat(o).toString(outEncoding),
    err: () => Buffer.concat(e).toString(),
  };
}
