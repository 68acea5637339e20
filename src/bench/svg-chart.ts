/**
 * The `veritree bench --svg` chart, hand-written SVG with no dependencies: two panels (in-memory
 * leaves, file tree), each with one group of bars per backend and one bar per thread count; the
 * leaves panel carries the single-stream native ceiling as dashed reference lines.
 * Every bar is a `<rect class="bar">` with data-metric / data-backend / data-threads attributes.
 */
import type { BenchReport, BenchRow } from './report.js';

const WIDTH = 760;
const MARGIN_LEFT = 72;
const MARGIN_RIGHT = 24;
const PANEL_HEIGHT = 300;
const PLOT_TOP = 40;
const PLOT_HEIGHT = 210;
const HEADER = 56;
const THREAD_COLOURS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const fmt = (x: number) => Math.round(x).toLocaleString('en-US');

/** A round axis maximum ≥ `max` with 4–5 ticks: steps of 1, 2, 2.5 or 5 × 10^k. */
function niceScale(max: number): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / 5;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * pow).find((s) => s * 5 >= max)!;
  return { top: Math.ceil(max / step) * step, step };
}

interface Panel {
  readonly metric: 'leaf' | 'tree';
  readonly title: string;
  readonly value: (r: BenchRow) => number;
  readonly references: readonly { label: string; mbps: number }[];
}

function panel(report: BenchReport, p: Panel, top: number): string {
  const parts: string[] = [];
  const plotW = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
  const y0 = top + PLOT_TOP + PLOT_HEIGHT;
  const threads = report.settings.threads;
  const values = report.results.map(p.value);
  const { top: yMax, step } = niceScale(Math.max(...values, ...p.references.map((r) => r.mbps)));
  const y = (v: number) => y0 - (v / yMax) * PLOT_HEIGHT;
  parts.push(`<text x="${MARGIN_LEFT}" y="${top + 22}" class="title">${esc(p.title)}</text>`);
  for (let v = 0; v <= yMax + step / 2; v += step) {
    parts.push(`<line x1="${MARGIN_LEFT}" x2="${WIDTH - MARGIN_RIGHT}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" class="grid"/>`);
    parts.push(`<text x="${MARGIN_LEFT - 6}" y="${(y(v) + 4).toFixed(1)}" class="tick" text-anchor="end">${fmt(v)}</text>`);
  }
  parts.push(`<text x="16" y="${top + PLOT_TOP + PLOT_HEIGHT / 2}" class="tick" transform="rotate(-90 16 ${top + PLOT_TOP + PLOT_HEIGHT / 2})" text-anchor="middle">MB/s</text>`);
  const groups = report.backends;
  const groupW = plotW / Math.max(1, groups.length);
  const barW = Math.min(48, (groupW * 0.8) / Math.max(1, threads.length));
  groups.forEach((backend, g) => {
    const gx = MARGIN_LEFT + g * groupW + (groupW - barW * threads.length) / 2;
    threads.forEach((t, k) => {
      const row = report.results.find((r) => r.backend === backend && r.threads === t);
      if (!row) return;
      const v = p.value(row);
      const x = gx + k * barW;
      const h = Math.max(0, y0 - y(v));
      const colour = THREAD_COLOURS[k % THREAD_COLOURS.length];
      parts.push(
        `<rect class="bar" data-metric="${p.metric}" data-backend="${esc(backend)}" data-threads="${t}" data-mbps="${v.toFixed(1)}" ` +
          `x="${(x + 1).toFixed(1)}" y="${(y0 - h).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${colour}">` +
          `<title>${esc(`${backend}, ${t} thread${t === 1 ? '' : 's'}: ${fmt(v)} MB/s`)}</title></rect>`,
      );
      parts.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${(y0 - h - 4).toFixed(1)}" class="value" text-anchor="middle">${fmt(v)}</text>`);
    });
    parts.push(`<text x="${(MARGIN_LEFT + g * groupW + groupW / 2).toFixed(1)}" y="${y0 + 18}" class="label" text-anchor="middle">${esc(backend)}</text>`);
  });
  p.references.forEach((ref, i) => {
    const ry = y(ref.mbps).toFixed(1);
    parts.push(`<line x1="${MARGIN_LEFT}" x2="${WIDTH - MARGIN_RIGHT}" y1="${ry}" y2="${ry}" class="ref ref${i}"/>`);
    parts.push(`<text x="${WIDTH - MARGIN_RIGHT - 4}" y="${(Number(ry) - 4).toFixed(1)}" class="reflabel" text-anchor="end">${esc(`${ref.label}: ${fmt(ref.mbps)} MB/s`)}</text>`);
  });
  return parts.join('\n');
}

export function renderChart(report: BenchReport): string {
  const panels: Panel[] = [
    {
      metric: 'leaf',
      title: `${report.hashAlg}: 4 KiB leaves in memory, all threads (MB/s)`,
      value: (r) => r.leafMBps,
      references: [
        { label: 'node:crypto 1 thread', mbps: report.reference.nodeCryptoMBps },
        ...(report.reference.openssl ? [{ label: 'openssl speed', mbps: report.reference.openssl.mbps }] : []),
      ],
    },
    {
      metric: 'tree',
      title: `${report.hashAlg}: digest -r of ${report.tree.files.toLocaleString('en-US')} files, ${(report.tree.bytes / 1e6).toFixed(0)} MB (MB/s)`,
      value: (r) => r.treeMBps,
      references: [],
    },
  ];
  const height = HEADER + panels.length * PANEL_HEIGHT + 10;
  const legend = report.settings.threads
    .map((t, k) => {
      const x = MARGIN_LEFT + k * 110;
      return `<rect x="${x}" y="34" width="12" height="12" fill="${THREAD_COLOURS[k % THREAD_COLOURS.length]}"/><text x="${x + 17}" y="44" class="label">${t} thread${t === 1 ? '' : 's'}</text>`;
    })
    .join('\n');
  const heading = `veritree bench — ${report.host.cpu}, ${report.host.cores} cores, Node ${report.host.node}; auto picks ${report.auto.backend}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<style>.title{font-size:14px;font-weight:bold}.tick{font-size:11px;fill:#555}.label{font-size:12px}.value{font-size:10px;fill:#333}` +
      `.grid{stroke:#ddd;stroke-width:1}.ref{stroke:#c00;stroke-width:1.5;stroke-dasharray:6 4}.ref1{stroke:#800080}.reflabel{font-size:11px;fill:#900}</style>`,
    `<rect x="0" y="0" width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="${MARGIN_LEFT}" y="20" class="label">${esc(heading)}</text>`,
    legend,
    ...panels.map((p, i) => panel(report, p, HEADER + i * PANEL_HEIGHT)),
    '</svg>',
    '',
  ].join('\n');
}
