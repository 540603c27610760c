import { describe, expect, it } from 'vitest';
import {
  attributionFor,
  DEFAULT_ORIGIN_MS,
  loadTraceFile,
  parseTime,
  parseTrace,
  type Trace,
  TraceError,
  tokenDurationMs,
} from '../../src/sim/trace.js';
import { TRACES_DIR } from '../helpers/shared.js';

const SHARED = TRACES_DIR;

function jobsOf(trace: Trace) {
  if (trace.kind !== 'jobs') throw new Error(`expected a jobs trace, got ${trace.kind}`);
  return trace.jobs;
}
function pointsOf(trace: Trace) {
  if (trace.kind !== 'metric') throw new Error(`expected a metric trace, got ${trace.kind}`);
  return trace.points;
}

describe('parseTime', () => {
  it.each([
    ['seconds from the start', '12', { relativeS: 12 }],
    ['fractional seconds', '1.5', { relativeS: 1.5 }],
    ['ISO-8601 with a zone', '2024-03-01T10:00:00Z', { epochMs: Date.UTC(2024, 2, 1, 10) }],
    ['ISO-8601 with an offset', '2024-03-01T11:00:00+01:00', { epochMs: Date.UTC(2024, 2, 1, 10) }],
    [
      'the Azure form (7 fractional digits, UTC)',
      '2023-11-16 18:17:03.9799600',
      { epochMs: Date.UTC(2023, 10, 16, 18, 17, 3, 979) },
    ],
    ['the Azure form without a fraction', '2023-11-16 18:17:03', { epochMs: Date.UTC(2023, 10, 16, 18, 17, 3) }],
  ])('%s', (_name, cell, expected) => {
    expect(parseTime(cell)).toEqual(expected);
  });

  it.each([
    ['a word', 'time'],
    ['empty', ''],
    ['a broken date', '2024-13-45T99:00'],
  ])('rejects %s', (_name, cell) => {
    expect(parseTime(cell)).toBeUndefined();
  });
});

describe('parseTrace', () => {
  it.each([
    {
      name: 'time,value in seconds is a metric trace',
      text: 'time,value\n0,3\n15,5\n30,2\n',
      kind: 'metric',
      check: (t: Trace) =>
        expect(pointsOf(t)).toEqual([
          { t: 0, value: 3 },
          { t: 15_000, value: 5 },
          { t: 30_000, value: 2 },
        ]),
      endMs: 45_000,
      originMs: DEFAULT_ORIGIN_MS,
    },
    {
      name: 'time,duration is a jobs trace; the run lasts until the last job could end',
      text: 'time,duration\n5,60\n0,10\n',
      kind: 'jobs',
      check: (t: Trace) =>
        expect(jobsOf(t)).toEqual([
          { arrival: 0, duration: 10_000 },
          { arrival: 5000, duration: 60_000 },
        ]),
      endMs: 65_000,
      originMs: DEFAULT_ORIGIN_MS,
    },
    {
      name: 'ISO-8601 times are made relative to the earliest, which becomes the origin',
      text: 'timestamp,duration\n2024-03-01T10:00:10Z,30\n2024-03-01T10:00:00Z,30\n',
      kind: 'jobs',
      check: (t: Trace) => expect(jobsOf(t).map((j) => j.arrival)).toEqual([0, 10_000]),
      endMs: 40_000,
      originMs: Date.UTC(2024, 2, 1, 10),
    },
    {
      name: 'a headerless two-column CSV is a metric trace',
      text: '0,1\n1,4\n',
      kind: 'metric',
      check: (t: Trace) => expect(pointsOf(t).map((p) => p.value)).toEqual([1, 4]),
      endMs: 2000,
      originMs: DEFAULT_ORIGIN_MS,
    },
    {
      name: 'whitespace-separated numbers are one value per second',
      text: '0 1 2\n3\n',
      kind: 'metric',
      check: (t: Trace) => expect(pointsOf(t)).toEqual([0, 1, 2, 3].map((v, i) => ({ t: i * 1000, value: v }))),
      endMs: 4000,
      originMs: DEFAULT_ORIGIN_MS,
    },
    {
      name: 'Azure token rows are jobs whose duration comes from their tokens',
      text: 'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9799600,4000,50\n',
      kind: 'jobs',
      check: (t: Trace) => expect(jobsOf(t)).toEqual([{ arrival: 0, duration: 3000 }]),
      endMs: 3000,
      originMs: Date.UTC(2023, 10, 16, 18, 17, 3, 979),
    },
    {
      name: 'comments and blank lines are skipped',
      text: '# made up\ntime,value\n\n0,1\n',
      kind: 'metric',
      check: (t: Trace) => expect(pointsOf(t)).toHaveLength(1),
      endMs: 1000,
      originMs: DEFAULT_ORIGIN_MS,
    },
  ])('$name', ({ text, kind, check, endMs, originMs }) => {
    const trace = parseTrace(text, 'trace.csv');
    expect(trace.kind).toBe(kind);
    check(trace);
    expect(trace.endMs).toBe(endMs);
    expect(trace.originMs).toBe(originMs);
  });

  it('a headerless two-column CSV is jobs when asked', () => {
    expect(jobsOf(parseTrace('0,30\n', 'x.csv', { kind: 'jobs' }))).toEqual([{ arrival: 0, duration: 30_000 }]);
  });

  it('keeps only the first maxDurationMs', () => {
    const trace = parseTrace('1 2 3 4 5', 'w.txt', { maxDurationMs: 3000 });
    expect(pointsOf(trace)).toHaveLength(3);
    expect(trace.endMs).toBe(3000);
  });

  it.each([
    ['an empty file', '', 't.csv: the trace is empty'],
    ['a header without rows', 'time,value\n', 't.csv: the trace has a header but no rows'],
    ['a header without a time column', 'when,value\n1,2\n', 't.csv: no time column in the header'],
    ['a bad time', 'time,value\nsoon,2\n', 't.csv:2: expected a time (seconds or ISO-8601), found "soon"'],
    [
      'a negative duration',
      'time,duration\n0,-5\n',
      't.csv:2: expected a duration in seconds (a number >= 0), found "-5"',
    ],
    ['mixed times', 'time,value\n0,1\n2024-01-01T00:00:00Z,1\n', 't.csv:3: mixes timestamps and seconds-from-start'],
    ['a bad bare value', '1 x', 't.csv: value 2: expected a number >= 0, found "x"'],
  ])('rejects %s with an exact message', (_name, text, message) => {
    expect(() => parseTrace(text, 't.csv')).toThrow(TraceError);
    expect(() => parseTrace(text, 't.csv')).toThrow(message);
  });
});

describe('token durations (the documented rule)', () => {
  it.each([
    [2000, 0, 50, 2000, 1000],
    [0, 50, 50, 2000, 1000],
    [4808, 10, 50, 2000, 2604],
    [1000, 100, 100, 1000, 2000],
  ])('%i context + %i generated tokens at %i/%i tok/s take %i ms', (context, generated, tps, prefill, ms) => {
    expect(tokenDurationMs(context, generated, tps, prefill)).toBe(ms);
  });
});

describe('the shared real traces load', () => {
  it.each(['azure-llm-code.csv', 'azure-llm-conv.csv'])('%s: one job per request, with its attribution', (name) => {
    const trace = loadTraceFile(`${SHARED}/${name}`);
    const jobs = jobsOf(trace);
    expect(jobs.length).toBe(name === 'azure-llm-code.csv' ? 8819 : 19366);
    expect(jobs[0]?.arrival).toBe(0);
    expect(jobs.every((j, i) => i === 0 || j.arrival >= (jobs[i - 1]?.arrival ?? 0))).toBe(true);
    // About an hour of requests.
    expect(jobs.at(-1)?.arrival).toBeGreaterThan(50 * 60_000);
    expect(jobs.at(-1)?.arrival).toBeLessThan(70 * 60_000);
    expect(new Date(trace.originMs).toISOString().slice(0, 10)).toBe('2023-11-16');
    expect(trace.attribution).toContain('CC-BY 4.0');
    expect(trace.attribution).toContain('Azure');
  });

  it('the NASA per-second workload (.tbz2, through tar): a prefix of a day', () => {
    const trace = loadTraceFile(`${SHARED}/nasa-http-1995-per-second.tbz2`, { maxDurationMs: 86_400_000 });
    const points = pointsOf(trace);
    expect(points).toHaveLength(86_400);
    expect(points.slice(0, 4).map((p) => p.value)).toEqual([1, 0, 0, 0]);
    expect(points[86_399]?.t).toBe(86_399_000);
    expect(trace.endMs).toBe(86_400_000);
    expect(trace.attribution).toContain('NASA');
    expect(trace.attribution).toContain('Internet Traffic Archive');
  });

  it('a file of ours has no attribution', () => {
    expect(attributionFor('examples/traces/ci-jobs.csv')).toBeUndefined();
  });

  it('a missing file is named', () => {
    expect(() => loadTraceFile('/nonexistent/t.csv')).toThrow('/nonexistent/t.csv: cannot read the trace');
  });
});
