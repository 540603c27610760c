import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connectorSchema } from '../../src/core/schema.js';
import { parsePolicyConfig, policyConfigProblems, policySchemaShape, refinePolicy } from '../../src/policy/config.js';
import { evaluatePolicy, initialPolicyState } from '../../src/policy/evaluate.js';

function problems(input: Record<string, unknown>): string[] {
  const result = z.strictObject(policySchemaShape).superRefine(refinePolicy).safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('policy config', () => {
  it('fills the HPA defaults for both directions', () => {
    const config = parsePolicyConfig({ strategy: 'target_value', target: 100 });
    expect(config.scale_up).toEqual({ stabilization_window: 0, select: 'max', cooldown: 0 });
    expect(config.scale_down).toEqual({ stabilization_window: 300_000, select: 'max', cooldown: 0 });
    expect(config.min).toBe(0);
    expect(config.error_after).toBe(1);
  });

  it('parses durations, changes and schedules', () => {
    const config = parsePolicyConfig({
      strategy: 'steps',
      threshold: 50,
      steps: [
        { lower: 0, upper: 10, change: '+1' },
        { lower: 10, change: '+25%' },
        { upper: 0, change: '=2' },
      ],
      scale_down: { stabilization_window: '1m', policies: [{ type: 'count', value: 1, period: '30s' }], cooldown: 120 },
      schedules: [{ cron: '0 8 * * 1-5', duration: '10h', min: 5, timezone: 'Europe/Berlin' }],
    });
    expect(config.steps?.map((s) => s.change)).toEqual([
      { kind: 'count', value: 1 },
      { kind: 'percent', value: 25 },
      { kind: 'exact', value: 2 },
    ]);
    expect(config.scale_down).toEqual({
      stabilization_window: 60_000,
      policies: [{ type: 'count', value: 1, period: 30_000 }],
      select: 'max',
      cooldown: 120_000,
    });
    expect(config.schedules?.[0]?.duration).toBe(36_000_000);
  });

  it.each<[string, Record<string, unknown>, string[]]>([
    ['target_value without target', { strategy: 'target_value' }, ['target: strategy target_value needs `target`']],
    [
      'per_replica without per_replica',
      { strategy: 'per_replica' },
      ['per_replica: strategy per_replica needs `per_replica`'],
    ],
    ['fixed without value', { strategy: 'fixed' }, ['value: strategy fixed needs `value`']],
    ['steps without steps', { strategy: 'steps' }, ['steps: strategy steps needs `steps`']],
    [
      'a field of another strategy',
      { strategy: 'per_replica', per_replica: 3, target: 5 },
      ['target: `target` applies to strategy target_value, not per_replica'],
    ],
    [
      'threshold without bounds',
      { strategy: 'threshold', delta: 1 },
      ['lower_bound: strategy threshold needs `lower_bound`, `upper_bound` or both'],
    ],
    [
      'threshold with two actions',
      { strategy: 'threshold', lower_bound: 1, delta: 1, value: 3 },
      ['value: strategy threshold needs exactly one of `delta`, `percentage` or `value`, found 2'],
    ],
    [
      'threshold with crossed bounds',
      { strategy: 'threshold', lower_bound: 5, upper_bound: 5, delta: 1 },
      ['lower_bound: lower_bound (5) must be below upper_bound (5)'],
    ],
    ['min above max', { strategy: 'pass_through', min: 5, max: 2 }, ['min: min (5) is greater than max (2)']],
    [
      'fallback mode without a count',
      { strategy: 'pass_through', on_error: 'fallback' },
      ['fallback: on_error = "fallback" needs `fallback`'],
    ],
    [
      'a bad change',
      { strategy: 'steps', steps: [{ lower: 0, change: 'double' }] },
      ['steps.0.change: expected a change like "+2", "-1", "+25%", "-10%" or "=5", found "double"'],
    ],
    [
      'a bad duration',
      { strategy: 'pass_through', idle_after: 'soon' },
      ['idle_after: expected a duration like "15s", "1m30s" or "250ms", found "soon"'],
    ],
    ['an unknown field', { strategy: 'pass_through', targte: 1 }, [': Unrecognized key: "targte"']],
    [
      'a schedule without bounds',
      { strategy: 'pass_through', schedules: [{ cron: '0 8 * * *', duration: '1h' }] },
      ['schedules.0: a schedule needs `min`, `max` or both'],
    ],
  ])('rejects %s', (_name, input, expected) => {
    expect(problems(input)).toEqual(expected);
  });

  it('every field says what it is for', () => {
    for (const [name, field] of Object.entries(policySchemaShape)) {
      expect(field.description, name).toBeTruthy();
    }
  });

  it('a fallback count alone selects on_error fallback', () => {
    expect(policyConfigProblems(parsePolicyConfig({ strategy: 'pass_through', fallback: 3 }))).toEqual([]);
  });

  it('spreads into a connector schema, and the connector config feeds evaluatePolicy as is', () => {
    const schema = connectorSchema('policy', { ...policySchemaShape, metric: z.string() }).superRefine(refinePolicy);
    const raw = {
      type: 'policy',
      id: 'agents',
      from: 'trigger.queue',
      to: 'scaler.agents',
      metric: 'jobs',
      strategy: 'per_replica',
      per_replica: 2,
    };
    const config = schema.parse(raw);
    expect(evaluatePolicy(config, initialPolicyState(), { current: 1, metric: 6 }, 0).desired).toBe(3);
    expect(
      schema.safeParse({ ...raw, strategy: 'target_value', per_replica: undefined }).error?.issues[0]?.message,
    ).toBe('strategy target_value needs `target`');
  });
});
