import { describe, expect, it } from 'vitest';
import { type PolicyConfigInput, parsePolicyConfig } from '../../src/policy/config.js';
import { evaluatePolicy, initialPolicyState, type PolicyInput, type PolicyState } from '../../src/policy/evaluate.js';

const T = Date.UTC(2026, 0, 5, 12);
const policy = (input: PolicyConfigInput) => parsePolicyConfig(input);

/** Runs readings in order; `current` follows each non-null desired, as a quick reconciler would. */
function simulate(
  config: ReturnType<typeof policy>,
  readings: { at: number; metric?: number; error?: string }[],
  start: number,
) {
  let state: PolicyState = initialPolicyState();
  let current = start;
  const out: { at: number; desired: number | null; current: number; reason: string }[] = [];
  for (const r of readings) {
    const input: PolicyInput = r.error !== undefined ? { current, error: r.error } : { current, metric: r.metric ?? 0 };
    const decision = evaluatePolicy(config, state, input, T + r.at);
    state = decision.state;
    out.push({ at: r.at, desired: decision.desired, current, reason: decision.reason });
    if (decision.desired !== null) current = decision.desired;
  }
  return out;
}

describe('evaluatePolicy: HPA conformance', () => {
  const hpa = policy({ strategy: 'target_value', target: 100 });

  it('3 replicas at 200m for a 100m target → 6', () => {
    const d = evaluatePolicy(hpa, initialPolicyState(), { current: 3, metric: 200, label: 'cpu' }, T);
    expect(d.desired).toBe(6);
    expect(d.reason).toBe('cpu 200 / target 100 = ratio 2 × 3 current = 6');
  });

  it('within tolerance → no change (hold)', () => {
    const d = evaluatePolicy(hpa, initialPolicyState(), { current: 3, metric: 108, label: 'cpu' }, T);
    expect(d.desired).toBeNull();
    expect(d.reason).toBe('cpu 108 / target 100 = ratio 1.08, within tolerance 0.1, keeps 3');
  });

  it('scale-down waits for the 300s stabilization window', () => {
    const run = simulate(
      hpa,
      [
        { at: 0, metric: 200 }, // 3 → 6
        { at: 60_000, metric: 50 }, // wants 3, held at 6 by the recommendation at 0s
        { at: 299_000, metric: 50 },
        { at: 301_000, metric: 50 }, // the 6 has left the window
      ],
      3,
    );
    expect(run.map((r) => r.desired)).toEqual([6, null, null, 3]);
    expect(run[1]?.reason).toContain('held at 6, the highest recommendation in the last 5m');
  });

  it('scale-up is limited to max(100%, 4 pods) per 15s by default', () => {
    const run = simulate(
      hpa,
      [
        { at: 0, metric: 10_000 }, // 1 → wants 100, limited to 1 + 4 = 5
        { at: 5_000, metric: 10_000 }, // budget spent inside the 15s period
        { at: 15_000, metric: 10_000 }, // 5 → max(10, 9) = 10
        { at: 30_000, metric: 10_000 }, // 10 → 20
      ],
      1,
    );
    expect(run.map((r) => r.desired)).toEqual([5, null, 10, 20]);
    expect(run[0]?.reason).toContain('limited to 5 by scale_up policies');
  });

  it('scale-down is limited by the default 100% per 15s only, so it may reach min', () => {
    const fast = policy({ strategy: 'target_value', target: 100, scale_down: { stabilization_window: 0 } });
    expect(evaluatePolicy(fast, initialPolicyState(), { current: 10, metric: 0 }, T).desired).toBe(0);
  });
});

describe('evaluatePolicy: AWS step scaling from config', () => {
  it('+25% of 4 with min_adjustment 2 adds 2 (MinAdjustmentMagnitude)', () => {
    const config = policy({ strategy: 'steps', steps: [{ lower: 0, change: '+25%' }], min_adjustment: 2 });
    const d = evaluatePolicy(config, initialPolicyState(), { current: 4, metric: 1, label: 'backlog' }, T);
    expect(d).toMatchObject({ desired: 6, reason: 'backlog 1 in step [0, ∞]: +25% on 4 = 6' });
  });
});

describe('evaluatePolicy: bounds', () => {
  it('caps by max with the reason the brief asks for', () => {
    const config = policy({ strategy: 'per_replica', per_replica: 3, max: 10 });
    const d = evaluatePolicy(config, initialPolicyState(), { current: 10, metric: 42, label: 'queue' }, T);
    expect(d).toMatchObject({ desired: null, reason: 'queue 42 / 3 per replica = 14, capped by max 10, keeps 10' });
    const from4 = evaluatePolicy(config, initialPolicyState(), { current: 4, metric: 42, label: 'queue' }, T);
    expect(from4).toMatchObject({
      desired: 8,
      reason: 'queue 42 / 3 per replica = 14, limited to 8 by scale_up policies',
    });
    const from6 = evaluatePolicy(config, initialPolicyState(), { current: 6, metric: 42, label: 'queue' }, T);
    expect(from6).toMatchObject({ desired: 10, reason: 'queue 42 / 3 per replica = 14, capped by max 10' });
  });

  it('raises to min, even against a disabled direction', () => {
    const config = policy({ strategy: 'fixed', value: 1, min: 3, scale_up: { select: 'disabled' } });
    const d = evaluatePolicy(config, initialPolicyState(), { current: 1, metric: 0 }, T);
    expect(d.desired).toBe(3);
    expect(d.reason).toBe('fixed count 1, raised to min 3');
  });

  it('an open schedule window sets min and says so', () => {
    const config = policy({
      strategy: 'per_replica',
      per_replica: 1,
      max: 4,
      schedules: [{ name: 'office', cron: '0 8 * * 1-5', duration: '10h', min: 5, max: 20, timezone: 'Europe/Berlin' }],
    });
    const d = evaluatePolicy(config, initialPolicyState(), { current: 2, metric: 0 }, T);
    expect(d.desired).toBe(5);
    expect(d.reason).toContain('raised to min 5 of schedule "office"');
    const evening = evaluatePolicy(config, initialPolicyState(), { current: 2, metric: 9 }, Date.UTC(2026, 0, 5, 20));
    expect(evening.desired).toBe(4);
  });
});

describe('evaluatePolicy: bad and failing input', () => {
  const config = policy({ strategy: 'per_replica', per_replica: 2, include: 'running' });
  it.each<[string, PolicyInput, string]>([
    ['NaN', { current: 3, metric: Number.NaN, include: 0, label: 'queue' }, 'queue is not a number, holds at 3'],
    ['negative', { current: 3, metric: -4, include: 0, label: 'queue' }, 'queue -4 is negative, holds at 3'],
    ['infinite', { current: 3, metric: Number.POSITIVE_INFINITY, include: 0 }, 'metric is infinite, holds at 3'],
    [
      'a source error',
      { current: 3, error: 'connection refused', label: 'queue' },
      'queue failed: connection refused, holds at 3',
    ],
    ['missing running work', { current: 3, metric: 4 }, 'running work "running" is missing, holds at 3'],
    [
      'a bad current count',
      { current: 2.5, metric: 4, include: 0 },
      'current count 2.5 is not a whole number ≥ 0, holds',
    ],
  ])('%s holds with the reason', (_name, input, reason) => {
    const d = evaluatePolicy(config, initialPolicyState(), input, T);
    expect(d).toMatchObject({ desired: null, reason });
  });

  it('running work is added to the queue', () => {
    const d = evaluatePolicy(config, initialPolicyState(), { current: 3, metric: 4, include: 4, label: 'queue' }, T);
    expect(d.desired).toBe(4);
  });

  it('holds until error_after failures, then applies the fallback', () => {
    const fallback = policy({ strategy: 'pass_through', fallback: 5, error_after: 2 });
    const run = simulate(
      fallback,
      [
        { at: 0, error: 'timeout' },
        { at: 1000, error: 'timeout' },
      ],
      2,
    );
    expect(run.map((r) => r.desired)).toEqual([null, 5]);
    expect(run[0]?.reason).toBe('metric failed: timeout (1 of 2 failures before on_error applies), holds at 2');
    expect(run[1]?.reason).toBe('metric failed: timeout, fallback 5');
  });

  it('a good reading resets the failure count', () => {
    const fallback = policy({ strategy: 'pass_through', fallback: 5, error_after: 2 });
    const run = simulate(
      fallback,
      [
        { at: 0, error: 'x' },
        { at: 1000, metric: 2 },
        { at: 2000, error: 'x' },
      ],
      2,
    );
    expect(run.map((r) => r.desired)).toEqual([null, null, null]);
  });

  it.each([
    ['static', 'metric failed: down, holds at 8: fallback 5 is lower and a failing source never scales down'],
    ['current_if_higher', 'metric failed: down, keeps current 8 (higher than fallback 5)'],
  ] as const)('fallback below current never scales down (%s)', (mode, reason) => {
    const config = policy({ strategy: 'pass_through', on_error: 'fallback', fallback: 5, fallback_mode: mode });
    expect(evaluatePolicy(config, initialPolicyState(), { current: 8, error: 'down' }, T)).toMatchObject({
      desired: null,
      reason,
    });
  });
});

describe('evaluatePolicy: activation and idle', () => {
  const keda = policy({
    strategy: 'per_replica',
    per_replica: 5,
    activation: 2,
    idle_after: '5m',
    scale_down: { stabilization_window: 0 },
  });

  it('at zero, a metric at or below activation stays at zero', () => {
    const d = evaluatePolicy(keda, initialPolicyState(), { current: 0, metric: 2, label: 'queue' }, T);
    expect(d).toMatchObject({ desired: null, reason: 'queue 2 ≤ activation 2, stays at zero, keeps 0' });
  });

  it('above activation it starts', () => {
    expect(evaluatePolicy(keda, initialPolicyState(), { current: 0, metric: 3 }, T).desired).toBe(1);
  });

  it('goes to zero only after idle_after, and then at once', () => {
    const run = simulate(
      keda,
      [
        { at: 0, metric: 0 },
        { at: 120_000, metric: 0 },
        { at: 300_000, metric: 0 },
      ],
      3,
    );
    expect(run.map((r) => r.desired)).toEqual([1, null, 0]);
    expect(run[1]?.reason).toContain('idle for 2m of idle_after 5m: keeps 1');
    expect(run[2]?.reason).toContain('idle for 5m ≥ idle_after 5m: to zero');
  });

  it('a busy reading restarts the idle clock', () => {
    const run = simulate(
      keda,
      [
        { at: 0, metric: 0 },
        { at: 200_000, metric: 9 },
        { at: 300_000, metric: 0 },
        { at: 500_000, metric: 0 },
      ],
      1,
    );
    expect(run.map((r) => r.desired)).toEqual([null, 2, 1, null]);
  });
});

describe('evaluatePolicy: cooldown and state', () => {
  it('no second scale-up during the cooldown', () => {
    const config = policy({ strategy: 'pass_through', scale_up: { cooldown: '1m' } });
    const run = simulate(
      config,
      [
        { at: 0, metric: 3 },
        { at: 30_000, metric: 5 },
        { at: 60_000, metric: 5 },
      ],
      2,
    );
    expect(run.map((r) => r.desired)).toEqual([3, null, 5]);
    expect(run[1]?.reason).toBe('metric 5 passed through, scale-up cooldown 1m has 30s left, keeps 3');
  });

  it('the state survives a JSON round trip with the same decisions', () => {
    const config = policy({ strategy: 'target_value', target: 10 });
    let a = initialPolicyState();
    let b = initialPolicyState();
    for (const [i, metric] of [30, 5, 12, 40, 1].entries()) {
      const input = { current: 4, metric };
      const da = evaluatePolicy(config, a, input, T + i * 10_000);
      const db = evaluatePolicy(config, JSON.parse(JSON.stringify(b)) as PolicyState, input, T + i * 10_000);
      expect(db.desired).toBe(da.desired);
      a = da.state;
      b = db.state;
    }
  });

  it('the threshold strategy counts readings across evaluations', () => {
    const config = policy({ strategy: 'threshold', lower_bound: 70, delta: 1, within_bounds_trigger: 3 });
    const run = simulate(
      config,
      [
        { at: 0, metric: 80 },
        { at: 10_000, metric: 90 },
        { at: 20_000, metric: 75 },
      ],
      2,
    );
    expect(run.map((r) => r.desired)).toEqual([null, null, 3]);
  });
});
