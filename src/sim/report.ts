/**
 * What `waymond simulate` prints: one JSON object per config (`--json`), or a table with
 * one column per config so several policies read side by side.
 */
import { basename } from 'node:path';
import { formatDuration } from '../core/duration.js';
import { type Baseline, type Comparison, compare } from './compare.js';
import type { SimResult } from './run.js';

export interface JsonSummary {
  config: string;
  member_seconds: number;
  wait_p50_s: number;
  wait_p95_s: number;
  wait_max_s: number;
  over_capacity_s: number;
  actions: number;
  /** Jobs stopped with their member by scale-in and queued again. */
  interrupted: number;
  /** The most members there were at once (starting ones included). */
  peak_members: number;
  /** Agent-seconds of the zero-wait bound of the trace (src/sim/bound.ts). */
  bound_member_seconds: number;
  /** member_seconds / bound_member_seconds. */
  vs_bound: number;
  /** The HPA default replayed on the same trace (null with --no-baseline). */
  hpa_default_member_seconds: number | null;
  hpa_default_wait_p95_s: number | null;
  /** member_seconds / hpa_default_member_seconds: 0.64 is 36 % fewer agent-seconds. */
  vs_hpa_default: number | null;
}

/** The most members at once over the run. */
export function peakMembers(result: SimResult): number {
  return result.series.reduce((peak, p) => Math.max(peak, p.current), 0);
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Exactly the documented fields, rounded to the millisecond (ratios to 1/1000). */
export function jsonSummary(result: SimResult, baseline: Baseline): JsonSummary {
  const c = compare(result, baseline);
  return {
    config: result.config,
    member_seconds: round3(result.memberSeconds),
    wait_p50_s: round3(result.waitP50S),
    wait_p95_s: round3(result.waitP95S),
    wait_max_s: round3(result.waitMaxS),
    over_capacity_s: round3(result.overCapacityS),
    actions: result.actions,
    interrupted: result.interrupted,
    peak_members: peakMembers(result),
    bound_member_seconds: round3(c.boundMemberSeconds),
    vs_bound: round3(c.vsBound),
    hpa_default_member_seconds: c.hpaMemberSeconds === undefined ? null : round3(c.hpaMemberSeconds),
    hpa_default_wait_p95_s: c.hpaWaitP95S === undefined ? null : round3(c.hpaWaitP95S),
    vs_hpa_default: c.vsHpa === undefined ? null : round3(c.vsHpa),
  };
}

/** "0.64 (−36 %)": a cost ratio and the change it is. */
export function formatRatio(ratio: number | undefined): string {
  if (ratio === undefined) return '—';
  if (!Number.isFinite(ratio)) return '∞';
  const change = Math.round((ratio - 1) * 100);
  if (change === 0) return `${ratio.toFixed(2)} (±0 %)`;
  return `${ratio.toFixed(2)} (${change < 0 ? '−' : '+'}${Math.abs(change)} %)`;
}

/** One column of the summary: the bound, the HPA default or a config, with what it is compared to. */
interface Column {
  name: string;
  result?: SimResult;
  comparison?: Comparison;
}

/** The columns side by side: the zero-wait bound, the HPA default (when replayed), then each config. */
function columnsOf(results: SimResult[], baseline: Baseline): Column[] {
  const hpa = baseline.hpa;
  return [
    { name: 'zero-wait bound' },
    ...(hpa ? [{ name: 'HPA default', result: hpa, comparison: compare(hpa, baseline) }] : []),
    ...results.map((r) => ({ name: basename(r.config), result: r, comparison: compare(r, baseline) })),
  ];
}

/** The rows of the summary, label first, for the text table and the HTML report alike. */
export function summaryRows(results: SimResult[], baseline: Baseline): [string, ...string[]][] {
  const columns = columnsOf(results, baseline);
  const row = (label: string, cell: (c: Column) => string): [string, ...string[]] => [label, ...columns.map(cell)];
  const of =
    (cell: (r: SimResult) => string, bound = '—') =>
    (c: Column) =>
      c.result ? cell(c.result) : bound;
  const boundS = baseline.boundMemberSeconds;
  return [
    row('', (c) => c.name),
    row(
      'input',
      of((r) => `${r.input} every ${formatDuration(r.tickMs)}`, 'arrivals known'),
    ),
    row(
      'simulated',
      of((r) => formatSeconds(r.endMs / 1000)),
    ),
    row(
      'member-seconds (cost)',
      (c) =>
        `${Math.round(c.result?.memberSeconds ?? boundS)} (${((c.result?.memberSeconds ?? boundS) / 3600).toFixed(1)} member-h)`,
    ),
    row('× zero-wait bound', (c) => (c.comparison ? c.comparison.vsBound.toFixed(2) : '1.00')),
    row('vs HPA default', (c) => (c.comparison?.vsHpa === undefined ? '—' : formatRatio(c.comparison.vsHpa))),
    row(
      'wait p50',
      of((r) => formatSeconds(r.waitP50S), '0s'),
    ),
    row(
      'wait p95',
      of((r) => formatSeconds(r.waitP95S), '0s'),
    ),
    row(
      'wait max',
      of((r) => formatSeconds(r.waitMaxS), '0s'),
    ),
    row(
      'over capacity',
      of((r) => formatSeconds(r.overCapacityS), '0s'),
    ),
    row(
      'scale actions',
      of((r) => String(r.actions)),
    ),
    row(
      'peak members',
      of((r) => String(peakMembers(r))),
    ),
    row(
      'jobs interrupted',
      of((r) => String(r.interrupted), '0'),
    ),
    row(
      'errors',
      of((r) => (r.errors > 0 ? `${r.errors} (first: ${r.firstError})` : '0')),
    ),
  ];
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${round3(s)}s`;
  if (s < 3600) return `${(s / 60).toFixed(1)}m`;
  return `${(s / 3600).toFixed(2)}h`;
}

/** Rows of label + one cell per column (bound, HPA default, configs), aligned. */
export function summaryTable(results: SimResult[], baseline: Baseline, attribution?: string): string {
  const rows = summaryRows(results, baseline);
  const widths = (rows[0] as string[]).map((_, col) => Math.max(...rows.map((row) => (row[col] ?? '').length)));
  const lines = rows.map((row) =>
    row.map((cell, col) => (col === 0 ? cell.padEnd(widths[0] ?? 0) : cell.padStart(widths[col] ?? 0))).join('  '),
  );
  if (attribution) lines.push('', `Trace: ${attribution}`);
  return `${lines.join('\n')}\n`;
}
