/**
 * Enabling fs-verity on many files: one outcome per file, never an exception. EEXIST counts as
 * success; the stored descriptor is then compared with the requested parameters so a file that
 * already has verity with a different hash, block size or salt is reported. ETXTBSY is retried
 * briefly and, with `copy`, resolved by enabling a replacement copy (./copy.ts).
 *
 * Spec: docs/FORMATS.md §2.3 (EEXIST, ETXTBSY), §1.3 (descriptor fields compared).
 */
import { resolveParams, type VerityParams } from '../params.js';
import { VeritreeError, withPath, usageError, asVeritreeError } from '../report/errors.js';
import { enableVerity, measureVerity, readVerityMetadata } from './async.js';
import { enableViaCopy } from './copy.js';
import { parseStoredDescriptor } from './structs.js';
import type { EnableOptions, Measurement } from './verity.js';
import { procPath, type FileRef } from '../fs/open.js';

export type EnableStatus = 'enabled' | 'enabled-via-copy' | 'already-enabled' | 'failed';

export interface EnableOutcome {
  readonly path: string;
  readonly status: EnableStatus;
  readonly error?: VeritreeError;
  /** For `already-enabled`: how the existing verity parameters differ from the requested ones. */
  readonly mismatch?: string;
  /** When asked for (`measure`), or when it was needed to check an already-enabled file. */
  readonly measurement?: Measurement;
}

export interface BulkEnableOptions extends EnableOptions {
  /** Enable on a copy renamed into place when the file stays open for writing. */
  copy?: boolean;
  /** Also measure each file after enabling (to report digests). */
  measure?: boolean;
}

function asError(err: unknown, path: string): VeritreeError {
  if (err instanceof VeritreeError) return err;
  if (err instanceof TypeError || err instanceof RangeError) return withPath(usageError(err.message), path);
  return asVeritreeError(err, path);
}

/** How a stored descriptor differs from `want`, or undefined when it matches. */
export function describeMismatch(desc: Uint8Array, want: VerityParams): string | undefined {
  const d = parseStoredDescriptor(desc);
  const diffs: string[] = [];
  if (d.hashAlgorithm !== want.alg.id) diffs.push(`hash algorithm ${algName(d.hashAlgorithm)} (requested ${want.alg.name})`);
  if (d.blockSize !== want.blockSize) diffs.push(`block size ${d.blockSize} (requested ${want.blockSize})`);
  const haveSalt = Buffer.from(d.salt).toString('hex');
  const wantSalt = Buffer.from(want.salt).toString('hex');
  if (haveSalt !== wantSalt) diffs.push(`salt ${haveSalt || '(none)'} (requested ${wantSalt || '(none)'})`);
  return diffs.length > 0 ? `already enabled with ${diffs.join(', ')}` : undefined;
}

function algName(id: number): string {
  return id === 1 ? 'sha256' : id === 2 ? 'sha512' : `ALG_${id}`;
}

async function checkExisting(path: string | FileRef, params: VerityParams): Promise<{ mismatch?: string; measurement?: Measurement }> {
  try {
    const desc = await readVerityMetadata(path, 'descriptor', { length: 256 });
    const mismatch = describeMismatch(desc, params);
    return mismatch ? { mismatch } : {};
  } catch {
    // FS_IOC_READ_VERITY_METADATA needs Linux ≥ 5.12; the measured algorithm is what is left.
    const m = await measureVerity(path);
    return m.hashAlgorithm !== params.alg.id
      ? { mismatch: `already enabled with hash algorithm ${m.hashAlg} (requested ${params.alg.name})`, measurement: m }
      : { measurement: m };
  }
}

/** Enables fs-verity on one file and says what happened. */
export async function enableOne(target: string | FileRef, opts: BulkEnableOptions = {}): Promise<EnableOutcome> {
  const path = typeof target === 'string' ? target : target.path;
  let params: VerityParams;
  try {
    params = opts.params ?? resolveParams(opts);
  } catch (err) {
    return { path, status: 'failed', error: asError(err, path) };
  }
  const enableOpts: EnableOptions = { params, ...(opts.signature ? { signature: opts.signature } : {}), ...(opts.busyRetries !== undefined ? { busyRetries: opts.busyRetries } : {}) };
  let status: EnableStatus = 'enabled';
  let extra: { mismatch?: string; measurement?: Measurement } = {};
  try {
    try {
      await enableVerity(target, enableOpts);
    } catch (err) {
      if (err instanceof VeritreeError && err.code === 'verity-already-enabled') {
        status = 'already-enabled';
        extra = await checkExisting(target, params);
      } else if (err instanceof VeritreeError && err.code === 'file-open-for-writing' && opts.copy) {
        // The copy is made beside the file, reached through its directory's descriptor.
        await enableViaCopy(typeof target === 'string' ? target : procPath(target), enableOpts);
        status = 'enabled-via-copy';
      } else throw err;
    }
    if (opts.measure && !extra.measurement) extra = { ...extra, measurement: await measureVerity(target) };
    return { path, status, ...extra };
  } catch (err) {
    return { path, status: 'failed', error: asError(err, path) };
  }
}
