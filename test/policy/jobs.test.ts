import { describe, expect, it } from 'vitest';
import { type PolicyConfigInput, parsePolicyConfig, policyConfigProblems } from '../../src/policy/config.js';
import { evaluatePolicy, initialPolicyState, type PolicyState } from '../../src/policy/evaluate.js';
import { jobsHold, jobsStrategy, poissonQuantile, updateJobsEstimate } from '../../src/policy/jobs.js';

const T = Date.UTC(2026, 0, 5, 12);
const jobs = (extra: Partial<PolicyConfigInput> = {}) =>
  parsePolicyConfig({ strategy: 'jobs', include: 'running', target_wait: '2m', startup: '90s', ...extra });

/** Readings of (waiting, running) in order; `current` follows each decision at once. */
function replay(
  config: ReturnType<typeof jobs>,
  readings: { at: number; waiting: number; running: number }[],
  start: number,
) {
  let state: PolicyState = initialPolicyState();
  let current = start;
  return readings.map((r) => {
    const d = evaluatePolicy(config, state, { current, metric: r.waiting, include: r.running, label: 'ci' }, T + r.at);
    state = d.state;
    if (d.desired !== null) current = d.desired;
    return { desired: d.desired, current, reason: d.reason };
  });
}

describe('strategy = "jobs": config', () => {
  it('needs target_wait and startup, and its fields belong to it', () => {
    const raw = { strategy: 'jobs' } as PolicyConfigInput;
    expect(() => parsePolicyConfig(raw)).toThrow(/strategy jobs needs `target_wait`/);
    expect(() => parsePolicyConfig({ ...raw, target_wait: '30s' })).toThrow(/strategy jobs needs `startup`/);
    const wrong = parsePolicyConfig({ strategy: 'per_replica', per_replica: 1 });
    expect(policyConfigProblems({ ...wrong, target_wait: 30_000 })).toEqual([
      { path: ['target_wait'], message: '`target_wait` applies to strategy jobs, not per_replica' },
    ]);
  });
});

describe('strategy = "jobs": sizing', () => {
  it('long jobs: one member per job in the system, starting members count as capacity', () => {
    const run = replay(
      jobs(),
      [
        { at: 0, waiting: 5, running: 2 },
        // Same queue 15 s later: the 5 started members (still booting) already cover it.
        { at: 15_000, waiting: 5, running: 2 },
      ],
      2,
    );
    expect(run.map((r) => r.desired)).toEqual([7, null]);
    expect(run[0]?.reason).toContain('ci: 5 waiting + 2 running');
  });

  it('no default scale-up rate limit: 50 jobs from zero ask for 50 at once (the HPA default would allow 4)', () => {
    expect(replay(jobs(), [{ at: 0, waiting: 50, running: 0 }], 0)[0]?.desired).toBe(50);
    const limited = jobs({ scale_up: { policies: [{ type: 'count', value: 4, period: '15s' }] } });
    expect(replay(limited, [{ at: 0, waiting: 50, running: 0 }], 0)[0]?.desired).toBe(4);
  });

  it('short jobs are sized by work over a start-up, not one member per queued job', () => {
    // 60 jobs of 3 s against a 30 s start-up: 60 × 3 / 30 = 6 members' worth of work.
    const config = jobs({ startup: '30s', target_wait: '1m', job_duration: '3s' });
    const run = replay(config, [{ at: 0, waiting: 60, running: 2 }], 2);
    expect(run[0]?.desired).toBe(8);
    expect(run[0]?.reason).toContain('waiting sized by work × 0.1 (jobs of ~3s, start-up 30s)');
  });

  it('keeps spare members for the arrivals a new member cannot reach within target_wait', () => {
    // A steady 2 jobs per 15 s reading, each 10 minutes long: λ = 8/min.
    const readings = Array.from({ length: 20 }, (_, i) => ({ at: i * 15_000, waiting: 0, running: 2 * (i + 1) }));
    const tight = replay(jobs({ target_wait: '10s' }), readings, 0);
    const loose = replay(jobs({ target_wait: '2m' }), readings, 0);
    const last = (run: typeof tight) => run.at(-1)?.current ?? 0;
    // 80 s of blind time at ~8 arrivals a minute: several spares; a 2 m target needs none.
    expect(last(loose)).toBe(40);
    expect(last(tight)).toBeGreaterThan(40);
    expect(tight.at(-1)?.reason).toMatch(/spare \d+ for [\d.]+ arrivals expected in the 80s a new member cannot cover/);
  });
});

describe('strategy = "jobs": the hold replaces the scale-down window', () => {
  it('none when a job may wait a start-up; half a start-up × the share of it the target cannot cover', () => {
    expect(jobsHold({ startup: 90_000, targetWait: 120_000 })).toBe(0);
    expect(jobsHold({ startup: 90_000, targetWait: 90_000 })).toBe(0);
    expect(jobsHold({ startup: 90_000, targetWait: 30_000 })).toBe(30_000);
    expect(jobsHold({ startup: 90_000, targetWait: 0 })).toBe(45_000);
  });

  it('idle members leave after the hold (23 s here), not the default 5 m window', () => {
    // Target 44 s against a 90 s start-up: 45 × (1 − 44/90) = 23 s.
    const run = replay(
      jobs({ target_wait: '44s' }),
      [
        { at: 0, waiting: 0, running: 6 },
        { at: 15_000, waiting: 0, running: 0 },
        { at: 22_000, waiting: 0, running: 0 },
        { at: 23_000, waiting: 0, running: 0 },
      ],
      6,
    );
    expect(run.map((r) => r.desired)).toEqual([null, null, null, 0]);
    expect(run[1]?.reason).toContain('held at 6, the highest recommendation in the last 23s');
  });
});

describe('jobs estimates and quantiles', () => {
  it.each([
    [0, 0],
    [1, 3],
    [10, 15],
    [100, 117],
    [1000, 1052],
  ])('poissonQuantile(%d, 0.95) = %d', (mean, expected) => {
    expect(poissonQuantile(mean, 0.95)).toBe(expected);
  });

  it('the duration comes from queue-free intervals only (Little: running / arrival rate)', () => {
    let e = updateJobsEstimate(null, 0, 0, 0);
    // 1 job a minute, each 5 minutes: 5 running on average, no queue.
    for (let i = 1; i <= 30; i++) e = updateJobsEstimate(e, 0, 5, i * 60_000);
    expect(e.freeIntervals).toBe(30);
    // The rises are 0 once running holds at 5, so the rate decays; a queue does not feed it.
    const queued = updateJobsEstimate(e, 40, 5, 31 * 60_000);
    expect(queued.freeIntervals).toBe(30);
    expect(queued.freeBusy).toBe(e.freeBusy);
  });
});

describe('strategy = "jobs": the spare for bursts is capped by the recent peak', () => {
  const estimate = (peak: number) => ({
    lastTotal: 2,
    lastWaiting: 0,
    lastAt: 0,
    arrivalRate: 0,
    // Rises of 10 on average with a standard deviation of ~99: bursts of hundreds.
    riseMean: 10,
    riseSquare: 10_000,
    interval: 15_000,
    freeRate: 0,
    freeBusy: 0,
    freeIntervals: 0,
    peak,
  });
  const settings = { startup: 90_000, targetWait: 10_000, jobDuration: 600_000 };

  it('a burst quantile far above what the system held lately asks only for the recent peak', () => {
    // 12 jobs at most lately, 2 running: 10 spare, not the ~430 the burst quantile says.
    const capped = jobsStrategy('ci', 2, 2, 2, settings, estimate(12));
    expect(capped.recommendation).toBe(12);
    expect(capped.reason).toContain('spare 10 for 0 arrivals expected in the 80s a new member cannot cover');
    // With a recent peak of 500 the burst quantile itself is the spare.
    const open = jobsStrategy('ci', 2, 2, 2, settings, estimate(500));
    expect(open.recommendation).toBeGreaterThan(400);
    expect(open.recommendation).toBeLessThan(500);
  });

  it('the peak decays over about ten minutes', () => {
    let e = updateJobsEstimate(null, 0, 50, 0);
    expect(e.peak).toBe(50);
    for (let t = 15_000; t <= 1_800_000; t += 15_000) e = updateJobsEstimate(e, 0, 1, t);
    // 30 minutes later: 50 × e^-3 ≈ 2.5, and never below what is there now.
    expect(e.peak).toBeGreaterThan(1);
    expect(e.peak).toBeLessThan(4);
  });
});
