/**
 * The one reporter set, for every check that reports findings (verify-cas, the repository fsck,
 * check-image, check-overlay), in the three output formats:
 *
 * - text: lines before (the summary), one line (or block) per finding sorted by path, lines after;
 * - json: one document `{ ok, interrupted?, summary, findings }`, written piece by piece (a
 *   document of a million findings would pass V8's maximum string length);
 * - ndjson: one JSON object per line as things happen — a `start` event when the check says what
 *   it is checking, a `finding` event the moment each is known, a final `summary` event — so a
 *   run over millions of objects is reported without holding anything.
 *
 * Text and json hold the findings as compact strings (they print them sorted, after the count);
 * none holds anything of what was fine. Findings in JSON carry cfsctl's `type` tag
 * (report/finding.ts).
 */
import type { Writable } from 'node:stream';
import { findingToJSON, type Finding } from './finding.js';
import { write } from './output.js';
import { escapeText } from './text.js';

export type ReportFormat = 'text' | 'json' | 'ndjson';

/** How a run ended: the verdict, and what each format prints of it. */
export interface ReportEnd {
  readonly ok: boolean;
  /** Set by checks that can be interrupted (SIGINT): then always present in machine output. */
  readonly interrupted?: boolean;
  /** The summary counters, as JSON. */
  readonly summary: Record<string, unknown>;
  /** Text: lines before the findings (not printed with `quiet`), and after them. */
  readonly textBefore?: readonly string[];
  readonly textAfter?: readonly string[];
}

export interface Reporter {
  /** ndjson: a `start` event with these fields (nothing in the other formats). */
  start(head: Record<string, unknown>): Promise<void>;
  finding(f: Finding): Promise<void>;
  finish(end: ReportEnd): Promise<void>;
}

export interface ReporterOptions {
  /** Text only: print the problem lines and nothing else. */
  readonly quiet?: boolean;
  /** Text only: how one finding reads (default `CODE PATH: detail`, escaped, one line). */
  readonly formatText?: (f: Finding) => string;
}

/** `[warning ]CODE PATH: detail` (with where quarantine moved it), escaped into one line. */
export function findingLine(f: Finding): string {
  const moved = f.quarantinedTo !== undefined ? `; quarantined to ${f.quarantinedTo}` : '';
  return `${escapeText(`${f.severity === 'warning' ? 'warning ' : ''}${f.code} ${f.path}: ${f.detail}${moved}`)}\n`;
}

export function createReporter(format: ReportFormat, out: Writable, opts: ReporterOptions = {}): Reporter {
  switch (format) {
    case 'text':
      return new TextReporter(out, opts.quiet === true, opts.formatText ?? findingLine);
    case 'json':
      return new JsonReporter(out);
    case 'ndjson':
      return new NdjsonReporter(out);
  }
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

async function put(out: Writable, text: string): Promise<void> {
  await write(out, text);
}

class TextReporter implements Reporter {
  readonly #held = new HeldFindings();
  constructor(
    readonly out: Writable,
    readonly quiet: boolean,
    readonly format: (f: Finding) => string,
  ) {}

  async start(): Promise<void> {}

  async finding(f: Finding): Promise<void> {
    this.#held.add(f, this.format(f));
  }

  async finish(end: ReportEnd): Promise<void> {
    if (!this.quiet) for (const line of end.textBefore ?? []) await put(this.out, `${line}\n`);
    for (const line of this.#held.drainSorted()) await put(this.out, line);
    for (const line of end.textAfter ?? []) await put(this.out, `${line}\n`);
  }
}

class JsonReporter implements Reporter {
  readonly #held = new HeldFindings();
  constructor(readonly out: Writable) {}

  async start(): Promise<void> {}

  async finding(f: Finding): Promise<void> {
    this.#held.add(f, JSON.stringify(findingToJSON(f)));
  }

  async finish(end: ReportEnd): Promise<void> {
    const head = { ok: end.ok, ...(end.interrupted !== undefined ? { interrupted: end.interrupted } : {}), summary: end.summary };
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

class NdjsonReporter implements Reporter {
  constructor(readonly out: Writable) {}

  async start(head: Record<string, unknown>): Promise<void> {
    await put(this.out, `${JSON.stringify({ event: 'start', ...head })}\n`);
  }

  async finding(f: Finding): Promise<void> {
    await put(this.out, `${JSON.stringify({ event: 'finding', ...findingToJSON(f) })}\n`);
  }

  async finish(end: ReportEnd): Promise<void> {
    await put(this.out, `${JSON.stringify({ event: 'summary', ok: end.ok, ...(end.interrupted !== undefined ? { interrupted: end.interrupted } : {}), ...end.summary })}\n`);
  }
}
