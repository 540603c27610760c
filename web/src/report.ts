// The charts of the `waymond simulate --out` report: the dashboard's uPlot lines, drawn
// from the JSON the report embeds. Bundled (with uPlot and its CSS) by
// web/vite.report.config.ts into dist/web-report, which src/sim/html.ts inlines into the
// one-file report: no network. Where scripts do not run, the report's SVG charts stay.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { CURRENT_STYLE, DESIRED_STYLE, resetOnDoubleClick, ZOOM_CURSOR } from './plot.js';

/** One config's run, as src/sim/html.ts writes it (times in ms from the trace's origin). */
interface ReportChart {
  t: number[];
  demand: number[];
  desired: number[];
  current: number[];
  ready: number[];
  endMs: number;
}

interface ReportData {
  /** Epoch ms of the trace's start, or 0 when the trace has only relative times. */
  originMs: number;
  charts: ReportChart[];
}

const HEIGHT = 280;

function duration(seconds: number): string {
  if (seconds >= 3600) return `${Number((seconds / 3600).toFixed(1))}h`;
  if (seconds >= 60) return `${Number((seconds / 60).toFixed(1))}m`;
  return `${Number(seconds.toFixed(1))}s`;
}

function draw(el: HTMLElement, chart: ReportChart, originMs: number): void {
  const toX = (ms: number) => (originMs + ms) / 1000;
  // The last counts hold to the end of the run.
  const xs = [...chart.t, chart.endMs].map(toX);
  const hold = (values: number[]) => [...values, values.at(-1) ?? 0];
  const data: uPlot.AlignedData = [xs, hold(chart.demand), hold(chart.desired), hold(chart.current), hold(chart.ready)];
  const step = uPlot.paths.stepped?.({ align: 1 });
  const range = (): [number, number] => [toX(0), toX(chart.endMs)];
  const opts: uPlot.Options = {
    width: Math.max(320, el.clientWidth),
    height: HEIGHT,
    series: [
      {},
      { label: 'demand (members needed)', stroke: '#9aa0a6', width: 1.5, paths: step },
      DESIRED_STYLE,
      { ...CURRENT_STYLE, label: 'current (incl. starting)', stroke: '#e8710a' },
      { label: 'ready', stroke: '#188038', width: 2, paths: step },
    ],
    scales: {
      x: originMs ? { time: true } : { time: false },
      y: { range: (_u, _min, max) => [0, Math.max(1, max) + 1] },
    },
    axes: [originMs ? {} : { values: (_u, ticks) => ticks.map((v) => duration(v)) }, { label: 'members' }],
    cursor: ZOOM_CURSOR,
    // The window shown, readable from the page (the axes are drawn on a canvas).
    hooks: {
      setScale: [
        (u, key) => {
          if (key === 'x') el.dataset.xRange = `${u.scales.x?.min ?? ''}..${u.scales.x?.max ?? ''}`;
        },
      ],
    },
  };
  const u = new uPlot(opts, data, el);
  resetOnDoubleClick(u, range);
  window.addEventListener('resize', () => u.setSize({ width: Math.max(320, el.clientWidth), height: HEIGHT }));
  el.dataset.rendered = 'uplot';
}

const source = document.getElementById('waymond-report-data');
if (source?.textContent) {
  const report = JSON.parse(source.textContent) as ReportData;
  for (const el of document.querySelectorAll<HTMLElement>('[data-report-chart]')) {
    const chart = report.charts[Number(el.dataset.reportChart)];
    if (!chart) continue;
    // The SVG drawn for readers without scripts gives way to the interactive chart.
    el.querySelector('svg')?.remove();
    draw(el, chart, report.originMs);
  }
  document.querySelector('.legend')?.remove();
}
