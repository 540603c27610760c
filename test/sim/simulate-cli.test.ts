/**
 * End to end: the real CLI in a child process, as a user runs it. No timing asserts (speed
 * is measured in bench/simulate.ts).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../src/registry.js';
import { zeroWaitBoundMs } from '../../src/sim/bound.js';
import { loadTraceFile } from '../../src/sim/trace.js';
import { ensureDashboardBuilt } from '../dashboard/browser.js';
import { TRACES_DIR } from '../helpers/shared.js';

const run = promisify(execFile);
const FIXTURES = 'test/sim/fixtures';
const JOBS = `${FIXTURES}/jobs-small.csv`;
const KEYS = [
  'actions',
  'bound_member_seconds',
  'config',
  'hpa_default_member_seconds',
  'hpa_default_wait_p95_s',
  'interrupted',
  'member_seconds',
  'over_capacity_s',
  'peak_members',
  'vs_bound',
  'vs_hpa_default',
  'wait_max_s',
  'wait_p50_s',
  'wait_p95_s',
];

interface Summary {
  config: string;
  member_seconds: number;
  wait_p50_s: number;
  wait_p95_s: number;
  wait_max_s: number;
  over_capacity_s: number;
  actions: number;
  interrupted: number;
  peak_members: number;
  bound_member_seconds: number;
  vs_bound: number;
  hpa_default_member_seconds: number | null;
  hpa_default_wait_p95_s: number | null;
  vs_hpa_default: number | null;
}

async function simulate(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run('node', ['--import', 'tsx', 'src/cli/main.ts', 'simulate', ...args], {
      maxBuffer: 1 << 24,
    });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

async function simulateJson(args: string[]): Promise<Summary[]> {
  const result = await simulate([...args, '--json']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Summary);
}

/** The named fixture configs on the jobs trace, at a 30 s start-up and a 5 s tick. */
function onJobs(configs: string[], ...extra: string[]): string[] {
  return [
    ...configs.flatMap((c) => ['-c', `${FIXTURES}/${c}`]),
    '--trace',
    JOBS,
    '--startup',
    '30s',
    '--tick',
    '5s',
    ...extra,
  ];
}

let leanAndFloorRun: Promise<Summary[]> | undefined;
/** One run of one-per-job and floor-of-three, read by every test that compares them. */
const leanAndFloor = () => (leanAndFloorRun ??= simulateJson(onJobs(['one-per-job.toml', 'floor-of-three.toml'])));

describe('waymond simulate', () => {
  it('--json prints exactly the documented fields, one line per config; a higher floor costs more and waits no longer', async () => {
    const [lean, floor] = await leanAndFloor();
    for (const s of [lean, floor]) {
      expect(Object.keys(s as object).sort()).toEqual(KEYS);
      for (const key of KEYS.filter((k) => k !== 'config'))
        expect(typeof (s as unknown as Record<string, unknown>)[key]).toBe('number');
    }
    expect(lean?.config).toBe(`${FIXTURES}/one-per-job.toml`);
    expect(floor?.config).toBe(`${FIXTURES}/floor-of-three.toml`);
    // Every job waits for a member to boot (30 s) when nothing is kept in reserve.
    expect(lean).toMatchObject({ wait_max_s: 30, wait_p95_s: 30 });
    expect(lean?.actions).toBeGreaterThan(0);
    expect(floor?.peak_members).toBeGreaterThanOrEqual(3);
    expect(lean?.over_capacity_s).toBeGreaterThan(0);
    expect(floor?.member_seconds).toBeGreaterThan(lean?.member_seconds ?? Number.POSITIVE_INFINITY);
    expect(floor?.wait_p50_s).toBeLessThanOrEqual(lean?.wait_p50_s ?? 0);
    expect(floor?.wait_p95_s).toBeLessThanOrEqual(lean?.wait_p95_s ?? 0);
    expect(floor?.wait_max_s).toBeLessThanOrEqual(lean?.wait_max_s ?? 0);
    expect(floor?.over_capacity_s).toBeLessThanOrEqual(lean?.over_capacity_s ?? 0);
  });

  it('--json puts the zero-wait bound and the HPA default beside each config, with their ratios', async () => {
    const summaries = await leanAndFloor();
    const trace = loadTraceFile(JOBS, { kind: 'jobs' });
    const bound = trace.kind === 'jobs' ? zeroWaitBoundMs(trace.jobs, 30_000) / 1000 : Number.NaN;
    expect(bound).toBeGreaterThan(0);
    const hpa = summaries[0]?.hpa_default_member_seconds;
    for (const s of summaries) {
      // One bound and one HPA replay for the trace, the same beside every config.
      expect(s.bound_member_seconds).toBeCloseTo(bound, 3);
      expect(s.hpa_default_member_seconds).toBe(hpa);
      // Both configs serve every job: none can cost less than the zero-wait bound.
      expect(s.member_seconds).toBeGreaterThanOrEqual(s.bound_member_seconds);
      expect(s.vs_bound).toBeCloseTo(s.member_seconds / s.bound_member_seconds, 3);
      expect(s.vs_hpa_default).toBeCloseTo(s.member_seconds / (hpa ?? Number.NaN), 3);
      expect(s.hpa_default_wait_p95_s).toBeGreaterThanOrEqual(0);
    }
    expect(hpa).toBeGreaterThanOrEqual(bound);
    // The floor of three keeps more members than the HPA default on this trace; one per job fewer.
    expect(summaries[1]?.vs_hpa_default).toBeGreaterThan(summaries[0]?.vs_hpa_default ?? Number.POSITIVE_INFINITY);

    const [alone] = await simulateJson(onJobs(['one-per-job.toml'], '--no-baseline'));
    expect(alone).toMatchObject({
      hpa_default_member_seconds: null,
      hpa_default_wait_p95_s: null,
      vs_hpa_default: null,
    });
    expect(alone?.member_seconds).toBe(summaries[0]?.member_seconds);
    expect(alone?.bound_member_seconds).toBe(summaries[0]?.bound_member_seconds);
  });

  it.skipIf(!defaultRegistry().get('connector', 'policy'))(
    'a policy with a longer scale-down window costs more member-seconds and waits no longer',
    async () => {
      const [short, long] = await simulateJson(onJobs(['policy-short-window.toml', 'policy-long-window.toml']));
      expect(long?.member_seconds).toBeGreaterThan(short?.member_seconds ?? Number.POSITIVE_INFINITY);
      expect(long?.wait_p95_s).toBeLessThanOrEqual(short?.wait_p95_s ?? 0);
      expect(long?.wait_max_s).toBeLessThanOrEqual(short?.wait_max_s ?? 0);
      expect(long?.actions).toBeLessThan(short?.actions ?? 0);
    },
  );

  it('the table and a self-contained HTML report carry the Azure trace attribution', async () => {
    ensureDashboardBuilt();
    const out = join(mkdtempSync(join(tmpdir(), 'waymond-sim-')), 'report.html');
    const result = await simulate([
      '-c',
      `${FIXTURES}/one-per-job.toml`,
      '-c',
      `${FIXTURES}/floor-of-three.toml`,
      '--trace',
      `${TRACES_DIR}/azure-llm-code.csv`,
      '--duration',
      '5m',
      '--startup',
      '20s',
      '--tick',
      '2s',
      '--out',
      out,
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/member-seconds \(cost\)/);
    expect(result.stdout).toMatch(/zero-wait bound +HPA default +one-per-job\.toml +floor-of-three\.toml/);
    expect(result.stdout).toMatch(/× zero-wait bound +1\.00 +\d+\.\d\d +\d+\.\d\d +\d+\.\d\d\n/);
    expect(result.stdout).toMatch(
      /vs HPA default +— +1\.00 \(±0 %\) +\d\.\d\d \([−+±]\d+ %\) +\d\.\d\d \([−+±]\d+ %\)\n/,
    );
    expect(result.stdout).toContain('Trace: Azure Public Dataset');
    const html = readFileSync(out, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    // One chart per config, and one for the HPA default's replay.
    expect(html.match(/<svg xmlns/g)).toHaveLength(3);
    expect(html).toContain('<th>zero-wait bound</th><th>HPA default</th><th>one-per-job.toml</th>');
    expect(html).toMatch(/<th>× zero-wait bound<\/th><td>1\.00<\/td>/);
    expect(html).toContain('<path d="M');
    expect(html).toContain('CC-BY 4.0');
    // One file: nothing loaded from anywhere, scripts and styles inline.
    expect(html).not.toMatch(/<script[^>]*\ssrc=|<link|src="http|href="http|@import|url\(http/);
    // The dashboard's uPlot charts are inlined with their code, CSS and data, one per config.
    const inline = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1] ?? '');
    expect(inline).toHaveLength(1);
    expect(inline[0]).toContain('u-over');
    expect(inline[0]).toContain('waymond-report-data');
    expect(html).toMatch(/<style>[^<]*\.uplot[^<]*<\/style>/);
    const data = /<script type="application\/json" id="waymond-report-data">([^<]*)<\/script>/.exec(html)?.[1];
    const report = JSON.parse(data ?? '{}') as { charts?: { t: number[]; desired: number[] }[] };
    expect(report.charts).toHaveLength(3);
    for (const chart of report.charts ?? []) {
      expect(chart.t.length).toBeGreaterThan(1);
      expect(chart.desired).toHaveLength(chart.t.length);
    }
    expect(html).toContain('data-report-chart="1"');
  });

  it.each([
    [
      'several triggers reach the scaler',
      ['-c', `${FIXTURES}/two-inputs.toml`, '--trace', JOBS],
      `error: ${FIXTURES}/two-inputs.toml: several triggers reach a scaler (trigger.a, trigger.b); choose the one the trace feeds with --input\n`,
    ],
    [
      'an unknown --input',
      ['-c', `${FIXTURES}/one-per-job.toml`, '--trace', JOBS, '--input', 'nope'],
      `error: ${FIXTURES}/one-per-job.toml: --input nope: no such trigger; the config has: trigger.queue\n`,
    ],
    [
      'a bad --startup',
      ['-c', `${FIXTURES}/one-per-job.toml`, '--trace', JOBS, '--startup', 'soon'],
      'error: --startup: expected a duration like "90s" or "1m30s", found "soon"\n',
    ],
    [
      'a trace that does not parse',
      ['-c', `${FIXTURES}/one-per-job.toml`, '--trace', `${FIXTURES}/one-per-job.toml`],
      `error: ${FIXTURES}/one-per-job.toml: value 1: expected a number >= 0, found "[[trigger]]"\n`,
    ],
  ])('%s is an exact error and exit 1', async (_name, args, message) => {
    const result = await simulate(args);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(message);
  });
});
