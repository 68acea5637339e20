/**
 * Reporters for `verify-cas` findings, one per output format:
 *
 * - text: `objects: N/M ok`, then one `CODE PATH: detail` line per problem (sorted by path);
 * - json: one document, `{ ok, interrupted, summary, findings }`;
 * - ndjson: one JSON object per line as things happen — a `start` event, a `finding` event per
 *   finding the moment it is known, a final `summary` event — so a store of millions of objects
 *   is reported without holding anything.
 *
 * Text and json hold the findings (they print them sorted, after the count), as compact strings;
 * none holds paths of objects that are fine. Every finding in JSON also carries `type` (= `code`), the tag name
 * `cfsctl fsck --json` uses, so a reader of cfsctl's output reads these as well.
 */
import type { Writable } from 'node:stream';
import type { CasRunInfo, CasSummary } from './check.js';
import type { RepositorySummary } from './repository.js';
import type { Finding } from './findings.js';
import { findingToJSON } from '../report/finding.js';
import { escapeText } from '../report/text.js';
import { write } from '../report/output.js';

export type ReportFormat = 'text' | 'json' | 'ndjson';

export interface FindingReporter {
  start(info: CasRunInfo): Promise<void>;
  finding(f: Finding): Promise<void>;
  finish(summary: CasSummary): Promise<void>;
}

export interface ReporterOptions {
  /** Text only: print the problem lines and nothing else. */
  readonly quiet?: boolean;
}

export function createReporter(format: ReportFormat, out: Writable, opts: ReporterOptions = {}): FindingReporter {
  switch (format) {
    case 'text':
      return new TextReporter(out, opts.quiet === true);
    case 'json':
      return new JsonReporter(out);
    case 'ndjson':
      return new NdjsonReporter(out);
  }
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

/**
 * Findings held for a sorted report, each as its rendered output behind a `path NUL code NUL`
 * sort key: one flat string per finding costs about half what the object would, and plain string
 * order is path order (NUL sorts first; names cannot contain it).
 */
class HeldFindings {
  readonly #entries: string[] = [];

  add(f: Finding, rendered: string): void {
    const entry = `${f.path}\0${f.code}\0${rendered}`;
    // Reading a character flattens V8's concatenation tree into one string, releasing the parts
    // (and the longer absolute path `f.path` was sliced from): about a third less memory per entry.
    entry.charCodeAt(0);
    this.#entries.push(entry);
  }

  get size(): number {
    return this.#entries.length;
  }

  /** The rendered findings in path order; the store is emptied as it goes. */
  *drainSorted(): Generator<string> {
    this.#entries.sort();
    for (let i = 0; i < this.#entries.length; i++) {
      const e = this.#entries[i]!;
      this.#entries[i] = '';
      yield e.slice(e.indexOf('\0', e.indexOf('\0') + 1) + 1);
    }
    this.#entries.length = 0;
  }
}

/** Resolves once the stream has taken the chunk (waits for 'drain' when its buffer is full). */
async function put(out: Writable, text: string): Promise<void> {
  await write(out, text);
}

class TextReporter implements FindingReporter {
  readonly #held = new HeldFindings();
  constructor(
    readonly out: Writable,
    readonly quiet: boolean,
  ) {}

  async start(): Promise<void> {}

  async finding(f: Finding): Promise<void> {
    const moved = f.quarantinedTo !== undefined ? `; quarantined to ${f.quarantinedTo}` : '';
    this.#held.add(f, escapeText(`${f.code} ${f.path}: ${f.detail}${moved}`) + '\n');
  }

  async finish(s: CasSummary): Promise<void> {
    if (!this.quiet) {
      const how = s.measure === undefined || s.measure === 'userspace' ? '' : ` (${s.kernelMeasured} measured by the kernel${s.enabled > 0 ? `, fs-verity enabled on ${s.enabled}` : ''})`;
      await put(this.out, `objects: ${s.objects.ok}/${s.objects.checked} ok${how}\n`);
      const r = s.repository;
      if (r !== undefined) {
        await put(this.out, `images: ${r.imagesChecked - r.imagesCorrupted}/${r.imagesChecked} ok (${r.imageFiles.ok}/${r.imageFiles.checked} files), streams: ${r.streamsChecked - r.streamsCorrupted}/${r.streamsChecked} ok, refs: ${r.refsChecked - r.refsCorrupted}/${r.refsChecked} ok\n`);
      }
    }
    for (const line of this.#held.drainSorted()) await put(this.out, line);
    if (s.interrupted) await put(this.out, 'interrupted: partial report, the check did not finish\n');
  }
}

/**
 * Written piece by piece rather than through one JSON.stringify: a document of a million findings
 * would pass V8's maximum string length. Findings are one compact object per line.
 */
class JsonReporter implements FindingReporter {
  readonly #held = new HeldFindings();
  constructor(readonly out: Writable) {}

  async start(): Promise<void> {}

  async finding(f: Finding): Promise<void> {
    this.#held.add(f, JSON.stringify(findingToJSON(f)));
  }

  async finish(s: CasSummary): Promise<void> {
    const head = { ok: s.problems === 0 && !s.interrupted, interrupted: s.interrupted, summary: summaryToJSON(s) };
    const pretty = JSON.stringify(head, null, 2);
    if (this.#held.size === 0) {
      await put(this.out, `${pretty.slice(0, -2)},\n  "findings": []\n}\n`);
      return;
    }
    await put(this.out, `${pretty.slice(0, -2)},\n  "findings": [\n`);
    let first = true;
    for (const item of this.#held.drainSorted()) {
      await put(this.out, `${first ? '' : ',\n'}    ${item}`);
      first = false;
    }
    await put(this.out, '\n  ]\n}\n');
  }
}

class NdjsonReporter implements FindingReporter {
  constructor(readonly out: Writable) {}

  async start(info: CasRunInfo): Promise<void> {
    await put(this.out, `${JSON.stringify({ event: 'start', ...info })}\n`);
  }

  async finding(f: Finding): Promise<void> {
    await put(this.out, `${JSON.stringify({ event: 'finding', ...findingToJSON(f) })}\n`);
  }

  async finish(s: CasSummary): Promise<void> {
    await put(this.out, `${JSON.stringify({ event: 'summary', ok: s.problems === 0 && !s.interrupted, interrupted: s.interrupted, ...summaryToJSON(s) })}\n`);
  }
}
