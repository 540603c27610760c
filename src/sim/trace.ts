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
 *
 * `readTraceFile` (what `waymond simulate` uses) streams the file, or a .tbz2 through the
 * decompressor, and stops reading once a per-second series has `maxDurationMs` of values:
 * a day of the 58-day NASA trace decompresses about one day. A CSV is read whole: its rows
 * need not be in order, and its origin is its earliest time.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
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

/** A trace's significant lines: not blank, not a `#` comment. */
function isSignificant(line: string): boolean {
  return line.trim() !== '' && !line.trimStart().startsWith('#');
}

/** Parses a trace's text. `file` names it in errors and picks its attribution. */
export function parseTrace(text: string, file: string, options: TraceOptions = {}): Trace {
  return parseTraceLines(text.split(/\r?\n/).filter(isSignificant), file, options);
}

/** Parses a trace's significant lines (see `isSignificant`). */
function parseTraceLines(lines: string[], file: string, options: TraceOptions): Trace {
  if (lines.length === 0) throw new TraceError(`${file}: the trace is empty`);
  const first = lines[0] as string;
  if (!first.includes(',')) {
    const series = new BareSeries(file, options);
    for (const line of lines) if (!series.add(line)) break;
    return series.finish();
  }
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

/**
 * Whitespace-separated numbers, one per second (the NASA per-second workload), fed a line at
 * a time. `add` answers false once the series holds `maxDurationMs` of values: what follows
 * is never read, so it need not even be decompressed.
 */
class BareSeries {
  private readonly limit: number;
  private readonly points: MetricPoint[] = [];

  constructor(
    private readonly file: string,
    private readonly options: TraceOptions,
  ) {
    this.limit =
      options.maxDurationMs === undefined ? Number.POSITIVE_INFINITY : Math.ceil(options.maxDurationMs / 1000);
  }

  add(line: string): boolean {
    const points = this.points;
    for (const cell of line.trim().split(/\s+/)) {
      if (points.length >= this.limit) return false;
      const value = Number(cell);
      if (!Number.isFinite(value) || value < 0)
        throw new TraceError(
          `${this.file}: value ${points.length + 1}: expected a number >= 0, found ${JSON.stringify(cell)}`,
        );
      points.push({ t: points.length * 1000, value });
    }
    return points.length < this.limit;
  }

  finish(): Trace {
    return finishMetric(this.points, DEFAULT_ORIGIN_MS, attributionFor(this.file), this.options);
  }
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

/** Reads a whole trace file at once; a .tbz2/.tar.bz2 archive through `tar -xjOf` (its first file). `readTraceFile` streams. */
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

/** What `readTraceFile` read: how much of the (decompressed) text it saw before it stopped. */
export interface TraceReadStats {
  chars: number;
}

const ARCHIVE = /\.(tbz2|tar\.bz2)$/i;

/** A first line this long with no comma yet is a per-second series (the NASA trace is one line). */
const SERIES_DECIDED_AT = 65_536;

/**
 * Reads a trace file as a stream (a .tbz2/.tar.bz2 archive through `tar -xjOf`, its first
 * file) and gives the same Trace as `loadTraceFile`. A per-second series stops reading once
 * it holds `maxDurationMs` of values: the decompressor is stopped there, so using one day of
 * a long trace costs one day. (So a malformed value, or a comma, after that point is never
 * seen.) `stats`, when given, is filled in with how much text was read.
 */
export async function readTraceFile(
  file: string,
  options: TraceOptions = {},
  stats: TraceReadStats = { chars: 0 },
): Promise<Trace> {
  const source = ARCHIVE.test(file) ? fromArchive(file) : fromFile(file);
  let undecided = '';
  let reader: SeriesScanner | CsvLines | undefined;
  let full = false;
  try {
    for await (const chunk of source.chunks) {
      stats.chars += chunk.length;
      if (!reader) {
        undecided += chunk;
        reader = chooseReader(undecided, file, options, false);
        if (!reader) continue;
        full = !reader.push(undecided);
        undecided = '';
      } else full = !reader.push(chunk);
      if (full) break;
    }
  } finally {
    source.stop();
  }
  await source.finished(full);
  reader ??= chooseReader(undecided, file, options, true) as SeriesScanner | CsvLines;
  if (!full) reader.push(undecided);
  return reader.finish();
}

/**
 * Which reader the text so far calls for, as `parseTrace` decides: a first significant line
 * with a comma is CSV, without one a series. Undefined while that line is still coming.
 */
function chooseReader(
  text: string,
  file: string,
  options: TraceOptions,
  ended: boolean,
): SeriesScanner | CsvLines | undefined {
  let from = 0;
  for (;;) {
    const newline = text.indexOf('\n', from);
    const line = newline < 0 ? text.slice(from) : text.slice(from, newline);
    if (newline >= 0 && !isSignificant(line)) {
      from = newline + 1;
      continue;
    }
    if (line.includes(',')) return new CsvLines(file, options);
    if (newline >= 0 || ended || line.length >= SERIES_DECIDED_AT)
      return isSignificant(line) || !ended
        ? new SeriesScanner(new BareSeries(file, options))
        : new CsvLines(file, options);
    return undefined;
  }
}

/** CSV text in chunks: its significant lines, parsed at the end by `parseTrace`'s rules. */
class CsvLines {
  private readonly lines: string[] = [];
  private tail = '';

  constructor(
    private readonly file: string,
    private readonly options: TraceOptions,
  ) {}

  push(text: string): boolean {
    const parts = (this.tail + text).split('\n');
    this.tail = parts.pop() as string;
    for (const part of parts) this.take(part);
    return true;
  }

  finish(): Trace {
    this.take(this.tail);
    this.tail = '';
    return parseTraceLines(this.lines, this.file, this.options);
  }

  private take(raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (isSignificant(line)) this.lines.push(line);
  }
}

const SPACE = /\s/;

/**
 * A per-second series in chunks, cut at whitespace (a line can be the whole file), with
 * `parseTrace`'s line rules: a line whose first non-blank character is `#` is a comment.
 */
class SeriesScanner {
  /** The unfinished number at the end of the text so far. */
  private tail = '';
  /** The current line so far: only blanks, numbers, or a comment. */
  private line: 'blank' | 'data' | 'comment' = 'blank';

  constructor(private readonly series: BareSeries) {}

  /** False once the series is full: nothing more needs reading. */
  push(chunk: string): boolean {
    const text = this.tail + chunk;
    let end = text.length;
    while (end > 0 && !SPACE.test(text[end - 1] as string)) end--;
    this.tail = text.slice(end);
    return this.consume(text.slice(0, end));
  }

  finish(): Trace {
    this.consume(this.tail);
    this.tail = '';
    return this.series.finish();
  }

  private consume(text: string): boolean {
    const segments = text.split('\n');
    for (let i = 0; i < segments.length; i++) {
      if (i > 0) this.line = 'blank';
      const segment = segments[i] as string;
      if (this.line === 'blank') {
        const start = segment.trimStart();
        if (start === '') continue;
        this.line = start.startsWith('#') ? 'comment' : 'data';
      }
      if (this.line === 'comment' || segment.trim() === '') continue;
      if (!this.series.add(segment)) return false;
    }
    return true;
  }
}

interface TextSource {
  chunks: AsyncIterable<string>;
  /** Stops reading (and the decompressor): nothing more is needed. */
  stop(): void;
  /**
   * Resolves once the source has ended (or, `stopped`, once the decompressor has exited);
   * rejects with a TraceError naming what failed when it ended on its own and badly.
   */
  finished(stopped: boolean): Promise<void>;
}

function fromFile(file: string): TextSource {
  const stream = createReadStream(file, { encoding: 'utf8' });
  let failure: Error | undefined;
  const chunks = (async function* () {
    try {
      for await (const chunk of stream) yield chunk as string;
    } catch (error) {
      failure = error as Error;
      throw new TraceError(`${file}: cannot read the trace: ${failure.message}`);
    }
  })();
  return { chunks, stop: () => stream.destroy(), finished: async () => {} };
}

function fromArchive(file: string): TextSource {
  const child = spawn('tar', ['-xjOf', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    stderr += text;
  });
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, error }));
    child.once('close', (code) => resolve({ code }));
  });
  child.stdout.setEncoding('utf8');
  const chunks = (async function* () {
    try {
      for await (const chunk of child.stdout) yield chunk as string;
    } catch (error) {
      throw new TraceError(`${file}: could not read tar's output: ${(error as Error).message}`);
    }
  })();
  return {
    chunks,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill();
      child.stdout.destroy();
    },
    finished: async (stopped) => {
      const { code, error } = await exited;
      if (stopped) return;
      if (error) throw new TraceError(`${file}: could not run tar: ${error.message}`);
      if (code !== 0) throw new TraceError(`${file}: tar -xjOf failed: ${stderr.trim()}`);
    },
  };
}
