/**
 * The progress line (src/report/progress.ts): redrawn in place at most 10 times a second, erased
 * at the end, silent when disabled; and through the CLI, drawn only on a terminal.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { skipAllUnless } from './helpers/skip.js';
import { ProgressLine, formatBytes, formatDuration } from '../src/report/progress.js';
import { CLI } from './helpers/cli.js';

class FakeTerminal extends Writable {
  readonly chunks: string[] = [];
  constructor(readonly columns = 100) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(chunk.toString());
    cb();
  }
}

describe('ProgressLine', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('redraws at most 10 times a second however often it is updated, then erases the line', () => {
    const term = new FakeTerminal();
    const p = new ProgressLine(term, { enabled: true, prefix: 'verify-cas', unit: 'objects', now: () => Date.now() });
    for (let ms = 0; ms < 1000; ms++) {
      p.update(ms, ms * 4096);
      vi.advanceTimersByTime(1);
    }
    expect(term.chunks.length).toBeGreaterThanOrEqual(9);
    expect(term.chunks.length).toBeLessThanOrEqual(10);
    for (const c of term.chunks) expect(c).toMatch(/^\r.*\x1b\[K$/);
    expect(term.chunks.at(-1)).toMatch(/^\rverify-cas: \d{3} objects {2}[\d.]+ MiB {2}[\d.]+ MB\/s\x1b\[K$/);
    p.done();
    expect(term.chunks.at(-1)).toBe('\r\x1b[K');
    const n = term.chunks.length;
    vi.advanceTimersByTime(5000);
    expect(term.chunks.length).toBe(n);
  });

  it('does not redraw when nothing changed, and draws nothing for a run shorter than one interval', () => {
    const term = new FakeTerminal();
    const p = new ProgressLine(term, { enabled: true, now: () => Date.now() });
    p.update(1, 10);
    vi.advanceTimersByTime(1000);
    expect(term.chunks).toHaveLength(1);
    p.done();
    const quick = new FakeTerminal();
    const q = new ProgressLine(quick, { enabled: true, now: () => Date.now() });
    q.update(5, 500);
    vi.advanceTimersByTime(50);
    q.done();
    expect(quick.chunks).toEqual([]);
  });

  it('is silent when disabled', () => {
    const term = new FakeTerminal();
    const p = new ProgressLine(term, { enabled: false, now: () => Date.now() });
    p.update(10, 1 << 20);
    vi.advanceTimersByTime(2000);
    p.done();
    expect(term.chunks).toEqual([]);
  });

  it('shows rate and, when the total is known, an ETA', () => {
    let t = 0;
    const term = new FakeTerminal();
    const p = new ProgressLine(term, { enabled: false, totalBytes: 400e6, totalFiles: 40, now: () => t });
    t = 2000;
    p.update(10, 100e6);
    expect(p.text()).toBe('10/40 files  95.4 MiB  50.0 MB/s  ETA 0:06');
    p.setTotal(undefined, undefined);
    expect(p.text()).toBe('10 files  95.4 MiB  50.0 MB/s');
    p.setTotal(40, undefined);
    expect(p.text()).toMatch(/ETA 0:06$/);
    p.done();
  });

  it('never wraps: the line is cut to the terminal width', () => {
    const term = new FakeTerminal(24);
    const p = new ProgressLine(term, { enabled: true, prefix: 'a-rather-long-prefix', now: () => Date.now() });
    p.update(123456, 1 << 30);
    vi.advanceTimersByTime(100);
    p.done();
    expect(term.chunks[0]).toBe(`\r${'a-rather-long-prefix: 123456 files'.slice(0, 23)}\x1b[K`);
  });

  it('is wanted only on a terminal, without --quiet or machine-readable output', () => {
    expect(ProgressLine.wanted({ isTTY: true })).toBe(true);
    expect(ProgressLine.wanted({ isTTY: false })).toBe(false);
    expect(ProgressLine.wanted({ isTTY: true, quiet: true })).toBe(false);
    expect(ProgressLine.wanted({ isTTY: true, machineReadable: true })).toBe(false);
  });

  it('formats sizes and durations', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(300 * 1024 * 1024)).toBe('300.0 MiB');
    expect(formatDuration(59.6)).toBe('1:00');
    expect(formatDuration(3725)).toBe('1:02:05');
  });
});

const haveScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

describe('verify-cas progress on a terminal (script(1) pty)', () => {
  skipAllUnless(haveScript ? undefined : 'script(1) (util-linux) is not installed');
  let store: string;
  beforeEach(() => {
    store = fs.mkdtempSync(path.join(os.tmpdir(), 'veritree-progress-'));
    // Enough work to outlast one 100 ms interval.
    for (let i = 0; i < 1500; i++) {
      const d = path.join(store, (i % 256).toString(16).padStart(2, '0'));
      if (i < 256) fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, i.toString(16).padStart(62, '0')), Buffer.alloc(64 << 10, i & 0xff));
    }
  });
  afterEach(() => fs.rmSync(store, { recursive: true, force: true }));

  const onPty = (args: string[]) =>
    execFileSync('script', ['-qec', [process.execPath, CLI, 'verify-cas', '--threads=1', ...args, store].map((a) => `'${a}'`).join(' '), '/dev/null'], {
      encoding: 'utf8',
      timeout: 60_000,
    });

  it('draws the line on stderr and erases it before the report', () => {
    let out = '';
    try {
      out = onPty([]);
    } catch (err) {
      out = (err as { stdout: string }).stdout; // exit 1: every object is misnamed
    }
    expect(out).toMatch(/\rverify-cas: [\d,]+ objects {2}/);
    const erased = out.lastIndexOf('\r\x1b[K');
    expect(erased).toBeGreaterThan(0);
    expect(out.indexOf('objects: 0/1500 ok')).toBeGreaterThan(erased);
  });

  it('stays silent with --quiet or --ndjson', () => {
    for (const flag of ['--quiet', '--ndjson']) {
      let out = '';
      try {
        out = onPty([flag]);
      } catch (err) {
        out = (err as { stdout: string }).stdout;
      }
      expect(out, flag).not.toContain('\x1b[K');
      expect(out, flag).not.toMatch(/\rverify-cas:/);
    }
  });
});
