/**
 * The fault suite's one summary: each case records its figures (orphans, duplicates,
 * convergence ms, named errors…) and the suite prints them together at the end, in the
 * form docs/reliability.md records. Figures are printed, never asserted on their timing.
 */

export type Figure = string | number;

const rows: { name: string; figures: Record<string, Figure> }[] = [];

export function recordFigures(name: string, figures: Record<string, Figure>): void {
  rows.push({ name, figures });
}

/** Median and range of a list of milliseconds, e.g. "median 1290 ms (800-2440)". */
export function spread(values: number[]): string {
  if (values.length === 0) return 'none';
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted[Math.floor(sorted.length / 2)] as number;
  return `median ${Math.round(mid)} ms (${Math.round(sorted[0] as number)}-${Math.round(sorted.at(-1) as number)})`;
}

export function summary(): string {
  const lines = ['fault suite summary (figures, not asserts):'];
  for (const { name, figures } of rows) {
    lines.push(`- ${name}`);
    for (const [key, value] of Object.entries(figures)) lines.push(`    ${key}: ${value}`);
  }
  return lines.join('\n');
}
