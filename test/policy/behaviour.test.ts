import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  changedInPeriod,
  cooldownLeft,
  defaultRatePolicies,
  rememberRecommendation,
  type ScaleEvent,
  type ScalingRules,
  scaleDownLimit,
  scaleUpLimit,
  stabilize,
} from '../../src/policy/behaviour.js';

const up: ScalingRules = { stabilization_window: 0, select: 'max', cooldown: 0 };
const down: ScalingRules = { stabilization_window: 300_000, select: 'max', cooldown: 0 };
const T = 1_000_000;

describe('stabilize', () => {
  it('scale-down is held at the highest recommendation of the last 300s (HPA docs)', () => {
    const history = [
      { time: T - 290_000, value: 10 },
      { time: T - 100_000, value: 6 },
    ];
    expect(stabilize(10, 4, history, 0, 300_000, T)).toMatchObject({ value: 10, downBound: 10 });
  });

  it('a record exactly one window old no longer counts', () => {
    expect(stabilize(10, 4, [{ time: T - 300_000, value: 10 }], 0, 300_000, T).value).toBe(4);
  });

  it('scale-down goes to the highest recommendation in the window, not further', () => {
    const history = [
      { time: T - 200_000, value: 7 },
      { time: T - 100_000, value: 5 },
    ];
    expect(stabilize(10, 4, history, 0, 300_000, T).value).toBe(7);
  });

  it('scale-up with a 0s window follows the new recommendation at once', () => {
    expect(stabilize(3, 9, [{ time: T - 1, value: 2 }], 0, 300_000, T).value).toBe(9);
  });

  it('scale-up with a window goes only to the lowest recommendation in it', () => {
    expect(stabilize(3, 9, [{ time: T - 30_000, value: 5 }], 60_000, 300_000, T).value).toBe(5);
  });

  it('the result always lies between current and the recommendation', () => {
    fc.assert(
      fc.property(
        fc.nat(50),
        fc.nat(50),
        fc.array(fc.record({ age: fc.nat(600_000), value: fc.nat(50) }), { maxLength: 20 }),
        (current, recommendation, records) => {
          const history = records.map((r) => ({ time: T - r.age, value: r.value }));
          const { value } = stabilize(current, recommendation, history, 60_000, 300_000, T);
          return value >= Math.min(current, recommendation) && value <= Math.max(current, recommendation);
        },
      ),
    );
  });

  it('remembers only what the longest window can still see', () => {
    const history = [
      { time: T - 400_000, value: 1 },
      { time: T - 10_000, value: 2 },
    ];
    expect(rememberRecommendation(history, 3, 300_000, T)).toEqual([
      { time: T - 10_000, value: 2 },
      { time: T, value: 3 },
    ]);
  });
});

describe('rate limits', () => {
  it('HPA default scale-up: from 1, 4 members win over 100% (→ 5)', () => {
    expect(scaleUpLimit(1, [], up, T)).toBe(5);
  });

  it('HPA default scale-up: from 10, 100% wins over 4 members (→ 20)', () => {
    expect(scaleUpLimit(10, [], up, T)).toBe(20);
  });

  it('HPA default scale-up from zero allows 4', () => {
    expect(scaleUpLimit(0, [], up, T)).toBe(4);
  });

  it('a scale-up inside the period spends its budget: 5 → 10 ten seconds ago allows no more', () => {
    // Period start = 10 - 5 = 5; proposals 5 × 2 = 10 and 5 + 4 = 9; the limit is 10 (no further growth).
    const events: ScaleEvent[] = [{ time: T - 10_000, change: 5 }];
    expect(scaleUpLimit(10, events, up, T)).toBe(10);
  });

  it('after the 15s period the budget is back', () => {
    const events: ScaleEvent[] = [{ time: T - 15_000, change: 5 }];
    expect(scaleUpLimit(10, events, up, T)).toBe(20);
  });

  it('select min takes the policy allowing the least change', () => {
    expect(scaleUpLimit(10, [], { ...up, select: 'min' }, T)).toBe(14);
  });

  it('select disabled forbids the direction', () => {
    expect(scaleUpLimit(10, [], { ...up, select: 'disabled' }, T)).toBe(10);
    expect(scaleDownLimit(10, [], { ...down, select: 'disabled' }, T)).toBe(10);
  });

  it('HPA default scale-down: 100% per 15s allows going to zero', () => {
    expect(scaleDownLimit(10, [], down, T)).toBe(0);
  });

  it('scale-down percent policy truncates the count: 15 less 10% = 13.5 → 13', () => {
    const rules: ScalingRules = { ...down, policies: [{ type: 'percent', value: 10, period: 60_000 }] };
    expect(scaleDownLimit(15, [], rules, T)).toBe(13);
  });

  it('scale-down count policy counts removals inside the period', () => {
    const rules: ScalingRules = { ...down, policies: [{ type: 'count', value: 2, period: 60_000 }] };
    const events: ScaleEvent[] = [{ time: T - 30_000, change: -2 }];
    expect(scaleDownLimit(8, events, rules, T)).toBe(8);
    expect(scaleDownLimit(8, [], rules, T)).toBe(6);
  });

  it('scale-up percent proposals round up so small counts can grow', () => {
    const rules: ScalingRules = { ...up, policies: [{ type: 'percent', value: 10, period: 60_000 }] };
    expect(scaleUpLimit(3, [], rules, T)).toBe(4);
  });

  it('limits never cross current', () => {
    fc.assert(
      fc.property(
        fc.nat(100),
        fc.array(fc.record({ age: fc.nat(100_000), change: fc.integer({ min: -20, max: 20 }) }), { maxLength: 10 }),
        (current, raw) => {
          const events = raw.map((e) => ({ time: T - e.age, change: e.change }));
          return scaleUpLimit(current, events, up, T) >= current && scaleDownLimit(current, events, down, T) <= current;
        },
      ),
    );
  });

  it('counts each direction separately', () => {
    const events: ScaleEvent[] = [
      { time: T - 1000, change: 3 },
      { time: T - 2000, change: -2 },
      { time: T - 20_000, change: 9 },
    ];
    expect(changedInPeriod(events, 'up', 15_000, T)).toBe(3);
    expect(changedInPeriod(events, 'down', 15_000, T)).toBe(2);
  });

  it('defaults are the HPA ones', () => {
    expect(defaultRatePolicies('up')).toEqual([
      { type: 'percent', value: 100, period: 15_000 },
      { type: 'count', value: 4, period: 15_000 },
    ]);
    expect(defaultRatePolicies('down')).toEqual([{ type: 'percent', value: 100, period: 15_000 }]);
  });
});

describe('cooldownLeft', () => {
  it.each([
    ['never scaled', null, 60_000, T, 0],
    ['no cooldown configured', T - 1000, 0, T, 0],
    ['inside the cooldown', T - 15_000, 60_000, T, 45_000],
    ['cooldown just over', T - 60_000, 60_000, T, 0],
  ])('%s', (_name, last, cooldown, now, expected) => {
    expect(cooldownLeft(last, cooldown, now)).toBe(expected);
  });
});
