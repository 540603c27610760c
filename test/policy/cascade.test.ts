import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocateTiers, type Tier, trackOverflow } from '../../src/policy/cascade.js';

const vm = (current: number, capacity: number | null = 10, failed = false): Tier => ({
  name: 'vm',
  capacity,
  current,
  failed,
});
const asg = (current: number, capacity: number | null = null, failed = false): Tier => ({
  name: 'asg',
  capacity,
  current,
  failed,
});

describe('allocateTiers', () => {
  it.each<[string, number, Tier[], number[], number]>([
    ['fills the first tier to capacity, overflows into the next', 14, [vm(0), asg(0)], [10, 4], 0],
    ['the last tier may be unlimited', 500, [vm(10), asg(3)], [10, 490], 0],
    ['new members go to the earliest tier with room', 9, [vm(3), asg(4)], [5, 4], 0],
    ['scale-in takes from the last tier first', 11, [vm(10), asg(4)], [10, 1], 0],
    ['then from the tier before', 6, [vm(10), asg(4)], [6, 0], 0],
    ['a failed tier keeps what it has and its share overflows', 12, [vm(2, 10, true), asg(0)], [2, 10], 0],
    ['a failed tier takes nothing new even with room', 3, [vm(0, 10, true), asg(0)], [0, 3], 0],
    ['members over a lowered capacity are placed again later', 8, [vm(8, 5), asg(0)], [5, 3], 0],
    ['what no tier can hold is unplaced', 25, [vm(0), asg(0, 10)], [10, 10], 5],
    ['no member moves just to rebalance', 7, [vm(3), asg(4)], [3, 4], 0],
  ])('%s', (_name, desired, tiers, perTier, unplaced) => {
    expect(allocateTiers(desired, tiers)).toMatchObject({ perTier, unplaced });
  });

  it('says how the count was split', () => {
    expect(allocateTiers(14, [vm(2, 10, true), asg(0)]).reason).toBe(
      '14 over 2 tiers: vm 2, asg 0 → 12; vm failed, holds at most its 2',
    );
    expect(allocateTiers(14, [vm(0), asg(0)]).reason).toBe('14 over 2 tiers: vm 0 → 10 (full), asg 0 → 4');
  });

  it('rejects a desired count that is not a whole number ≥ 0', () => {
    expect(() => allocateTiers(Number.NaN, [vm(0)])).toThrow(RangeError);
    expect(() => allocateTiers(-1, [vm(0)])).toThrow(RangeError);
  });

  const tier = fc.record({
    capacity: fc.option(fc.nat(20), { nil: null }),
    failed: fc.boolean(),
  });
  // Currents within capacity: a tier's members exist because they fit.
  const tiers = fc
    .array(fc.tuple(tier, fc.nat(20)), { minLength: 1, maxLength: 5 })
    .map((list) =>
      list.map(([t, c]): Tier => ({ capacity: t.capacity, current: Math.min(c, t.capacity ?? c), failed: t.failed })),
    );

  it('never puts more on a tier than its capacity (or than a failed tier has)', () => {
    fc.assert(
      fc.property(fc.nat(200), tiers, (desired, list) => {
        const { perTier } = allocateTiers(desired, list);
        return perTier.every((n, i) => {
          const t = list[i] as Tier;
          return n >= 0 && n <= (t.capacity ?? Number.POSITIVE_INFINITY) && (!t.failed || n <= t.current);
        });
      }),
    );
  });

  it('places everything it can: the total is desired less what is unplaced', () => {
    fc.assert(
      fc.property(fc.nat(200), tiers, (desired, list) => {
        const { perTier, unplaced } = allocateTiers(desired, list);
        return perTier.reduce((a, b) => a + b, 0) + unplaced === desired;
      }),
    );
  });

  it('scales in from the last tier first', () => {
    fc.assert(
      fc.property(fc.nat(200), tiers, (desired, list) => {
        const total = list.reduce((a, t) => a + t.current, 0);
        fc.pre(desired < total);
        const { perTier } = allocateTiers(desired, list);
        // No tier grows, and once a tier lost members every later tier is empty.
        const lostAt = perTier.findIndex((n, i) => n < (list[i] as Tier).current);
        return (
          perTier.every((n, i) => n <= (list[i] as Tier).current) &&
          (lostAt === -1 || perTier.slice(lostAt + 1).every((n) => n === 0))
        );
      }),
    );
  });
});

describe('trackOverflow', () => {
  const T = 1_000_000;
  const short = { name: 'vm', asked: 10, current: 6, capacity: 10 };

  it('a tier with what it asked for is not limited and clears the clock', () => {
    expect(trackOverflow({ ...short, current: 10 }, T - 5000, 60_000, T)).toMatchObject({
      capacity: 10,
      shortSince: null,
      limited: false,
    });
  });

  it('a shortfall starts the clock', () => {
    expect(trackOverflow(short, null, 60_000, T)).toMatchObject({ capacity: 10, shortSince: T, limited: false });
  });

  it('past overflow_after the tier counts as full at its current count', () => {
    expect(trackOverflow(short, T - 60_000, 60_000, T)).toEqual({
      capacity: 6,
      shortSince: T - 60_000,
      limited: true,
      reason: 'vm has 6 of 10 asked for 1m ≥ overflow_after 1m: treated as full at 6',
    });
  });

  it('the limited capacity sends the shortfall to the next tier', () => {
    const limited = trackOverflow(short, T - 120_000, 60_000, T);
    expect(allocateTiers(14, [vm(6, limited.capacity), asg(4)]).perTier).toEqual([6, 8]);
  });
});
