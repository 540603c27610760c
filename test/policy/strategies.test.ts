import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyAwsChange,
  type Change,
  findStepBand,
  parseChange,
  perReplica,
  roundAwsPercent,
  type StepBand,
  steps,
  targetValue,
  threshold,
} from '../../src/policy/strategies.js';

describe('parseChange', () => {
  it.each<[string, string | number, Change | undefined]>([
    ['plus count', '+2', { kind: 'count', value: 2 }],
    ['minus count', '-1', { kind: 'count', value: -1 }],
    ['unsigned count', '3', { kind: 'count', value: 3 }],
    ['TOML integer', 2, { kind: 'count', value: 2 }],
    ['plus percent', '+25%', { kind: 'percent', value: 25 }],
    ['minus fractional percent', '-12.5%', { kind: 'percent', value: -12.5 }],
    ['exact capacity', '=5', { kind: 'exact', value: 5 }],
    ['fractional count is rejected', '+1.5', undefined],
    ['fractional number is rejected', 1.5, undefined],
    ['exact with sign is rejected', '=-1', undefined],
    ['words are rejected', 'double', undefined],
  ])('%s: %j', (_name, input, expected) => {
    expect(parseChange(input)).toEqual(expected);
  });
});

describe('AWS PercentChangeInCapacity rounding', () => {
  it.each([
    ['between 0 and 1 rounds to 1', 0.4, 1],
    ['greater than 1 rounds down (12.7 → 12)', 12.7, 12],
    ['between -1 and 0 rounds to -1', -0.4, -1],
    ['less than -1 rounds up (-6.67 → -6)', -6.67, -6],
    ['zero stays zero', 0, 0],
    ['whole values are kept', 3, 3],
  ])('%s', (_name, input, expected) => {
    expect(roundAwsPercent(input)).toBe(expected);
  });

  it('MinAdjustmentMagnitude: +25% of 4 with a minimum of 2 adds 2 (AWS docs)', () => {
    expect(applyAwsChange(4, { kind: 'percent', value: 25 }, 2)).toBe(6);
  });

  it('MinAdjustmentMagnitude also widens a percentage scale-in', () => {
    expect(applyAwsChange(4, { kind: 'percent', value: -25 }, 2)).toBe(2);
  });

  it('MinAdjustmentMagnitude does not apply to count changes', () => {
    expect(applyAwsChange(4, { kind: 'count', value: 1 }, 3)).toBe(5);
  });

  it('rounding never moves further than the unrounded change, except up to one member', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), (x) => {
        const r = roundAwsPercent(x);
        if (x === 0) return r === 0;
        return Math.sign(r) === Math.sign(x) && (Math.abs(r) <= Math.abs(x) || Math.abs(r) === 1);
      }),
    );
  });
});

describe('steps (AWS step scaling, docs example: threshold 50, current 10)', () => {
  // The AWS user guide's example: scale out 0..10 → 0, 10..20 → +10%, 20.. → +30%;
  // scale in -10..0 → 0, -20..-10 → -10%, ..-20 → -30%.
  const bands: StepBand[] = [
    { lower: 0, upper: 10, change: { kind: 'percent', value: 0 } },
    { lower: 10, upper: 20, change: { kind: 'percent', value: 10 } },
    { lower: 20, change: { kind: 'percent', value: 30 } },
    { lower: -10, upper: 0, change: { kind: 'percent', value: 0 } },
    { lower: -20, upper: -10, change: { kind: 'percent', value: -10 } },
    { upper: -20, change: { kind: 'percent', value: -30 } },
  ];
  it.each([
    ['between 40 and 60 keeps 10', 10, 55, 10],
    ['60 adds 10% of 10 = 1', 10, 60, 11],
    ['70 adds 30% of 11 = 3.3 → 3', 11, 70, 14],
    ['40 removes 10% of 14 = 1.4 → 1', 14, 40, 13],
    ['30 removes 30% of 13 = 3.9 → 3', 13, 30, 10],
  ])('%s', (_name, current, metric, expected) => {
    expect(steps('cpu', metric, current, 50, bands, 0).recommendation).toBe(expected);
  });

  it('at or above the threshold lower is inclusive, upper exclusive', () => {
    expect(findStepBand(bands, 10)).toBe(bands[1]);
    expect(findStepBand(bands, 0)).toBe(bands[0]);
  });

  it('below the threshold lower is exclusive, upper inclusive', () => {
    expect(findStepBand(bands, -10)).toBe(bands[4]);
    expect(findStepBand(bands, -20)).toBe(bands[5]);
  });

  it('a metric in no band recommends nothing', () => {
    const result = steps('queue', 3, 2, 0, [{ lower: 5, change: { kind: 'count', value: 1 } }], 0);
    expect(result.recommendation).toBeNull();
    expect(result.reason).toBe('queue 3 is in no step band');
  });

  it('exact capacity sets the count and never goes below zero', () => {
    expect(steps('q', 100, 3, 0, [{ lower: 0, change: { kind: 'exact', value: 7 } }], 0).recommendation).toBe(7);
    expect(steps('q', 1, 1, 0, [{ lower: 0, change: { kind: 'count', value: -5 } }], 0).recommendation).toBe(0);
  });

  it('reason names the band and the change', () => {
    expect(steps('cpu', 60, 10, 50, bands, 0).reason).toBe(
      'cpu 60 (threshold 50 + 10) in step [10, 20]: +10% on 10 = 11',
    );
  });
});

describe('targetValue (HPA algorithm)', () => {
  it.each([
    ['200m against 100m doubles 3 replicas to 6', 200, 3, 6],
    ['50m against 100m halves 4 replicas to 2', 50, 4, 2],
    ['ratio rounds up: 3 × 1.5 = 4.5 → 5', 150, 3, 5],
    ['from zero the ratio alone: 250 / 100 → 3', 250, 0, 3],
  ])('%s', (_name, metric, current, expected) => {
    expect(targetValue('cpu', metric, current, 100, 0.1).recommendation).toBe(expected);
  });

  it.each([
    ['ratio 1.1 is at the tolerance edge', 110],
    ['ratio 0.9 is at the tolerance edge', 90],
    ['ratio 1.05', 105],
  ])('within tolerance, no change: %s', (_name, metric) => {
    const result = targetValue('cpu', metric, 4, 100, 0.1);
    expect(result.recommendation).toBeNull();
    expect(result.reason).toContain('within tolerance 0.1');
  });

  it('just outside the tolerance scales', () => {
    expect(targetValue('cpu', 111, 10, 100, 0.1).recommendation).toBe(12);
  });
});

describe('perReplica (work queues)', () => {
  it('42 jobs at 3 per agent need 14', () => {
    expect(perReplica('queue', 42, 3)).toEqual({ recommendation: 14, reason: 'queue 42 / 3 per replica = 14' });
  });
  it('running work is added: 10 waiting + 5 running at 3 per agent need 5', () => {
    expect(perReplica('queue', 10, 3, 5)).toEqual({
      recommendation: 5,
      reason: 'queue 10 + running 5 / 3 per replica = 5',
    });
  });
  it('a partial unit of work still needs a member', () => {
    expect(perReplica('queue', 1, 3).recommendation).toBe(1);
  });
  it('always enough members for the work', () => {
    fc.assert(
      fc.property(fc.nat(10_000), fc.integer({ min: 1, max: 50 }), (work, per) => {
        const n = perReplica('q', work, per).recommendation as number;
        return n * per >= work && (n - 1) * per < work;
      }),
    );
  });
});

describe('threshold (Nomad threshold strategy plugin)', () => {
  const bounds = { lower: 5, upper: 20 };
  /** Feeds readings one by one, as one reading arrives per evaluation. */
  const run = (readings: number[], current: number, action: Parameters<typeof threshold>[5], trigger = 5) => {
    let within = 0;
    let last: ReturnType<typeof threshold> | undefined;
    for (const m of readings) {
      last = threshold('mem', m, current, bounds, trigger, action, within);
      within = last.withinCount;
    }
    return last?.recommendation ?? null;
  };
  const six = [10, 10, 10, 10, 10, 10];
  it.each<[string, number, number[], Parameters<typeof threshold>[5], number | null, number?]>([
    ['delta scale up', 1, six, { delta: 1 }, 2],
    ['delta scale down', 1, six, { delta: -1 }, 0],
    ['percentage scale up (10 +30% = 13)', 10, six, { percentage: 30 }, 13],
    ['percentage scale down (10 -30% = 7)', 10, six, { percentage: -30 }, 7],
    ['percentage 0 keeps the count', 10, six, { percentage: 0 }, 10],
    ['value scale up', 1, six, { value: 10 }, 10],
    ['value scale down', 20, six, { value: 10 }, 10],
    ['not enough points within bounds', 1, [10, 0, 0, 0, 0, 0], { delta: 1 }, null],
    ['custom trigger of 1 point', 1, [0, 0, 10], { delta: 1 }, 2, 1],
    ['an out-of-bounds point resets the run', 1, [10, 10, 10, 10, 0, 10], { delta: 1 }, null],
  ])('%s', (_name, current, readings, action, expected, trigger = 5) => {
    expect(run(readings, current, action, trigger)).toBe(expected);
  });

  it('lower_bound is inclusive, upper_bound is exclusive', () => {
    expect(threshold('m', 5, 1, bounds, 1, { delta: 1 }, 0).recommendation).toBe(2);
    expect(threshold('m', 20, 1, bounds, 1, { delta: 1 }, 0).recommendation).toBeNull();
  });
});
