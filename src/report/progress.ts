/**
 * A one-line progress display for long bulk runs (`verify-cas`, `digest -r`): files done, bytes,
 * MB/s and — when the total is known — ETA, redrawn in place at most 10 times a second on a
 * terminal and erased when the run ends. Whether to show it is the caller's call
 * (`ProgressLine.wanted`: stderr is a TTY, no --quiet, no machine-readable output).
 *
 * Written here rather than taken from npm: the job is two escape sequences (`\r` and "erase to end
 * of line") plus a timer; log-update 8 needs Node ≥ 22 and, like its 6.x line, pulls cli-cursor →
 * restore-cursor → signal-exit, which installs its own SIGINT handling that would fight verify-cas's
 * graceful interrupt; cli-progress is a bar/template library far larger than one status line.
 */
import type { Writable } from 'node:stream';

export interface ProgressOptions {
  /** Draw at all (false: every method is a no-op). */
  readonly enabled: boolean;
  /** Text before the counts, e.g. `verify-cas`. */
  readonly prefix?: string;
  /** What is being counted, e.g. `objects` (default `files`). */
  readonly unit?: string;
  readonly totalFiles?: number;
  readonly totalBytes?: number;
  /** Minimum time between redraws (default 100 ms: ≤ 10 per second). */
  readonly intervalMs?: number;
  /** Clock in ms (tests inject one). */
  readonly now?: () => number;
}

type ProgressStream = Writable & { columns?: number };

const ERASE_TO_EOL = '\x1b[K';

export class ProgressLine {
  readonly #out: ProgressStream;
  readonly #enabled: boolean;
  readonly #prefix: string;
  readonly #unit: string;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #started: number;
  #totalFiles: number | undefined;
  #totalBytes: number | undefined;
  #files = 0;
  #bytes = 0;
  // Dirty from the start: a first large file still gets a line after one interval.
  #dirty = true;
  #drawn = false;
  #timer: NodeJS.Timeout | undefined;

  /** Show progress only on a terminal, and never alongside --quiet or JSON output. */
  static wanted(o: { isTTY: boolean; quiet?: boolean; machineReadable?: boolean }): boolean {
    return o.isTTY && o.quiet !== true && o.machineReadable !== true;
  }

  constructor(out: ProgressStream, opts: ProgressOptions) {
    this.#out = out;
    this.#enabled = opts.enabled;
    this.#prefix = opts.prefix ?? '';
    this.#unit = opts.unit ?? 'files';
    this.#intervalMs = Math.max(1, opts.intervalMs ?? 100);
    this.#now = opts.now ?? (() => performance.now());
    this.#started = this.#now();
    this.#totalFiles = opts.totalFiles;
    this.#totalBytes = opts.totalBytes;
    if (this.#enabled) {
      // The timer, not the updates, paces redraws; unref'd so it never keeps the process alive.
      this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
      this.#timer.unref();
    }
  }

  /** Running totals (absolute, not increments). */
  update(files: number, bytes: number): void {
    this.#files = files;
    this.#bytes = bytes;
    this.#dirty = true;
  }

  add(files: number, bytes: number): void {
    this.update(this.#files + files, this.#bytes + bytes);
  }

  setTotal(totalFiles?: number, totalBytes?: number): void {
    this.#totalFiles = totalFiles;
    this.#totalBytes = totalBytes;
    this.#dirty = true;
  }

  /** Stops redrawing and erases the line (call before printing results). */
  done(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#drawn) this.#out.write(`\r${ERASE_TO_EOL}`);
    this.#drawn = false;
  }

  /** The status text as it would be drawn now. */
  text(): string {
    const seconds = Math.max(1e-3, (this.#now() - this.#started) / 1000);
    const rate = this.#bytes / seconds;
    const parts = [`${this.#files.toLocaleString('en-US')}${this.#totalFiles !== undefined ? `/${this.#totalFiles.toLocaleString('en-US')}` : ''} ${this.#unit}`, formatBytes(this.#bytes), `${(rate / 1e6).toFixed(1)} MB/s`];
    const eta = this.#eta(seconds, rate);
    if (eta !== undefined) parts.push(`ETA ${formatDuration(eta)}`);
    return (this.#prefix ? `${this.#prefix}: ` : '') + parts.join('  ');
  }

  #eta(seconds: number, rate: number): number | undefined {
    if (this.#totalBytes !== undefined && rate > 0) return Math.max(0, (this.#totalBytes - this.#bytes) / rate);
    if (this.#totalFiles !== undefined && this.#files > 0) return Math.max(0, ((this.#totalFiles - this.#files) * seconds) / this.#files);
    return undefined;
  }

  #tick(): void {
    if (!this.#dirty) return;
    this.#dirty = false;
    // One column short of the width: a line that wraps cannot be redrawn with \r.
    // A pty without a size reports 0 columns: assume the classic 80 then.
    const columns = this.#out.columns !== undefined && this.#out.columns > 0 ? this.#out.columns : 80;
    const width = Math.max(10, columns - 1);
    const t = this.text();
    this.#out.write(`\r${t.length > width ? t.slice(0, width) : t}${ERASE_TO_EOL}`);
    this.#drawn = true;
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/** `m:ss`, or `h:mm:ss` past an hour. */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
