/**
 * What `waymond simulate` prints: one JSON object per config (`--json`), or a table with
 * one column per config so several policies read side by side.
 */
import { basename } from 'node:path';
import { formatDuration } from '../core/duration.js';
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
}

/** The most members at once over the run. */
export function peakMembers(result: SimResult): number {
  return result.series.reduce((peak, p) => Math.max(peak, p.current), 0);
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Exactly the documented fields, rounded to the millisecond. */
export function jsonSummary(result: SimResult): JsonSummary {
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
  };
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${round3(s)}s`;
  if (s < 3600) return `${(s / 60).toFixed(1)}m`;
  return `${(s / 3600).toFixed(2)}h`;
}

/** Rows of label + one cell per config, aligned into columns. */
export function summaryTable(results: SimResult[], attribution?: string): string {
  const rows: [string, ...string[]][] = [
    ['', ...results.map((r) => basename(r.config))],
    ['input', ...results.map((r) => `${r.input} every ${formatDuration(r.tickMs)}`)],
    ['simulated', ...results.map((r) => formatSeconds(r.endMs / 1000))],
    [
      'member-seconds (cost)',
      ...results.map((r) => `${Math.round(r.memberSeconds)} (${(r.memberSeconds / 3600).toFixed(1)} member-h)`),
    ],
    ['wait p50', ...results.map((r) => formatSeconds(r.waitP50S))],
    ['wait p95', ...results.map((r) => formatSeconds(r.waitP95S))],
    ['wait max', ...results.map((r) => formatSeconds(r.waitMaxS))],
    ['over capacity', ...results.map((r) => formatSeconds(r.overCapacityS))],
    ['scale actions', ...results.map((r) => String(r.actions))],
    ['peak members', ...results.map((r) => String(peakMembers(r)))],
    ['jobs interrupted', ...results.map((r) => String(r.interrupted))],
    ['errors', ...results.map((r) => (r.errors > 0 ? `${r.errors} (first: ${r.firstError})` : '0'))],
  ];
  const widths = (rows[0] as string[]).map((_, col) => Math.max(...rows.map((row) => (row[col] ?? '').length)));
  const lines = rows.map((row) =>
    row.map((cell, col) => (col === 0 ? cell.padEnd(widths[0] ?? 0) : cell.padStart(widths[col] ?? 0))).join('  '),
  );
  if (attribution) lines.push('', `Trace: ${attribution}`);
  return `${lines.join('\n')}\n`;
}
