/**
 * `verify-cas` output over the shared reporter set (src/report/reporters.ts): the summary counters
 * as JSON (cfsctl's names where it has them) and the text summary lines (`objects: N/M ok`, and a
 * repository's images, streams and refs) that come before the findings.
 */
import type { Writable } from 'node:stream';
import type { CasRunInfo, CasSummary } from './check.js';
import type { RepositorySummary } from './repository.js';
import type { Finding } from './findings.js';
import { findingToJSON } from '../report/finding.js';
import { createReporter as createSharedReporter, type ReportFormat } from '../report/reporters.js';

export type { ReportFormat };

export interface FindingReporter {
  start(info: CasRunInfo): Promise<void>;
  finding(f: Finding): Promise<void>;
  finish(summary: CasSummary): Promise<void>;
}

export interface ReporterOptions {
  /** Text only: print the problem lines and nothing else. */
  readonly quiet?: boolean;
}

/** verify-cas over the shared reporter set: its summary lines and counters. */
export function createReporter(format: ReportFormat, out: Writable, opts: ReporterOptions = {}): FindingReporter {
  const r = createSharedReporter(format, out, opts);
  return {
    start: (info) => r.start({ ...info }),
    finding: (f) => r.finding(f),
    finish: (s) => r.finish({
      ok: s.problems === 0 && !s.interrupted,
      interrupted: s.interrupted,
      summary: summaryToJSON(s),
      textBefore: summaryLines(s),
      textAfter: s.interrupted ? ['interrupted: partial report, the check did not finish'] : [],
    }),
  };
}

/** `objects: N/M ok` (and, for a repository, its images, streams and refs). */
function summaryLines(s: CasSummary): string[] {
  const how = s.measure === undefined || s.measure === 'userspace' ? '' : ` (${s.kernelMeasured} measured by the kernel${s.enabled > 0 ? `, fs-verity enabled on ${s.enabled}` : ''})`;
  const lines = [`objects: ${s.objects.ok}/${s.objects.checked} ok${how}`];
  const r = s.repository;
  if (r !== undefined) {
    lines.push(`images: ${r.imagesChecked - r.imagesCorrupted}/${r.imagesChecked} ok (${r.imageFiles.ok}/${r.imageFiles.checked} files), streams: ${r.streamsChecked - r.streamsCorrupted}/${r.streamsChecked} ok, refs: ${r.refsChecked - r.refsCorrupted}/${r.refsChecked} ok`);
  }
  return lines;
}

export { findingToJSON };

/** Summary counts as JSON (camelCase, cfsctl's `objectsChecked`/`objectsCorrupted` included). */
export function summaryToJSON(s: CasSummary): Record<string, unknown> {
  return {
    store: s.store,
    layout: s.layout,
    hashAlg: s.hashAlg,
    blockSize: s.blockSize,
    algorithmSource: s.algorithmSource,
    objectsChecked: s.objects.checked,
    objectsOk: s.objects.ok,
    objectsCorrupted: s.objects.checked - s.objects.ok,
    bytesHashed: s.bytesHashed,
    measure: s.measure,
    kernelMeasured: s.kernelMeasured,
    enabled: s.enabled,
    problems: s.problems,
    byCode: s.byCode,
    quarantined: s.quarantined,
    ...(s.repository !== undefined ? repositoryJSON(s.repository) : {}),
    elapsedMs: s.elapsedMs,
  };
}

/** The repository counters, under cfsctl's names where it has them. */
function repositoryJSON(r: RepositorySummary): Record<string, unknown> {
  return {
    imagesChecked: r.imagesChecked,
    imagesCorrupted: r.imagesCorrupted,
    streamsChecked: r.streamsChecked,
    streamsCorrupted: r.streamsCorrupted,
    refsChecked: r.refsChecked,
    refsCorrupted: r.refsCorrupted,
    brokenLinks: r.brokenLinks,
    escapingLinks: r.escapingLinks,
    wrongKindLinks: r.wrongKindLinks,
    missingObjects: r.missingObjects,
    imageFilesChecked: r.imageFiles.checked,
    imageFilesOk: r.imageFiles.ok,
  };
}
