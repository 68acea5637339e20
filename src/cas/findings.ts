/**
 * What `verify-cas` reports about a content-addressed object store: one `Finding` per problem,
 * with a kebab-case code. Where the meaning overlaps `cfsctl fsck --json` (composefs-rs
 * `repository::FsckError`, serialised with `type` as the tag) the same name is used, so tools that
 * read one can read the other; the rest are veritree's own. Findings are made here only.
 */

import type { Finding as ReportFinding } from '../report/finding.js';

/** Codes shared with cfsctl's fsck (same name, same meaning). */
export const CFSCTL_CODES = [
  'object-digest-mismatch',
  'object-invalid-name',
  'object-open-failed',
  'object-verity-failed',
  'unexpected-file-type',
  'metadata-parse-failed',
] as const;

/** veritree's own codes, for problems cfsctl does not look for. */
export const OWN_CODES = [
  'unexpected-symlink',
  'stray-temp-file',
  'unexpected-entry',
  'directory-open-failed',
  'file-changed',
  'quarantine-failed',
  'object-not-verity',
  'kernel-userspace-mismatch',
  'verity-not-supported',
  'object-enable-failed',
] as const;

/** Codes of the repository check (src/cas/repository.ts) that `cfsctl fsck --json` also uses. */
export const REPOSITORY_CFSCTL_CODES = [
  'entry-not-symlink',
  'broken-symlink',
  'stat-failed',
  'image-open-failed',
  'image-read-failed',
  'image-invalid',
  'image-missing-object',
] as const;

/** The repository check's own codes: links judged without following them, image contents. */
export const REPOSITORY_OWN_CODES = [
  'link-escapes-repository',
  'link-wrong-kind',
  'image-name-mismatch',
  'image-object-digest-mismatch',
  'image-object-not-verity',
  'image-object-not-regular',
  'image-object-open-failed',
  'image-metacopy-invalid',
  'image-metacopy-no-digest',
  'image-redirect-invalid',
  'image-redirect-escapes-layer',
  'image-lower-read-failed',
] as const;

export type FindingCode =
  | (typeof CFSCTL_CODES)[number]
  | (typeof OWN_CODES)[number]
  | (typeof REPOSITORY_CFSCTL_CODES)[number]
  | (typeof REPOSITORY_OWN_CODES)[number];

/** A store finding: the shared shape (src/report/finding.ts) with the store's codes. */
export type Finding = ReportFinding<FindingCode>;

export function digestMismatch(path: string, hashAlg: string, expected: string, actual: string): Finding {
  return { code: 'object-digest-mismatch', path, detail: `measured ${actual}, name says ${expected}`, hashAlg, expected, actual };
}

export function invalidName(path: string, why: string): Finding {
  return { code: 'object-invalid-name', path, detail: why };
}

export function openFailed(path: string, why: string, errno?: string): Finding {
  return { code: 'object-open-failed', path, detail: why, ...(errno ? { errno } : {}) };
}

export function verityFailed(path: string, why: string, errno?: string): Finding {
  return { code: 'object-verity-failed', path, detail: why, ...(errno ? { errno } : {}) };
}

export function fileChangedWhileHashed(path: string, why: string): Finding {
  return { code: 'file-changed', path, detail: why };
}

export function unexpectedFileType(path: string, kind: string, where: string): Finding {
  return { code: 'unexpected-file-type', path, detail: `${kind} where ${where} belongs` };
}

export function unexpectedSymlink(path: string): Finding {
  return { code: 'unexpected-symlink', path, detail: 'symbolic link (not followed)' };
}

export function strayTempFile(path: string): Finding {
  return { code: 'stray-temp-file', path, detail: 'leftover temporary file of an interrupted write' };
}

export function unexpectedEntry(path: string, kind: string): Finding {
  return { code: 'unexpected-entry', path, detail: `${kind} that is not part of the store layout` };
}

export function directoryOpenFailed(path: string, why: string, errno?: string): Finding {
  return { code: 'directory-open-failed', path, detail: `cannot read directory: ${why}`, ...(errno ? { errno } : {}) };
}

export function metadataParseFailed(path: string, why: string): Finding {
  return { code: 'metadata-parse-failed', path, detail: why };
}

/** `--measure kernel|both`: the object has no fs-verity, so the kernel cannot vouch for it. */
export function objectNotVerity(path: string): Finding {
  return { code: 'object-not-verity', path, detail: 'fs-verity is not enabled on this object (FS_IOC_MEASURE_VERITY: ENODATA)' };
}

/** `--measure both`: the kernel's digest and veritree's own computation disagree. */
export function kernelUserspaceMismatch(path: string, hashAlg: string, kernel: string, userspace: string): Finding {
  return { code: 'kernel-userspace-mismatch', path, hashAlg, expected: kernel, actual: userspace, detail: `the kernel measures ${hashAlg}:${kernel}, veritree computes ${hashAlg}:${userspace}` };
}

/** `--enable` (or `--measure kernel|both`) on a filesystem without fs-verity: said once per run. */
export function verityNotSupported(path: string, why: string, errno?: string): Finding {
  return { code: 'verity-not-supported', path, detail: why, ...(errno ? { errno } : {}) };
}

export function enableFailed(path: string, why: string, errno?: string): Finding {
  return { code: 'object-enable-failed', path, detail: why, ...(errno ? { errno } : {}) };
}

export function quarantineFailed(path: string, why: string, errno?: string): Finding {
  return { code: 'quarantine-failed', path, detail: `not quarantined, left in place: ${why}`, ...(errno ? { errno } : {}) };
}

/**
 * Temporary names writers leave behind when interrupted: mkcomposefs (composefs ≥ 1.0) writes
 * `<store>/.tmpXXXXXX` (mkostemp) and renames it into place; composefs-rs writes O_TMPFILE (no
 * name) but other tools commonly use `*.tmp`.
 */
export function isTempName(name: string): boolean {
  return name.startsWith('.tmp') || name.endsWith('.tmp');
}
