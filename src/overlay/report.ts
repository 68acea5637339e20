/**
 * Output of `check-image` / `check-overlay` over the shared reporter set (src/report/reporters.ts):
 *
 * - text: one `CODE PATH: detail` line per finding (warnings as `warning CODE PATH: …`), the
 *   object / expected / actual digests indented below, then `files: N checked, M ok, K problems`;
 * - json: one document `{ ok, summary, findings }`;
 * - ndjson: a `finding` event per line, then a `summary` event.
 */
import type { Writable } from 'node:stream';
import type { Finding } from './finding.js';
import type { CheckResult, CheckSummary } from './validate.js';
import { escapeText } from '../report/text.js';
import { createReporter, type ReportFormat } from '../report/reporters.js';

export type CheckReportFormat = ReportFormat;



/** Summary counts as flat camelCase JSON (no `ok` key: that is the top-level verdict). */
export function checkSummaryToJSON(s: CheckSummary, source: Record<string, unknown>): Record<string, unknown> {
  return {
    ...source,
    verity: s.verity,
    xattrPrefix: s.xattrPrefix,
    filesChecked: s.checked,
    filesOk: s.ok,
    problems: s.problems,
    warnings: s.warnings,
    objectsReferenced: s.objects.referenced,
    objectsMeasured: s.objects.measured,
    objectsHashed: s.objects.hashed,
  };
}

/** `files: N checked, M ok, K problems` (+ warnings when there are any). */
export function summaryLine(s: CheckSummary): string {
  const warn = s.warnings > 0 ? `, ${s.warnings} warning${s.warnings === 1 ? '' : 's'}` : '';
  return `files: ${s.checked} checked, ${s.ok} ok, ${s.problems} problem${s.problems === 1 ? '' : 's'}${warn}`;
}

export function formatFindingText(f: Finding): string {
  let line = `${escapeText(`${f.severity === 'warning' ? 'warning ' : ''}${f.code} ${f.path}: ${f.detail}`)}\n`;
  if (f.object !== undefined) line += `  object   ${f.object}\n`;
  if (f.expected !== undefined) line += `  expected ${f.expected}\n`;
  if (f.actual !== undefined) line += `  actual   ${f.actual}\n`;
  return line;
}

/**
 * Writes a finished check in `format` through the shared reporter set; `source` names what was
 * checked (image, lowerdir, data layers).
 */
export async function writeCheckReport(out: Writable, format: CheckReportFormat, result: CheckResult, source: Record<string, unknown>): Promise<void> {
  const { findings, summary } = result;
  const reporter = createReporter(format, out, { formatText: (f) => formatFindingText(f as Finding) });
  for (const f of findings) await reporter.finding(f);
  await reporter.finish({ ok: summary.problems === 0, summary: checkSummaryToJSON(summary, source), textAfter: [summaryLine(summary)] });
}
