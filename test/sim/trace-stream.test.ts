/**
 * readTraceFile (what `waymond simulate` uses) streams a trace, and stops the decompressor of
 * a .tbz2 once a per-second series holds --duration of values. It must give exactly the
 * Trace the whole-file reader gives, so a simulation over a window is unchanged.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { defaultRegistry } from '../../src/registry.js';
import { simulateConfig } from '../../src/sim/run.js';
import { loadTraceFile, readTraceFile, TraceError, type TraceOptions } from '../../src/sim/trace.js';
import { TRACES_DIR } from '../helpers/shared.js';

const NASA = `${TRACES_DIR}/nasa-http-1995-per-second.tbz2`;
/** Characters in the NASA archive's text (58 days of per-second counts on one line). */
const NASA_CHARS = Number(execFileSync('sh', ['-c', `tar -xjOf '${NASA}' | wc -c`], { encoding: 'utf8' }).trim());
const HOUR = 3_600_000;
const dir = mkdtempSync(join(tmpdir(), 'waymond-trace-stream-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** A .tbz2 holding `text` as its one file. */
function archive(name: string, text: string): string {
  write(`${name}.txt`, text);
  const file = join(dir, `${name}.tbz2`);
  execFileSync('tar', ['-cjf', file, '-C', dir, `${name}.txt`]);
  return file;
}

async function sameAsWholeFile(file: string, options: TraceOptions = {}): Promise<void> {
  const streamed = await readTraceFile(file, options);
  const whole = loadTraceFile(file, options);
  // node's comparison first: vitest's (kept for its diff) takes seconds on 100,000 points.
  if (!isDeepStrictEqual(streamed, whole)) expect(streamed).toEqual(whole);
}

/** A per-second series over several 64 KiB read chunks, with comments, blank and CRLF lines. */
function seriesText(values: number): string {
  let text = '# per-second counts\n\n';
  for (let block = 0; block * 40 < values; block++) {
    const row = Array.from({ length: Math.min(40, values - block * 40) }, (_, j) => String((block + j) % 17));
    if (block % 10 === 0) text += `  # a comment before value ${block * 40}\n`;
    if (block % 7 === 0) text += '   \n';
    text += row.join(block % 2 ? ' ' : '\t') + (block % 3 === 0 ? '\r\n' : '\n');
  }
  return text;
}

describe('readTraceFile gives what loadTraceFile gives', () => {
  it('the NASA archive, cut at an hour, a day, and a window that ends inside a number', async () => {
    for (const maxDurationMs of [HOUR, 24 * HOUR, 1_234_567]) await sameAsWholeFile(NASA, { maxDurationMs });
  });

  it('the shared CSV traces and the fixtures, whole and cut', async () => {
    for (const file of [`${TRACES_DIR}/azure-llm-code.csv`, 'test/sim/fixtures/jobs-small.csv']) {
      await sameAsWholeFile(file);
      await sameAsWholeFile(file, { maxDurationMs: 10 * 60_000 });
    }
    await sameAsWholeFile('test/sim/fixtures/jobs-small.csv', { kind: 'metric' });
  });

  it('a series with comments, blank lines, tabs and CRLF over many read chunks, plain and archived', async () => {
    const text = seriesText(150_000);
    expect(text.length).toBeGreaterThan(4 * 65_536);
    const plain = write('series.txt', text);
    const packed = archive('series', text);
    for (const file of [plain, packed]) {
      await sameAsWholeFile(file);
      await sameAsWholeFile(file, { maxDurationMs: 70_000_000 });
      await sameAsWholeFile(file, { maxDurationMs: 1000 });
    }
  });

  it('a CSV whose rows are out of order is read whole (its origin is its earliest time)', async () => {
    const file = write('unordered.csv', 'time,value\n30,3\n10,1\n0,5\n20,2\n');
    await sameAsWholeFile(file, { maxDurationMs: 15_000 });
    const trace = await readTraceFile(file, { maxDurationMs: 15_000 });
    expect(trace.kind === 'metric' && trace.points.map((p) => p.value)).toEqual([5, 1]);
  });

  it('the same errors: a bad value inside the window, an empty file, a missing file, a broken archive', async () => {
    const bad = write('bad.txt', '1 2 x 4');
    await expect(readTraceFile(bad)).rejects.toThrow(`${bad}: value 3: expected a number >= 0, found "x"`);
    expect(() => loadTraceFile(bad)).toThrow(`${bad}: value 3: expected a number >= 0, found "x"`);
    const empty = write('empty.txt', '# nothing\n\n');
    await expect(readTraceFile(empty)).rejects.toThrow(`${empty}: the trace is empty`);
    await expect(readTraceFile('/nonexistent/t.csv')).rejects.toThrow('/nonexistent/t.csv: cannot read the trace');
    const broken = write('broken.tbz2', 'not bzip2');
    const error = await readTraceFile(broken).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TraceError);
    expect((error as Error).message).toContain(`${broken}: tar -xjOf failed`);
  });
});

describe('readTraceFile stops reading past the duration', () => {
  it('an hour of the 58-day NASA archive reads well under 1 % of its text', async () => {
    const read = { chars: 0 };
    const trace = await readTraceFile(NASA, { maxDurationMs: HOUR }, read);
    expect(trace.kind === 'metric' && trace.points.length).toBe(3600);
    expect(NASA_CHARS).toBeGreaterThan(10_000_000);
    expect(read.chars).toBeGreaterThan(3600);
    expect(read.chars).toBeLessThan(NASA_CHARS / 100);
  });

  it('without a duration it reads all of it', async () => {
    const text = seriesText(20_000);
    const read = { chars: 0 };
    await readTraceFile(archive('all', text), {}, read);
    expect(read.chars).toBe(text.length);
  });
});

describe('a simulation over a window is the same with the streamed trace', () => {
  it('6 h of NASA at 1 s through metric-per-request.toml', async () => {
    const loaded = loadConfigFile('test/sim/fixtures/metric-per-request.toml', defaultRegistry());
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
    const options = {
      startupMs: 60_000,
      tickMs: 1000,
      speed: 'max' as const,
      memberCapacity: 2,
      logger: pino({ level: 'silent' }),
    };
    const window = { maxDurationMs: 6 * HOUR };
    const streamed = await simulateConfig(loaded.config, await readTraceFile(NASA, window), options);
    const whole = await simulateConfig(loaded.config, loadTraceFile(NASA, window), options);
    expect(streamed.series).toHaveLength(6 * 3600 + 1);
    expect(streamed.actions).toBeGreaterThan(0);
    const { series: streamedSeries, ...streamedSummary } = streamed;
    const { series: wholeSeries, ...wholeSummary } = whole;
    expect(streamedSummary).toEqual(wholeSummary);
    expect(isDeepStrictEqual(streamedSeries, wholeSeries)).toBe(true);
  });
});
