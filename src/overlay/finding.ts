/**
 * What the overlay checkers report: one `Finding` per problem (code, path, detail), the shape
 * every reporter consumes (ARCHITECTURE.md). Codes are the kebab-case vocabulary listed in
 * src/report/errors.ts (`OverlayFindingCode`); warnings never make a check fail.
 */
import type { OverlayFindingCode } from '../report/errors.js';

export type Severity = 'error' | 'warning';

export interface Finding {
  readonly code: OverlayFindingCode;
  readonly severity: Severity;
  /** The file in the image or lower directory, absolute from its root (`/a/b`). */
  readonly path: string;
  /** The object's path on disk (resolved, or the redirect when it could not be resolved). */
  readonly object?: string;
  readonly redirect?: string;
  readonly detail: string;
  /** `alg:hex` the metacopy (or legacy xattr) asks for. */
  readonly expected?: string;
  /** `alg:hex` the object really has. */
  readonly actual?: string;
}

const WARNINGS: ReadonlySet<OverlayFindingCode> = new Set<OverlayFindingCode>(['legacy-verity-xattr', 'metacopy-unknown-flags']);

export function finding(code: OverlayFindingCode, path: string, detail: string, extra: Partial<Pick<Finding, 'object' | 'redirect' | 'expected' | 'actual'>> = {}): Finding {
  if (typeof path !== 'string') throw new TypeError(`finding path must be a string, got ${typeof path}`);
  return {
    code,
    severity: WARNINGS.has(code) ? 'warning' : 'error',
    path,
    ...(extra.object !== undefined ? { object: extra.object } : {}),
    ...(extra.redirect !== undefined ? { redirect: extra.redirect } : {}),
    detail,
    ...(extra.expected !== undefined ? { expected: extra.expected } : {}),
    ...(extra.actual !== undefined ? { actual: extra.actual } : {}),
  };
}

/** `sha256:<hex>` as fsverity-utils prints digests. */
export function formatDigest(hashAlg: string, digest: Uint8Array): string {
  return `${hashAlg}:${Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).toString('hex')}`;
}

/** Stable report order: by path (byte order of the UTF-8 text), then code. */
export function compareFindings(a: Finding, b: Finding): number {
  if (a.path !== b.path) return Buffer.compare(Buffer.from(a.path), Buffer.from(b.path));
  return a.code < b.code ? -1 : a.code > b.code ? 1 : 0;
}
