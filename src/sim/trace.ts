/**
 * Workload traces for `waymond simulate`: parsing is pure (text in, Trace out); only
 * `loadTraceFile` touches the disk (and spawns `tar` for a .tbz2 archive).
 *
 * Two kinds:
 * - jobs: one row per job arriving, `time,duration` (seconds), or the Azure LLM form
 *   `TIMESTAMP,ContextTokens,GeneratedTokens`, whose duration is derived from its tokens
 *   (see `tokenDurationMs`). Each job occupies one ready member for its duration.
 * - metric: `time,value`, or bare numbers separated by whitespace (one per second, as the
 *   NASA per-second workload). The value is read as work arriving per second.
 *
 * Times are seconds from the start (numbers), ISO-8601 timestamps, or the Azure form
 * "YYYY-MM-DD HH:MM:SS.fffffff" (UTC). Every time is made relative to the earliest one.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

export interface Job {
  /** Milliseconds from the trace's origin. */
  arrival: number;
  /** Milliseconds of work on one member. */
  duration: number;
}

export interface MetricPoint {
  /** Milliseconds from the trace's origin. */
  t: number;
  value: number;
}

export type Trace =
  | { kind: 'jobs'; originMs: number; jobs: Job[]; endMs: number; attribution?: string }
  | { kind: 'metric'; originMs: number; points: MetricPoint[]; stepMs: number; endMs: number; attribution?: string };

export interface TraceOptions {
  /** Force the kind for a headerless two-column CSV (default: metric). */
  kind?: 'jobs' | 'metric';
  /** Decode speed for token traces: GeneratedTokens / this = generation seconds (default 50). */
  tokensPerSecond?: number;
  /** Prefill speed for token traces: ContextTokens / this = prompt seconds (default 2000). */
  prefillTokensPerSecond?: number;
  /** Keep only the first `maxDurationMs` of the trace. */
  maxDurationMs?: number;
}

/** When a trace has no absolute times, it starts here (the VirtualClock's default origin). */
export const DEFAULT_ORIGIN_MS = Date.UTC(2026, 0, 1);

/** The shared traces' sources and licences, shown wherever their data is (CC-BY 4.0 asks it). */
const ATTRIBUTIONS: Record<string, string> = {
  azure:
    'Azure Public Dataset, "Azure LLM inference trace 2023" (Patel et al., "Splitwise: Efficient Generative LLM Inference Using Phase Splitting", ISCA 2024). Licensed CC-BY 4.0.',
  nasa: 'NASA-HTTP logs (NASA Kennedy Space Center web server, July-August 1995) from the Internet Traffic Archive, as processed into per-second counts by the reconfigurable-ml-pipeline/web-service-datasets project.',
};

export function attributionFor(file: string): string | undefined {
  const name = basename(file).toLowerCase();
  if (name.startsWith('azure-llm-')) return ATTRIBUTIONS.azure;
  if (name.startsWith('nasa-http-') || name === 'workload.txt') return ATTRIBUTIONS.nasa;
  return undefined;
}

export class TraceError extends Error {
  override name = 'TraceError';
}

const AZURE_TIME = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d+))?$/;

/**
 * A time cell in seconds (relative: a number) or epoch milliseconds (absolute). The Azure
 * form has 7 fractional digits and no zone, which Date.parse rejects; it is UTC.
 */
export function parseTime(cell: string): { relativeS: number } | { epochMs: number } | undefined {
  const text = cell.trim();
  if (text === '') return undefined;
  if (/^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text)) return { relativeS: Number(text) };
  const azure = AZURE_TIME.exec(text);
  if (azure) {
    const fraction = (azure[3] ?? '').padEnd(3, '0').slice(0, 3);
    const ms = Date.parse(`${azure[1]}T${azure[2]}.${fraction}Z`);
    return Number.isNaN(ms) ? undefined : { epochMs: ms };
  }
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : { epochMs: ms };
}

/** The documented rule for token traces: prompt at prefill speed, then generation at decode speed. */
export function tokenDurationMs(
  contextTokens: number,
  generatedTokens: number,
  tokensPerSecond = 50,
  prefillTokensPerSecond = 2000,
): number {
  return Math.round((contextTokens / prefillTokensPerSecond + generatedTokens / tokensPerSecond) * 1000);
}

type Layout =
  | { kind: 'jobs'; time: number; duration: number }
  | { kind: 'tokens'; time: number; context: number; generated: number }
  | { kind: 'metric'; time: number; value: number };

const TIME_NAMES = ['time', 'timestamp', 't', 'arrival', 'at', 'seconds'];
const VALUE_NAMES = ['value', 'demand', 'count', 'requests', 'queue', 'depth'];
const DURATION_NAMES = ['duration', 'duration_s', 'runtime', 'length'];

function layoutFromHeader(cells: string[], file: string): Layout {
  const names = cells.map((c) => c.trim().toLowerCase());
  const find = (candidates: string[]) => names.findIndex((n) => candidates.includes(n));
  const time = find(TIME_NAMES);
  if (time < 0)
    throw new TraceError(`${file}: no time column in the header (expected one of: ${TIME_NAMES.join(', ')})`);
  const context = names.indexOf('contexttokens');
  const generated = names.indexOf('generatedtokens');
  if (context >= 0 && generated >= 0) return { kind: 'tokens', time, context, generated };
  const duration = find(DURATION_NAMES);
  if (duration >= 0) return { kind: 'jobs', time, duration };
  const value = find(VALUE_NAMES);
  if (value >= 0) return { kind: 'metric', time, value };
  throw new TraceError(
    `${file}: header "${cells.join(',')}" has neither a duration column (${DURATION_NAMES.join(', ')}), a value column (${VALUE_NAMES.join(', ')}) nor ContextTokens,GeneratedTokens`,
  );
}

function readNumber(cell: string | undefined, what: string, where: string): number {
  const value = Number((cell ?? '').trim());
  if ((cell ?? '').trim() === '' || !Number.isFinite(value) || value < 0)
    throw new TraceError(`${where}: expected ${what} (a number >= 0), found ${JSON.stringify(cell ?? '')}`);
  return value;
}

/** Parses a trace's text. `file` names it in errors and picks its attribution. */
export function parseTrace(text: string, file: string, options: TraceOptions = {}): Trace {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
  if (lines.length === 0) throw new TraceError(`${file}: the trace is empty`);
  const first = lines[0] as string;
  if (!first.includes(',')) return parseBareSeries(lines, file, options);
  const firstCells = first.split(',');
  const hasHeader = parseTime(firstCells[0] ?? '') === undefined;
  const layout: Layout = hasHeader
    ? layoutFromHeader(firstCells, file)
    : options.kind === 'jobs'
      ? { kind: 'jobs', time: 0, duration: 1 }
      : { kind: 'metric', time: 0, value: 1 };

  const rows = hasHeader ? lines.slice(1) : lines;
  const times: number[] = [];
  const numbers: number[] = [];
  let absolute: boolean | undefined;
  rows.forEach((line, i) => {
    const where = `${file}:${i + (hasHeader ? 2 : 1)}`;
    const cells = line.split(',');
    const time = parseTime(cells[layout.time] ?? '');
    if (!time)
      throw new TraceError(
        `${where}: expected a time (seconds or ISO-8601), found ${JSON.stringify(cells[layout.time] ?? '')}`,
      );
    const isAbsolute = 'epochMs' in time;
    if (absolute !== undefined && absolute !== isAbsolute)
      throw new TraceError(`${where}: mixes timestamps and seconds-from-start; use one or the other`);
    absolute = isAbsolute;
    times.push('epochMs' in time ? time.epochMs : time.relativeS * 1000);
    if (layout.kind === 'jobs') numbers.push(readNumber(cells[layout.duration], 'a duration in seconds', where) * 1000);
    else if (layout.kind === 'metric') numbers.push(readNumber(cells[layout.value], 'a value', where));
    else
      numbers.push(
        tokenDurationMs(
          readNumber(cells[layout.context], 'ContextTokens', where),
          readNumber(cells[layout.generated], 'GeneratedTokens', where),
          options.tokensPerSecond,
          options.prefillTokensPerSecond,
        ),
      );
  });
  if (times.length === 0) throw new TraceError(`${file}: the trace has a header but no rows`);
  const start = times.reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY);
  const originMs = absolute ? start : DEFAULT_ORIGIN_MS + start;
  const attribution = attributionFor(file);
  const rel = times.map((t) => t - start);
  if (layout.kind === 'metric') {
    const points = rel.map((t, i) => ({ t, value: numbers[i] as number })).sort((a, b) => a.t - b.t);
    return finishMetric(points, originMs, attribution, options);
  }
  const jobs = rel
    .map((arrival, i) => ({ arrival, duration: numbers[i] as number }))
    .sort((a, b) => a.arrival - b.arrival);
  return finishJobs(jobs, originMs, attribution, options);
}

/** Whitespace-separated numbers, one per second (the NASA per-second workload). */
function parseBareSeries(lines: string[], file: string, options: TraceOptions): Trace {
  const limit =
    options.maxDurationMs === undefined ? Number.POSITIVE_INFINITY : Math.ceil(options.maxDurationMs / 1000);
  const points: MetricPoint[] = [];
  for (const line of lines) {
    for (const cell of line.trim().split(/\s+/)) {
      if (points.length >= limit) break;
      const value = Number(cell);
      if (!Number.isFinite(value) || value < 0)
        throw new TraceError(
          `${file}: value ${points.length + 1}: expected a number >= 0, found ${JSON.stringify(cell)}`,
        );
      points.push({ t: points.length * 1000, value });
    }
  }
  return finishMetric(points, DEFAULT_ORIGIN_MS, attributionFor(file), options);
}

/** The typical spacing of points: the last point lasts that long. */
function medianStep(points: MetricPoint[]): number {
  const gaps: number[] = [];
  for (let i = 1; i < points.length; i++) {
    const gap = (points[i] as MetricPoint).t - (points[i - 1] as MetricPoint).t;
    if (gap > 0) gaps.push(gap);
  }
  if (gaps.length === 0) return 1000;
  gaps.sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)] as number;
}

function finishMetric(
  all: MetricPoint[],
  originMs: number,
  attribution: string | undefined,
  options: TraceOptions,
): Trace {
  const max = options.maxDurationMs ?? Number.POSITIVE_INFINITY;
  const points = all.filter((p) => p.t < max);
  const stepMs = medianStep(all);
  const last = points.at(-1);
  const endMs = Math.min(max, last ? last.t + stepMs : 0);
  return { kind: 'metric', originMs, points, stepMs, endMs, ...(attribution ? { attribution } : {}) };
}

function finishJobs(all: Job[], originMs: number, attribution: string | undefined, options: TraceOptions): Trace {
  const max = options.maxDurationMs ?? Number.POSITIVE_INFINITY;
  const jobs = all.filter((j) => j.arrival < max);
  // The run lasts until all work could be done with unlimited members (cut at the limit).
  let end = 0;
  for (const j of jobs) end = Math.max(end, j.arrival + j.duration);
  return { kind: 'jobs', originMs, jobs, endMs: Math.min(max, end), ...(attribution ? { attribution } : {}) };
}

/** Reads a trace file; a .tbz2/.tar.bz2 archive is streamed through `tar -xjOf` (its first file). */
export function loadTraceFile(file: string, options: TraceOptions = {}): Trace {
  let text: string;
  if (/\.(tbz2|tar\.bz2)$/i.test(file)) {
    const result = spawnSync('tar', ['-xjOf', file], { maxBuffer: 1 << 30, encoding: 'utf8' });
    if (result.error) throw new TraceError(`${file}: could not run tar: ${result.error.message}`);
    if (result.status !== 0) throw new TraceError(`${file}: tar -xjOf failed: ${result.stderr.trim()}`);
    text = result.stdout;
  } else {
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new TraceError(`${file}: cannot read the trace: ${(error as Error).message}`);
    }
  }
  return parseTrace(text, file, options);
}
