/**
 * The one shape of a finding — a problem a check found in what it was given (not a failure of
 * the check itself, which is a VeritreeError) — emitted by `verify-cas`, the repository fsck,
 * `check-image` and `check-overlay` alike, and its JSON form. Codes are kebab-case, cfsctl's names
 * where cfsctl has the same finding (each checker lists its codes: src/cas/findings.ts,
 * src/report/errors.ts `OverlayFindingCode`).
 */

export type Severity = 'error' | 'warning';

export interface Finding<C extends string = string> {
  readonly code: C;
  /** Absent: an error. A warning never makes a check fail. */
  readonly severity?: Severity;
  /** What the finding is about, relative to what was checked (`/`-separated). */
  readonly path: string;
  /** One line saying what is wrong. */
  readonly detail: string;
  /** The digest that was expected and the one found (bare hex with `hashAlg`, or `alg:hex`). */
  readonly expected?: string;
  readonly actual?: string;
  readonly hashAlg?: string;
  /** Symbolic errno (`EACCES`) when the OS reported the problem. */
  readonly errno?: string;
  /** Overlay checks: the object's path on disk (resolved, or the redirect when it could not be). */
  readonly object?: string;
  readonly redirect?: string;
  /** verify-cas --quarantine: where the object was moved. */
  quarantinedTo?: string;
}

/** A finding as JSON: cfsctl's `type` tag first, then the fields. */
export function findingToJSON(f: Finding): Record<string, unknown> {
  return {
    type: f.code,
    ...f,
    // cfsctl names the computed digest `measured`.
    ...(f.code === 'object-digest-mismatch' && f.actual !== undefined ? { measured: f.actual } : {}),
  };
}

/** Stable report order: by path (byte order of the UTF-8 text), then code. */
export function compareFindings(a: Finding, b: Finding): number {
  if (a.path !== b.path) return Buffer.compare(Buffer.from(a.path), Buffer.from(b.path));
  return a.code < b.code ? -1 : a.code > b.code ? 1 : 0;
}
