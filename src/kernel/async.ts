/**
 * Async runner for the kernel syscall programs (./sys.ts): every blocking call runs on libuv's
 * thread pool (koffi `.async` for the libc calls, node:fs for open/close), so the event loop never
 * waits on an FS_IOC_ENABLE_VERITY that hashes a large file. At most `maxInFlight` kernel calls
 * are outstanding, leaving pool threads for the rest of node:fs.
 *
 * Small and replaceable on purpose: a worker pool can instead run the same programs with
 * `runSync` (the sync wrappers in ./verity.ts and ./xattr.ts).
 */
import * as fs from 'node:fs';
import { availableParallelism } from 'node:os';
import { libc } from '../fs/libc.js';
import { checkOpenedAt, errnoOf, kindOf, libcCall, openAtFlags, type Syscall, type SysProgram, type SysResult } from './sys.js';
import { cPath } from '../fs/path.js';
import type { FileRef } from '../fs/open.js';
import {
  enableProgram,
  getFlagsProgram,
  measureProgram,
  readMetadataProgram,
  statxProgram,
  type EnableOptions,
  type Measurement,
  type MetadataType,
  type ReadRange,
  type VerityStat,
} from './verity.js';
import {
  getAllXattrsProgram,
  getXattrProgram,
  listXattrProgram,
  removeXattrProgram,
  setXattrProgram,
  type SetMode,
} from './xattr.js';

/** libuv's pool has UV_THREADPOOL_SIZE threads (default 4); leave one for other fs work. */
function defaultLimit(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(1, Math.min(pool - 1, availableParallelism() * 2));
}

let maxInFlight = defaultLimit();
let inFlight = 0;
const waiting: Array<() => void> = [];

/** Sets how many blocking kernel calls may be outstanding at once. */
export function setMaxInFlight(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`max in-flight calls must be a positive integer, got ${String(n)}`);
  maxInFlight = n;
  while (inFlight < maxInFlight && waiting.length > 0) waiting.shift()!();
}

async function slot<T>(work: () => Promise<T>): Promise<T> {
  if (inFlight >= maxInFlight) await new Promise<void>((resolve) => waiting.push(resolve));
  inFlight++;
  try {
    return await work();
  } finally {
    inFlight--;
    waiting.shift()?.();
  }
}

function execAsync(sc: Syscall): Promise<SysResult> {
  switch (sc.call) {
    case 'sleep':
      return new Promise((resolve) => setTimeout(() => resolve({ rc: 0, errno: 0 }), sc.ms));
    case 'close':
      return new Promise((resolve) => fs.close(sc.fd, (err) => resolve(err ? { rc: -1, errno: errnoOf(err) } : { rc: 0, errno: 0 })));
    case 'open':
      if (sc.at) {
        const at = sc.at;
        const lib = libc();
        return slot(
          () =>
            new Promise<SysResult>((resolve, reject) => {
              lib.openat.async(at.dirfd, cPath(at.name), openAtFlags(at), 0, (err: unknown, fd: number) => {
                if (err) reject(err);
                else resolve(fd < 0 ? { rc: -1, errno: lib.errno() } : checkOpenedAt(fd, at));
              });
            }),
        );
      }
      // Callback fs.open hands back a plain fd that the program owns (it yields `close`); a
      // FileHandle would close it again on garbage collection.
      return slot(
        () =>
          new Promise<SysResult>((resolve) => {
            fs.open(sc.path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK, (err, fd) => {
              if (err) return resolve({ rc: -1, errno: errnoOf(err) });
              fs.fstat(fd, (e, st) => {
                if (!e) return resolve({ rc: fd, errno: 0, kind: kindOf(st) });
                fs.close(fd, () => resolve({ rc: -1, errno: errnoOf(e) }));
              });
            });
          }),
      );
    default: {
      const lib = libc();
      const [name, args] = libcCall(sc);
      return slot(
        () =>
          new Promise<SysResult>((resolve, reject) => {
            const fn = lib[name] as unknown as { async(...a: unknown[]): void };
            fn.async(...args, (err: unknown, rc: number) => {
              // koffi restores the call's errno around this callback.
              if (err) reject(err);
              else resolve(rc < 0 ? { rc: -1, errno: lib.errno() } : { rc, errno: 0 });
            });
          }),
      );
    }
  }
}

/** Runs a program with every blocking call off the event loop. */
export async function runAsync<T>(program: SysProgram<T>): Promise<T> {
  let step = program.next();
  while (!step.done) {
    const result = await execAsync(step.value);
    step = program.next(result);
  }
  return step.value;
}

// ---- async API ----

export function enableVerity(path: string | FileRef, opts: EnableOptions = {}): Promise<void> {
  return runAsync(enableProgram(path, opts));
}
export function measureVerity(path: string | FileRef): Promise<Measurement> {
  return runAsync(measureProgram(path));
}
export function readVerityMetadata(path: string | FileRef, type: MetadataType, range: ReadRange = {}): Promise<Uint8Array> {
  return runAsync(readMetadataProgram(path, type, range));
}
export function getFlags(path: string | FileRef): Promise<number> {
  return runAsync(getFlagsProgram(path));
}
export function statxVerity(path: string): Promise<VerityStat> {
  return runAsync(statxProgram(path));
}
export function getXattr(path: string, name: string): Promise<Uint8Array | undefined> {
  return runAsync(getXattrProgram(path, name));
}
export function listXattr(path: string): Promise<string[]> {
  return runAsync(listXattrProgram(path));
}
export function setXattr(path: string, name: string, value: Uint8Array, mode: SetMode = 'either'): Promise<void> {
  return runAsync(setXattrProgram(path, name, value, mode));
}
export function removeXattr(path: string, name: string): Promise<void> {
  return runAsync(removeXattrProgram(path, name));
}
export function getAllXattrs(path: string): Promise<Map<string, Uint8Array>> {
  return runAsync(getAllXattrsProgram(path));
}
