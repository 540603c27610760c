// One scaler over time: desired and current counts with the signals that drove them, on one
// time axis (uPlot). Drag to zoom into a window, double-click to zoom out again.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Series } from './api.js';
import { shortId } from './api.js';
import { CURRENT_STYLE, DESIRED_STYLE, resetOnDoubleClick, ZOOM_CURSOR } from './plot.js';

const COLORS = ['#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d'];

export interface Counts {
  desired?: number;
  observed?: number;
}

export interface ChartData {
  data: uPlot.AlignedData;
  series: uPlot.Series[];
  /** Points per series (for the page's tests and the legend). */
  counts: number[];
}

/**
 * Merges every series onto one sorted time axis (seconds), null where a series has no point.
 * The lines run on to `until` (now) at the counts the scaler reports now.
 */
export function alignSeries(s: Series, until: number, now: Counts = {}): ChartData {
  const last = s.decisions.at(-1);
  // Resyncs that change nothing are not stored: what the scaler reports now ends the lines.
  const tail = last && {
    ...last,
    time: until,
    desired: now.desired ?? last.desired,
    observed: now.observed ?? last.observed,
  };
  const decisions = tail && last.time < until ? [...s.decisions, tail] : s.decisions;
  const columns: { label: string; points: { time: number; value: number | null }[]; style: uPlot.Series }[] = [
    {
      label: 'desired',
      points: decisions.map((d) => ({ time: d.time, value: d.desired })),
      style: DESIRED_STYLE,
    },
    {
      label: 'current',
      points: decisions.map((d) => ({ time: d.time, value: d.observed })),
      style: CURRENT_STYLE,
    },
    {
      label: 'requested',
      points: s.requested.map((p) => ({ time: p.time, value: p.value })),
      style: { stroke: '#dc2626', width: 0, points: { show: true, size: 7, fill: '#dc2626' } },
    },
  ];
  Object.entries(s.signals).forEach(([address, points], i) => {
    columns.push({
      label: `${shortId(address)} value`,
      points,
      style: { stroke: COLORS[i % COLORS.length], width: 1.5, scale: 'signal' },
    });
  });
  const times = [...new Set(columns.flatMap((c) => c.points.map((p) => p.time)))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const data: (number | null)[][] = [times.map((t) => t / 1000)];
  for (const c of columns) {
    const row: (number | null)[] = new Array(times.length).fill(null);
    for (const p of c.points) row[index.get(p.time) as number] = p.value;
    data.push(row);
  }
  return {
    data: data as uPlot.AlignedData,
    series: [{}, ...columns.map((c) => ({ label: c.label, spanGaps: true, ...c.style }))],
    counts: columns.map((c) => c.points.length),
  };
}

export function Chart({ series, from, to, now }: { series: Series; from: number; to: number; now?: Counts }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  // Once the user drags a window, live updates keep it (double-click returns to the range).
  const zoomed = useRef(false);
  const range = useRef([from, to]);
  range.current = [from, to];
  const chart = alignSeries(series, to, now);
  const shape = chart.series.map((s) => s.label).join('|');

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const hasSignal = Object.keys(series.signals).length > 0;
    const opts: uPlot.Options = {
      width: Math.max(320, el.clientWidth),
      height: 320,
      series: chart.series,
      scales: {
        x: { time: true },
        y: { range: (_u, min, max) => [0, Math.max(1, max, min) + 1] },
        signal: { range: (_u, min, max) => [Math.min(0, min), Math.max(1, max) * 1.1] },
      },
      axes: [{}, { label: 'members' }, ...(hasSignal ? [{ scale: 'signal', side: 1, label: 'signal' }] : [])],
      cursor: ZOOM_CURSOR,
      hooks: { setSelect: [() => (zoomed.current = true)] },
    };
    const u = new uPlot(opts, chart.data, el);
    plot.current = u;
    resetOnDoubleClick(
      u,
      () => [(range.current[0] ?? 0) / 1000, (range.current[1] ?? 0) / 1000],
      () => (zoomed.current = false),
    );
    const onResize = () => u.setSize({ width: Math.max(320, el.clientWidth), height: 320 });
    window.addEventListener('resize', onResize);
    return () => {
      window.removeEventListener('resize', onResize);
      u.destroy();
      plot.current = null;
    };
    // A new set of series needs a new plot; new points only need setData below.
  }, [shape]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    u.setData(chart.data, false);
    if (!zoomed.current) u.setScale('x', { min: from / 1000, max: to / 1000 });
  });

  return (
    <div
      class="chart"
      ref={box}
      data-testid="chart"
      data-decisions={series.decisions.length}
      data-requested-points={chart.counts[2]}
      data-last-desired={series.decisions.at(-1)?.desired ?? ''}
    />
  );
}
