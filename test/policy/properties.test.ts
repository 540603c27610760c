/**
 * Properties of the whole policy pipeline, over random configs and reading sequences.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { type PolicyConfigInput, parsePolicyConfig } from '../../src/policy/config.js';
import { evaluatePolicy, initialPolicyState, type PolicyInput, type PolicyState } from '../../src/policy/evaluate.js';

const T = Date.UTC(2026, 0, 5, 12);

const strategyConfig = fc.oneof(
  fc.record({ strategy: fc.constant('target_value' as const), target: fc.integer({ min: 1, max: 100 }) }),
  fc.record({ strategy: fc.constant('per_replica' as const), per_replica: fc.integer({ min: 1, max: 10 }) }),
  fc.record({ strategy: fc.constant('pass_through' as const) }),
  fc.record({
    strategy: fc.constant('threshold' as const),
    lower_bound: fc.constant(50),
    delta: fc.integer({ min: -3, max: 3 }),
    within_bounds_trigger: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({
    strategy: fc.constant('steps' as const),
    threshold: fc.constant(50),
    steps: fc.constant<NonNullable<PolicyConfigInput['steps']>>([
      { upper: 0, change: '-20%' },
      { lower: 0, upper: 20, change: '+1' },
      { lower: 20, change: '+50%' },
    ]),
  }),
);

const bounds = fc.tuple(fc.nat(10), fc.nat(30)).map(([min, span]) => ({ min, max: min + span }));

const reading = fc.record({
  gap: fc.integer({ min: 1000, max: 120_000 }),
  metric: fc.oneof(fc.double({ min: 0, max: 500, noNaN: true }), fc.constant(Number.NaN), fc.constant(-1)),
  failed: fc.boolean(),
  // How far the target lags behind what was asked (starting members are counted, but a
  // scaler may still refuse or lose members).
  drift: fc.integer({ min: -2, max: 2 }),
});

interface Reading {
  gap: number;
  metric: number;
  failed: boolean;
  drift: number;
}

interface Step {
  at: number;
  current: number;
  desired: number | null;
  input: PolicyInput;
}

function run(configInput: PolicyConfigInput, readings: Reading[], start: number): Step[] {
  const config = parsePolicyConfig(configInput);
  let state: PolicyState = initialPolicyState();
  let current = start;
  let at = T;
  const steps: Step[] = [];
  for (const r of readings) {
    at += r.gap;
    const input: PolicyInput = r.failed ? { current, error: 'boom' } : { current, metric: r.metric };
    const decision = evaluatePolicy(config, state, input, at);
    state = decision.state;
    steps.push({ at, current, desired: decision.desired, input });
    if (decision.desired !== null) current = decision.desired;
    current = Math.max(0, current + r.drift);
  }
  return steps;
}

describe('policy properties', () => {
  it('a desired count always lies within [min, max]', () => {
    fc.assert(
      fc.property(strategyConfig, bounds, fc.array(reading, { maxLength: 30 }), fc.nat(50), (s, b, readings, start) => {
        return run({ ...s, ...b }, readings, start).every(
          (step) => step.desired === null || (step.desired >= b.min && step.desired <= b.max),
        );
      }),
    );
  });

  it('no scale-up during the scale-up cooldown, no scale-down during the scale-down cooldown', () => {
    fc.assert(
      fc.property(
        strategyConfig,
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 300 }),
        fc.array(reading, { maxLength: 30 }),
        fc.nat(50),
        (s, upSeconds, downSeconds, readings, start) => {
          const config = { ...s, scale_up: { cooldown: upSeconds }, scale_down: { cooldown: downSeconds } };
          let lastUp: number | null = null;
          let lastDown: number | null = null;
          for (const step of run(config, readings, start)) {
            if (step.desired === null) continue;
            if (step.desired > step.current) {
              if (lastUp !== null && step.at - lastUp < upSeconds * 1000) return false;
              lastUp = step.at;
            } else if (step.desired < step.current) {
              if (lastDown !== null && step.at - lastDown < downSeconds * 1000) return false;
              lastDown = step.at;
            }
          }
          return true;
        },
      ),
    );
  });

  it('no flapping: a metric oscillating inside the tolerance never changes the count', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 50 }),
        (target, tolerance, wobble, current) => {
          const config = parsePolicyConfig({ strategy: 'target_value', target, tolerance });
          let state = initialPolicyState();
          return wobble.every((w, i) => {
            const metric = target * (1 + w * tolerance);
            const d = evaluatePolicy(config, state, { current, metric }, T + i * 15_000);
            state = d.state;
            return d.desired === null;
          });
        },
      ),
    );
  });

  it('no flapping either for per_replica: work within the tolerance of per_replica × current keeps the count', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 50 }),
        (per, tolerance, wobble, current) => {
          const config = parsePolicyConfig({ strategy: 'per_replica', per_replica: per, tolerance });
          let state = initialPolicyState();
          return wobble.every((w, i) => {
            const metric = per * current * (1 + w * tolerance);
            const d = evaluatePolicy(config, state, { current, metric }, T + i * 15_000);
            state = d.state;
            return d.desired === null;
          });
        },
      ),
    );
  });

  it('a failing source never brings the count below current', () => {
    fc.assert(
      fc.property(
        strategyConfig,
        bounds,
        fc.option(fc.nat(40), { nil: undefined }),
        fc.constantFrom('static' as const, 'current_if_higher' as const),
        fc.integer({ min: 1, max: 3 }),
        fc.array(reading, { maxLength: 30 }),
        fc.nat(50),
        (s, b, fallback, mode, errorAfter, readings, start) => {
          const config = { ...s, ...b, fallback, fallback_mode: mode, error_after: errorAfter };
          return run(config, readings, start).every((step) => {
            const bad = 'error' in step.input || !(step.input.metric >= 0);
            return !bad || step.desired === null || step.desired >= step.current;
          });
        },
      ),
    );
  });
});
