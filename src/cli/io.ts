/**
 * What every CLI verb receives: its arguments and the streams to write to. Verbs return their exit
 * code (0 ok, 1 problems found, 2 usage or operational failure) instead of calling process.exit,
 * so tests can run them in-process.
 */
import type { Writable, Readable } from 'node:stream';

export interface CliIO {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly stdin: Readable;
  /** Environment variables (process.env in production). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** True when stderr is a terminal (progress output allowed). */
  readonly isTTY: boolean;
}

export type Verb = (args: string[], io: CliIO) => Promise<number>;

export const EXIT_OK = 0;
export const EXIT_PROBLEMS = 1;
export const EXIT_FAILURE = 2;

export { write } from '../report/output.js';
