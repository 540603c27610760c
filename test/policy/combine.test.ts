import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  type CombineOptions,
  combineInputs,
  combineSchemaShape,
  type SourceReading,
} from '../../src/policy/combine.js';

const T = 1_000_000;
const fresh = (value: number): SourceReading => ({ value, time: T });

describe('combineInputs', () => {
  const inputs = { queue: fresh(12), cpu: fresh(42), mem: fresh(30) };
  it.each<[CombineOptions['mode'], number, string]>([
    ['max', 42, 'max of queue 12, cpu 42, mem 30 = 42'],
    ['min', 12, 'min of queue 12, cpu 42, mem 30 = 12'],
    ['sum', 84, 'sum of queue 12, cpu 42, mem 30 = 84'],
    ['avg', 28, 'avg of queue 12, cpu 42, mem 30 = 28'],
  ])('%s', async (mode, value, reason) => {
    expect(await combineInputs(inputs, { mode }, T)).toEqual({ value, reason, used: ['queue', 'cpu', 'mem'] });
  });

  it('formula: a JSONata expression over the sources by name', async () => {
    const result = await combineInputs(inputs, { mode: 'formula', formula: 'queue + cpu / 2' }, T);
    expect(result).toMatchObject({ value: 33, reason: 'queue + cpu / 2 over queue 12, cpu 42, mem 30 = 33' });
  });

  it('stale and failing sources drop out, and the reason says why', async () => {
    const result = await combineInputs(
      { queue: fresh(5), cpu: { value: 90, time: T - 120_000 }, mem: { time: T, error: 'timeout' } },
      { mode: 'max', stale_after: 60_000 },
      T,
    );
    expect(result).toEqual({
      value: 5,
      reason: 'max of queue 5 = 5 (cpu stale (2m old > 1m); mem failing: timeout)',
      used: ['queue'],
    });
  });

  it('all stale or failing → hold', async () => {
    const result = await combineInputs(
      { cpu: { value: 90, time: T - 120_000 }, mem: { time: T, error: 'timeout' }, q: { value: null, time: T } },
      { mode: 'sum', stale_after: 60_000 },
      T,
    );
    expect(result).toEqual({
      value: null,
      reason: 'no usable source: cpu stale (2m old > 1m); mem failing: timeout; q has no number, holds',
      used: [],
    });
  });

  it('no sources at all → hold', async () => {
    expect((await combineInputs({}, { mode: 'max' }, T)).value).toBeNull();
  });

  it('a formula that gives no number holds', async () => {
    const result = await combineInputs({ a: fresh(1) }, { mode: 'formula', formula: 'b' }, T);
    expect(result).toMatchObject({ value: null, reason: 'formula "b" over a 1 gave nothing, not a number, holds' });
  });

  it('a formula sees only the usable sources and can default the others', async () => {
    const result = await combineInputs(
      { a: fresh(4), b: { time: T, error: 'x' } },
      { mode: 'formula', formula: 'a + ($exists(b) ? b : 10)' },
      T,
    );
    expect(result.value).toBe(14);
  });

  it('max, min and avg stay within the usable values', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.double({ min: -1e6, max: 1e6, noNaN: true }), {
          minKeys: 1,
        }),
        fc.constantFrom('max' as const, 'min' as const, 'avg' as const),
        async (values, mode) => {
          const inputs = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, fresh(v)]));
          const { value } = await combineInputs(inputs, { mode }, T);
          const all = Object.values(values);
          return value !== null && value >= Math.min(...all) - 1e-6 && value <= Math.max(...all) + 1e-6;
        },
      ),
    );
  });

  it('the schema rejects a formula that does not compile', () => {
    const result = z.strictObject(combineSchemaShape).safeParse({ mode: 'formula', formula: 'a +' });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/^invalid JSONata formula: /);
  });
});
