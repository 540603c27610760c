/**
 * Cases from the peers' own test suites, replayed through evaluatePolicy. Each test names
 * the peer test it translates (Kubernetes pkg/controller/podautoscaler, KEDA
 * pkg/scaling/executor), so a disagreement can be checked against the original.
 */
import { describe, expect, it } from 'vitest';
import { type PolicyConfigInput, parsePolicyConfig } from '../../src/policy/config.js';
import { evaluatePolicy, initialPolicyState, type PolicyState } from '../../src/policy/evaluate.js';

const T = Date.UTC(2026, 0, 5, 12);
const policy = (input: PolicyConfigInput) => parsePolicyConfig(input);

/** Readings in order; `current` follows each non-null desired, as a quick reconciler would. */
function replay(config: ReturnType<typeof policy>, readings: { at: number; metric: number }[], start: number) {
  let state: PolicyState = initialPolicyState();
  let current = start;
  return readings.map((r) => {
    const decision = evaluatePolicy(config, state, { current, metric: r.metric, label: 'queue' }, T + r.at);
    state = decision.state;
    const row = { desired: decision.desired, current, reason: decision.reason };
    if (decision.desired !== null) current = decision.desired;
    return row;
  });
}

describe('scale_down.select = "disabled" is never bypassed (fix 1)', () => {
  // KEDA TestNoScaleToMinReplicasWhenNotActiveAndPauseScaleInAnnotationSet: 10 replicas,
  // minReplicaCount 0, triggers inactive, scale-in paused: no scale call, 10 stay.
  it('KEDA TestNoScaleToMinReplicasWhenNotActiveAndPauseScaleInAnnotationSet: idle past idle_after keeps 10', () => {
    const config = policy({
      strategy: 'per_replica',
      per_replica: 5,
      activation: 0,
      idle_after: '5m',
      scale_down: { select: 'disabled' },
    });
    const run = replay(
      config,
      [
        { at: 0, metric: 0 },
        { at: 300_000, metric: 0 },
        { at: 900_000, metric: 0 },
      ],
      10,
    );
    expect(run.map((r) => r.desired)).toEqual([null, null, null]);
    expect(run[1]?.reason).toContain('idle for 5m ≥ idle_after 5m');
    expect(run[1]?.reason).toContain('scale_down is disabled, keeps 10');
  });

  // HPA calculateScaleDownLimitWithBehaviors returns currentReplicas for a Disabled
  // SelectPolicy ("Scaling is disabled"); the TestScalingWithRules rows rest on it.
  it('HPA Disabled SelectPolicy: the scale-down limit is the current count, even to zero', () => {
    const config = policy({ strategy: 'per_replica', per_replica: 5, scale_down: { select: 'disabled' } });
    const run = replay(
      config,
      [
        { at: 0, metric: 0 },
        { at: 600_000, metric: 0 },
      ],
      4,
    );
    expect(run.map((r) => r.desired)).toEqual([null, null]);
    // min still applies against a disabled direction (raising is not scaling down).
    const floor = policy({ strategy: 'fixed', value: 0, min: 2, scale_down: { select: 'disabled' } });
    expect(evaluatePolicy(floor, initialPolicyState(), { current: 1, metric: 0 }, T).desired).toBe(2);
  });
});

describe('per_replica applies the HPA tolerance (fix 2)', () => {
  // replica_calculator_test.go TestReplicaCalcTolerancePerPodCMObject: 20166 over a
  // 5000 per-pod target on 4 replicas is a usage ratio of 1.008: 4 stay (ceil would say 5).
  it('HPA TestReplicaCalcTolerancePerPodCMObject: 20,166 at 5,000 per replica on 4 keeps 4', () => {
    const d = evaluatePolicy(
      policy({ strategy: 'per_replica', per_replica: 5000 }),
      initialPolicyState(),
      { current: 4, metric: 20_166, label: 'qps' },
      T,
    );
    expect(d.desired).toBeNull();
    expect(d.reason).toBe(
      'qps 20166 / 5000 per replica on 4 current = usage ratio 1.008, within tolerance 0.1, keeps 4',
    );
  });

  // TestReplicaCalcTolerancePerPodCMExternal: 8600 over 2900 per pod on 3 (ratio 0.989): 3 stay.
  it('HPA TestReplicaCalcTolerancePerPodCMExternal: 8,600 at 2,900 per replica on 3 keeps 3', () => {
    const d = evaluatePolicy(
      policy({ strategy: 'per_replica', per_replica: 2900 }),
      initialPolicyState(),
      { current: 3, metric: 8600 },
      T,
    );
    expect(d.desired).toBeNull();
  });

  it('tolerance is configurable: 0 turns it off, a wider one holds more', () => {
    const exact = policy({ strategy: 'per_replica', per_replica: 5000, tolerance: 0 });
    expect(evaluatePolicy(exact, initialPolicyState(), { current: 4, metric: 20_166 }, T).desired).toBe(5);
    const wide = policy({ strategy: 'per_replica', per_replica: 3, tolerance: 0.5 });
    expect(evaluatePolicy(wide, initialPolicyState(), { current: 4, metric: 17 }, T).desired).toBeNull();
    expect(evaluatePolicy(wide, initialPolicyState(), { current: 4, metric: 19 }, T).desired).toBe(7);
  });

  it('running work counts toward the usage ratio, and from zero there is no ratio', () => {
    const config = policy({ strategy: 'per_replica', per_replica: 1, include: 'running' });
    // 5 waiting + 5 running on 10 agents: ratio 1, hold; 6 + 5 on 10: 1.1, still inside.
    expect(evaluatePolicy(config, initialPolicyState(), { current: 10, metric: 5, include: 5 }, T).desired).toBeNull();
    expect(evaluatePolicy(config, initialPolicyState(), { current: 10, metric: 6, include: 5 }, T).desired).toBeNull();
    expect(evaluatePolicy(config, initialPolicyState(), { current: 10, metric: 7, include: 5 }, T).desired).toBe(12);
    expect(evaluatePolicy(config, initialPolicyState(), { current: 0, metric: 1, include: 0 }, T).desired).toBe(1);
  });
});

describe('activation works both ways, as KEDA (fix 3)', () => {
  // pkg/scaling/executor TestScaleToMinReplicasWhenNotActive: 10 replicas, minReplicaCount 0,
  // triggers inactive → scaled to 0.
  it('KEDA TestScaleToMinReplicasWhenNotActive: at or below activation, 10 go to 0', () => {
    const config = policy({
      strategy: 'per_replica',
      per_replica: 10,
      activation: 5,
      scale_down: { stabilization_window: 0 },
    });
    const d = evaluatePolicy(config, initialPolicyState(), { current: 10, metric: 5, label: 'queue' }, T);
    expect(d).toMatchObject({ desired: 0, reason: 'queue 5 ≤ activation 5: inactive, to zero' });
  });

  it('the issue case: a queue of 3 with activation 5 and 10 per replica does not keep one member forever', () => {
    const config = policy({ strategy: 'per_replica', per_replica: 10, activation: 5 });
    const run = replay(
      config,
      [
        { at: 0, metric: 3 },
        { at: 300_000, metric: 3 },
      ],
      1,
    );
    // The scale-down window (default 5m) plays KEDA's cooldownPeriod when idle_after is unset.
    expect(run.map((r) => r.desired)).toEqual([null, 0]);
  });

  // TestScaleFromMinReplicasWhenActive: from 0, an active trigger starts 1.
  it('KEDA TestScaleFromMinReplicasWhenActive: above activation, 0 starts 1', () => {
    const config = policy({ strategy: 'per_replica', per_replica: 10, activation: 5 });
    expect(evaluatePolicy(config, initialPolicyState(), { current: 0, metric: 6 }, T).desired).toBe(1);
    expect(evaluatePolicy(config, initialPolicyState(), { current: 0, metric: 5 }, T).desired).toBeNull();
  });

  // TestScaleToMinReplicasFromLowerInitialReplicaCount: minReplicaCount 5, 1 replica,
  // inactive → 5. Activation only decides 0 ↔ 1; with a floor the scaling maths goes on.
  it('KEDA TestScaleToMinReplicasFromLowerInitialReplicaCount: with min 5, inactive raises 1 to 5', () => {
    const config = policy({ strategy: 'per_replica', per_replica: 10, activation: 5, min: 5 });
    const d = evaluatePolicy(config, initialPolicyState(), { current: 1, metric: 3 }, T);
    expect(d.desired).toBe(5);
    expect(d.reason).toContain('raised to min 5');
  });
});

describe('a new policy starts from the current count (fix 4)', () => {
  // horizontal_test.go TestScaleDownStabilizeInitialSize: 5 replicas at 28% CPU for a 50%
  // target would be 3 (TestScaleDown), but with no recommendations yet (nil) the controller
  // records the current 5 first (recordInitialRecommendation) and keeps 5.
  it('HPA TestScaleDownStabilizeInitialSize: 5 at 28% of a 50% target keeps 5, then goes to 3 after the window', () => {
    const config = policy({ strategy: 'target_value', target: 50 });
    const run = replay(
      config,
      [
        { at: 0, metric: 28 },
        { at: 299_000, metric: 28 },
        { at: 300_000, metric: 28 },
      ],
      5,
    );
    expect(run.map((r) => r.desired)).toEqual([null, null, 3]);
    expect(run[0]?.reason).toContain('held at 5, the highest recommendation in the last 5m');
  });

  it('the first recommendation does not slow a scale-up (the up window is 0s by default)', () => {
    const config = policy({ strategy: 'target_value', target: 50 });
    expect(evaluatePolicy(config, initialPolicyState(), { current: 2, metric: 100 }, T).desired).toBe(4);
  });

  it('with no down window the first reading scales down at once', () => {
    const config = policy({ strategy: 'target_value', target: 50, scale_down: { stabilization_window: 0 } });
    expect(evaluatePolicy(config, initialPolicyState(), { current: 5, metric: 28 }, T).desired).toBe(3);
  });
});

describe('cases the policy already agreed on, named after the peer tests docs/policy.md cites', () => {
  // horizontal_test.go TestScalingWithRules rows (convertDesiredReplicasWithBehaviorRate).
  it.each<[string, PolicyConfigInput, number, number, number]>([
    ['scaleUp with default behavior', { strategy: 'fixed', value: 50, max: 1000 }, 10, 50, 20],
    [
      'scaleUp with pod policy limitation',
      {
        strategy: 'fixed',
        value: 50,
        max: 1000,
        scale_up: { policies: [{ type: 'count', value: 30, period: '60s' }] },
      },
      10,
      50,
      40,
    ],
    [
      'scaleDown with pod policy limitation',
      {
        strategy: 'fixed',
        value: 2,
        min: 1,
        max: 1000,
        scale_down: { stabilization_window: 0, policies: [{ type: 'count', value: 5, period: '60s' }] },
      },
      10,
      2,
      5,
    ],
    [
      'scaleDown with spec MinReplicas limitation with large percent policy',
      {
        strategy: 'fixed',
        value: 2,
        min: 5,
        max: 1000,
        scale_down: { stabilization_window: 0, policies: [{ type: 'percent', value: 100, period: '60s' }] },
      },
      10,
      2,
      5,
    ],
  ])('HPA TestScalingWithRules "%s"', (_name, config, current, _prenormalized, expected) => {
    expect(evaluatePolicy(policy(config), initialPolicyState(), { current, metric: 0 }, T).desired).toBe(expected);
  });

  // replica_calculator_test.go TestReplicaCalcTolerance: 102% of a 100% target on 3 keeps 3.
  it('HPA TestReplicaCalcTolerance: ratio 1.02 keeps 3', () => {
    const d = evaluatePolicy(
      policy({ strategy: 'target_value', target: 100 }),
      initialPolicyState(),
      { current: 3, metric: 102 },
      T,
    );
    expect(d.desired).toBeNull();
  });

  // horizontal_test.go TestNoScaleDownOneMetricInvalid: 5 replicas, a metric that cannot be
  // read: no scale-down (expectedDesiredReplicas 5), whatever the fallback says.
  it('HPA TestNoScaleDownOneMetricInvalid: a failing metric does not scale 5 down', () => {
    for (const fallback of [undefined, 2]) {
      const config = policy({
        strategy: 'per_replica',
        per_replica: 1,
        ...(fallback === undefined ? {} : { fallback }),
      });
      expect(evaluatePolicy(config, initialPolicyState(), { current: 5, error: 'no metric' }, T).desired).toBeNull();
    }
  });
});
