/**
 * The one codec for what crosses the thread boundary besides bulk bytes: verity parameters (a
 * worker resolves each distinct set once) and errors (code, message, path, errno, and the cause's
 * message — a VeritreeError cannot be cloned as one). Both sides use this module only.
 */
import { fromSystemError } from '../report/errno.js';
import { errorFromParts, VeritreeError } from '../report/errors.js';
import { resolveParams, type VerityParams } from '../params.js';
import type { ErrorWire, ParamsWire } from './tasks.js';

export function paramsToWire(p: VerityParams): ParamsWire {
  return { hashAlg: p.alg.name, blockSize: p.blockSize, saltHex: Buffer.from(p.salt).toString('hex') };
}

const paramsCache = new Map<string, VerityParams>();

export function paramsFromWire(w: ParamsWire): VerityParams {
  const key = `${w.hashAlg}/${w.blockSize}/${w.saltHex}`;
  let p = paramsCache.get(key);
  if (!p) paramsCache.set(key, (p = resolveParams({ hashAlg: w.hashAlg, blockSize: w.blockSize, salt: w.saltHex })));
  return p;
}

export function errorToWire(err: unknown, path: string): ErrorWire {
  const e = err instanceof VeritreeError ? err : fromSystemError(err, path);
  const cause = e.cause instanceof Error ? e.cause.message : undefined;
  return { code: e.code, message: e.message, path: e.path ?? path, ...(e.errno ? { errno: e.errno } : {}), ...(cause !== undefined ? { cause } : {}) };
}

export function errorFromWire(w: ErrorWire): VeritreeError {
  const e = errorFromParts(w.code, w.message, w.path, w.errno);
  return w.cause !== undefined ? new VeritreeError(e.code, e.message, { path: w.path, ...(w.errno !== undefined ? { errno: w.errno } : {}), cause: new Error(w.cause) }) : e;
}
