/**
 * The self-contained HTML report of `waymond simulate --out`: the summary table and, per
 * config, a chart of demand, desired, current and ready members over time. The charts are
 * the dashboard's uPlot lines (web/src/report.ts, built by `npm run build:web` into
 * dist/web-report) inlined with their data, so they zoom like the dashboard's; each also
 * has an inline SVG drawing, which stays where scripts do not run (and in a checkout
 * where the bundle is not built). No external script, font or CDN: the file opens
 * anywhere, offline, and can be attached to an issue. Long traces are reduced to at most
 * CHART_BUCKETS points per line (each keeping its bucket's maximum, so bursts stay visible).
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Baseline } from './compare.js';
import { formatSeconds, summaryRows } from './report.js';
import type { SeriesPoint, SimResult } from './run.js';

const CHART_BUCKETS = 1200;
const WIDTH = 960;
const HEIGHT = 260;
const PAD = { left: 48, right: 12, top: 12, bottom: 28 };

const LINES: { key: keyof Omit<SeriesPoint, 't'>; label: string; color: string; dash?: string }[] = [
  { key: 'demand', label: 'demand (members needed)', color: '#9aa0a6' },
  { key: 'desired', label: 'desired', color: '#1a73e8', dash: '6 3' },
  { key: 'current', label: 'current (incl. starting)', color: '#e8710a' },
  { key: 'ready', label: 'ready', color: '#188038' },
];

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** At most `buckets` points, each the maximum of its time bucket. */
export function downsample(series: SeriesPoint[], buckets = CHART_BUCKETS): SeriesPoint[] {
  if (series.length <= buckets) return series;
  const first = (series[0] as SeriesPoint).t;
  const span = (series.at(-1) as SeriesPoint).t - first || 1;
  const out: SeriesPoint[] = [];
  for (const p of series) {
    const bucket = Math.min(buckets - 1, Math.floor(((p.t - first) / span) * buckets));
    const t = first + (bucket / buckets) * span;
    const last = out.at(-1);
    if (last && last.t === t) {
      last.demand = Math.max(last.demand, p.demand);
      last.desired = Math.max(last.desired, p.desired);
      last.current = Math.max(last.current, p.current);
      last.ready = Math.max(last.ready, p.ready);
    } else out.push({ ...p, t });
  }
  return out;
}

function niceMax(value: number): number {
  if (value <= 1) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

/** An SVG step chart of the four lines over the run. */
export function chartSvg(result: SimResult, originMs: number): string {
  const points = downsample(result.series);
  const end = Math.max(1, result.endMs);
  const top = niceMax(Math.max(1, ...points.flatMap((p) => [p.demand, p.desired, p.current, p.ready])));
  const w = WIDTH - PAD.left - PAD.right;
  const h = HEIGHT - PAD.top - PAD.bottom;
  const x = (t: number) => (PAD.left + (t / end) * w).toFixed(1);
  const y = (v: number) => (PAD.top + h - (v / top) * h).toFixed(1);
  const parts: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    parts.push(
      `<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y(v)}" y2="${y(v)}" stroke="#e0e0e0"/>`,
      `<text x="${PAD.left - 6}" y="${y(v)}" dy="4" text-anchor="end">${Number(v.toFixed(1))}</text>`,
    );
  }
  for (let i = 0; i <= 6; i++) {
    const t = (end * i) / 6;
    const label = originMs ? new Date(originMs + t).toISOString().slice(11, 19) : formatSeconds(t / 1000);
    parts.push(`<text x="${x(t)}" y="${HEIGHT - 8}" text-anchor="middle">${label}</text>`);
  }
  for (const line of LINES) {
    let d = '';
    points.forEach((p, i) => {
      d += i === 0 ? `M${x(p.t)},${y(p[line.key])}` : `H${x(p.t)}V${y(p[line.key])}`;
    });
    if (points.length > 0) d += `H${x(end)}`;
    const dash = line.dash ? ` stroke-dasharray="${line.dash}"` : '';
    parts.push(`<path d="${d}" fill="none" stroke="${line.color}" stroke-width="1.5"${dash}/>`);
  }
  const title = `demand, desired, current and ready members of ${basename(result.config)}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeHtml(title)}"><title>${escapeHtml(title)}</title>${parts.join('')}</svg>`;
}

/** The report's chart code and CSS: dist/web-report next to dist/sim (the package), or from src/sim under tsx. */
export interface ChartBundle {
  js: string;
  css: string;
}

let bundle: ChartBundle | null | undefined;

export function chartBundle(): ChartBundle | null {
  if (bundle !== undefined) return bundle;
  const dir = [
    fileURLToPath(new URL('../web-report/', import.meta.url)),
    fileURLToPath(new URL('../../dist/web-report/', import.meta.url)),
  ].find((d) => existsSync(join(d, 'report.js')));
  bundle = dir
    ? { js: readFileSync(join(dir, 'report.js'), 'utf8'), css: readFileSync(join(dir, 'report.css'), 'utf8') }
    : null;
  return bundle;
}

/** Text safe inside <script> or <style>: no `</` can close the element early. */
function inlineable(text: string): string {
  return text.replace(/<\//g, '<\\/');
}

/** The points each chart draws, as report.ts reads them (one array per line). */
export function chartData(results: SimResult[], originMs: number): string {
  const charts = results.map((r) => {
    const points = downsample(r.series);
    return {
      t: points.map((p) => p.t),
      demand: points.map((p) => p.demand),
      desired: points.map((p) => p.desired),
      current: points.map((p) => p.current),
      ready: points.map((p) => p.ready),
      endMs: Math.max(1, r.endMs),
    };
  });
  // `<` escaped: the JSON sits inside a <script> element.
  return JSON.stringify({ originMs, charts }).replace(/</g, '\\u003c');
}

function legend(): string {
  return `<p class="legend">${LINES.map(
    (l) =>
      `<span><svg width="24" height="8"><line x1="0" x2="24" y1="4" y2="4" stroke="${l.color}" stroke-width="2"${l.dash ? ` stroke-dasharray="${l.dash}"` : ''}/></svg> ${escapeHtml(l.label)}</span>`,
  ).join(' ')}</p>`;
}

export interface HtmlReportInput {
  results: SimResult[];
  /** The zero-wait bound and the HPA default's replay, shown beside the configs. */
  baseline: Baseline;
  traceFile: string;
  traceKind: 'jobs' | 'metric';
  originMs: number;
  startupMs: number;
  attribution?: string;
}

export function htmlReport(input: HtmlReportInput): string {
  // The bound and the HPA default first, then each config: the same rows as the text table.
  const [head, ...body] = summaryRows(input.results, input.baseline);
  const cells = (tag: 'th' | 'td', row: string[]) =>
    row.map((cell, i) => `<${i === 0 ? 'th' : tag}>${escapeHtml(cell)}</${i === 0 ? 'th' : tag}>`).join('');
  const table = [
    `<tr>${cells('th', head as string[])}</tr>`,
    ...body.map((row) => `<tr>${cells('td', row)}</tr>`),
  ].join('\n');
  // The HPA default gets a chart too, last, so its fleet can be set against the configs'.
  const results = input.baseline.hpa ? [...input.results, input.baseline.hpa] : input.results;
  const charts = results
    .map(
      (r, i) =>
        `<section><h2>${escapeHtml(basename(r.config))}</h2><div class="chart" data-report-chart="${i}">${chartSvg(r, input.originMs)}</div></section>`,
    )
    .join('\n');
  const code = chartBundle();
  const scripts = code
    ? `<script type="application/json" id="waymond-report-data">${chartData(results, input.originMs)}</script>
<script>${inlineable(code.js)}</script>`
    : '';
  const attribution = input.attribution
    ? `<footer><h2>Trace attribution</h2><p>${escapeHtml(input.attribution)}</p></footer>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>waymond simulate: ${escapeHtml(basename(input.traceFile))}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #202124; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 4px 12px; border-bottom: 1px solid #e0e0e0; text-align: right; }
th:first-child { text-align: left; }
svg text { font: 11px system-ui, sans-serif; fill: #5f6368; }
.legend span { margin-right: 1.5em; white-space: nowrap; }
footer { margin-top: 2em; color: #5f6368; }
</style>${code ? `\n<style>${inlineable(code.css)}</style>` : ''}
</head>
<body>
<h1>waymond simulate</h1>
<p>Trace <code>${escapeHtml(input.traceFile)}</code> (${input.traceKind}), members ready ${input.startupMs / 1000}s after they start. The zero-wait bound is the least member time that serves all work on arrival when the arrivals are known in advance; the HPA default is one member per job (or per member capacity of the metric) with the HPA's default behaviour (5-minute scale-down window), read every 15s, no busy check.</p>
<table>
${table}
</table>
${legend()}
${charts}
${attribution}
${scripts}
</body>
</html>
`;
}
