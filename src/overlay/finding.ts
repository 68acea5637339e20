/**
 * What the overlay checkers report: one `Finding` per problem (code, path, detail), the shape
 * every reporter consumes (src/report/finding.ts). Codes are the kebab-case vocabulary listed in
 * src/report/errors.ts (`OverlayFindingCode`); warnings never make a check fail.
 */
import type { OverlayFindingCode } from '../report/errors.js';
import { compareFindings, type Finding as ReportFinding, type Severity } from '../report/finding.js';

export type { Severity };

/** An overlay finding: the shared shape (src/report/finding.ts), always with its severity. */
export type Finding = ReportFinding<OverlayFindingCode> & { readonly severity: Severity };

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

export { compareFindings };
