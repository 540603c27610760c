// What the dashboard's chart and the `simulate` report share: the same uPlot lines for
// desired and current (stepped: a count holds until the next decision) and the same
// zoom (drag across to zoom in, double-click to zoom back out).
import uPlot from 'uplot';

export const DESIRED_STYLE: uPlot.Series = {
  label: 'desired',
  stroke: '#2563eb',
  width: 2,
  paths: uPlot.paths.stepped?.({ align: 1 }),
};

export const CURRENT_STYLE: uPlot.Series = {
  label: 'current',
  stroke: '#16a34a',
  width: 2,
  dash: [6, 4],
  paths: uPlot.paths.stepped?.({ align: 1 }),
};

/** Drag across the x axis selects a window to zoom into. */
export const ZOOM_CURSOR: uPlot.Cursor = { drag: { x: true, y: false } };

/** Double-click returns the x axis to `range()` (in uPlot's units); `onReset` runs first. */
export function resetOnDoubleClick(u: uPlot, range: () => [number, number], onReset?: () => void): void {
  u.over.addEventListener('dblclick', () => {
    onReset?.();
    const [min, max] = range();
    u.setScale('x', { min, max });
  });
}
