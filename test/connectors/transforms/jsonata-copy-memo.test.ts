/**
 * The jsonata transform without a JSON round trip per result, and memoised when pure.
 *
 * jsonCopy replaces the JSON round trip the jsonata transform made on every result: it must
 * give exactly what `JSON.parse(JSON.stringify(value))` gives, for anything an expression can
 * produce, and a transform's output must be what it was with the round trip.
 */

import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import jsonata from 'jsonata';
import { describe, expect, it } from 'vitest';
import {
  compileJsonata,
  compileJsonataTransform,
  isPureExpression,
  jsonCopy,
  memoKey,
} from '../../../src/connectors/transforms/jsonata.js';

/** The round trip, with JSON.stringify's undefined (nothing to parse) kept as undefined. */
function roundTrip(value: unknown): { ok: true; value: unknown } | { ok: false } {
  try {
    const text = JSON.stringify(value);
    return { ok: true, value: text === undefined ? undefined : JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

function copy(value: unknown): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: jsonCopy(value) };
  } catch {
    return { ok: false };
  }
}

/** Same values and the same prototypes all the way down (isDeepStrictEqual checks both). */
function sameAsRoundTrip(value: unknown): boolean {
  return isDeepStrictEqual(copy(value), roundTrip(value));
}

const odd = fc.constantFrom(
  undefined,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  -0,
  () => 1,
  Symbol('s'),
  new Date(0),
  new Date(Number.NaN),
  { toJSON: (key: string) => `key:${key}` },
  Object.assign([1, 2], { sequence: true, keepSingleton: true }),
  new Map([[1, 2]]),
  new Uint8Array([1, 2]),
  JSON.parse('{"__proto__": {"a": 1}}'),
);

describe('jsonCopy', () => {
  it('equals the JSON round trip on arbitrary values', () => {
    const anything = fc.anything({
      withBoxedValues: true,
      withMap: true,
      withSet: true,
      withDate: true,
      withTypedArray: true,
      withSparseArray: true,
      withNullPrototype: true,
      withObjectString: true,
      withBigInt: true,
      maxDepth: 4,
    });
    const mixed = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        anything,
        odd,
        fc.array(tie('value')),
        fc.dictionary(fc.string(), tie('value')),
      ),
    })).value;
    fc.assert(fc.property(mixed, sameAsRoundTrip), { numRuns: 2000 });
  });

  it('the edge cases one by one: -0, NaN, holes, functions, dates, toJSON keys, __proto__, bigint', () => {
    const values: unknown[] = [
      -0,
      [Number.NaN, undefined, () => 1],
      // biome-ignore lint/suspicious/noSparseArray: a hole is what is tested
      [1, , 3],
      { a: undefined, b: () => 1, c: Symbol('c'), d: 1 },
      { when: new Date(Date.UTC(2026, 0, 1)) },
      { inner: { toJSON: (key: string) => `key:${key}` } },
      [{ toJSON: (key: string) => `index:${key}` }],
      JSON.parse('{"__proto__": {"polluted": true}}'),
      { big: 1n },
      new Number(3),
      'text',
      null,
    ];
    for (const value of values) expect(sameAsRoundTrip(value), String(value)).toBe(true);
    expect(Object.getPrototypeOf(jsonCopy(JSON.parse('{"__proto__": {"x": 1}}')))).toBe(Object.prototype);
  });

  it('shares nothing with its input', () => {
    const input = { a: { b: [1, { c: 2 }] } };
    const out = jsonCopy(input) as typeof input;
    expect(out).toEqual(input);
    expect(out.a).not.toBe(input.a);
    expect(out.a.b[1]).not.toBe(input.a.b[1]);
  });

  it('past its depth limit, a circular value fails as JSON.stringify does', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(() => jsonCopy(circular)).toThrow(/circular/i);
  });
});

describe('the jsonata transform gives what the round trip gave', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['{ "desired": $ceil(value / 2) }', { value: 7 }],
    [
      '{ "desired": value, "list": items[price > 1].name }',
      {
        value: 2,
        items: [
          { name: 'a', price: 2 },
          { name: 'b', price: 3 },
        ],
      },
    ],
    ['{ "one": items[0], "seq": items.name }', { items: [{ name: 'solo' }] }],
    ['{ "f": $uppercase, "n": 0 / 0 = 1, "inf": $number("1") }', {}],
    ['$', { nested: { deep: [1, 2, { x: null }] }, s: 'x' }],
    ['{ "m": $merge([a, b]), "k": $keys(a) }', { a: { x: 1 }, b: { y: [true, false] } }],
    ['{ "when": $fromMillis(0), "count": $count(xs), "sum": $sum(xs) }', { xs: [1, 2, 3.5] }],
  ];
  for (const [expression, data] of cases) {
    it(expression, async () => {
      const raw = await compileJsonata(expression)(data);
      const expected = JSON.parse(JSON.stringify(raw));
      const out = await compileJsonataTransform(expression)(data);
      expect(isDeepStrictEqual(out, expected)).toBe(true);
    });
  }
});

describe('a pure jsonata transform is memoised on its input, with the same results', () => {
  it('isPureExpression: no $millis, $now, $random or $eval anywhere in the expression', () => {
    const pure = ['{ "desired": $ceil(value / 2) }', '$map(xs, function($x) { $x * 2 })', '$sum(items.price)'];
    const impure = [
      '{ "t": $millis() }',
      '{ "at": $now() }',
      '{ "r": $random() }',
      '$map(xs, function($x) { $x + $millis() })',
      '$eval("1 + 1")',
      '{ "f": $millis }',
    ];
    const astOf = (expression: string) => jsonata(expression).ast();
    for (const expression of pure) expect(isPureExpression(astOf(expression)), expression).toBe(true);
    for (const expression of impure) expect(isPureExpression(astOf(expression)), expression).toBe(false);
  });

  it('memoKey: the JSON text of plain data, nothing for what JSON would blur', () => {
    expect(memoKey({ value: 3, list: [1, 'a', null, true], nested: { x: 1.5 } })).toBe(
      '{"value":3,"list":[1,"a",null,true],"nested":{"x":1.5}}',
    );
    class Queue {
      depth = 1;
    }
    // biome-ignore lint/suspicious/noSparseArray: a hole is what is tested
    const holes = [1, , 3];
    for (const blurred of [
      { a: undefined },
      { a: Number.NaN },
      { a: Number.POSITIVE_INFINITY },
      { a: -0 },
      { a: new Date(0) },
      { a: new Map() },
      { a: new Queue() },
      { a: () => 1 },
      { a: 1n },
      { a: holes },
      { a: Object.assign([1], { extra: true }) },
      { [Symbol('s')]: 1 },
    ])
      expect(memoKey(blurred), String(Object.values(blurred)[0])).toBeUndefined();
  });

  it('repeated inputs give what evaluating each time gives, each call its own copy', async () => {
    const expression = '{ "desired": $ceil(value / 2), "tags": [name, "x"], "nested": { "v": value } }';
    const transform = compileJsonataTransform(expression);
    const direct = compileJsonata(expression);
    const inputs = Array.from({ length: 300 }, (_, i) => ({ value: (i * 7) % 13, name: `n${i % 5}` }));
    const outputs: unknown[] = [];
    for (const input of inputs) {
      const out = await transform(input);
      expect(out).toEqual(JSON.parse(JSON.stringify(await direct(input))));
      outputs.push(out);
    }
    // A consumer that changes its output changes no later one.
    (outputs[0] as { nested: { v: number } }).nested.v = -1;
    expect(await transform(inputs[0] as { value: number; name: string })).toEqual({
      desired: 0,
      tags: ['n0', 'x'],
      nested: { v: 0 },
    });
    expect(outputs[13]).not.toBe(outputs[0]);
  });

  it('an impure transform is evaluated every time: $millis moves on for the same input', async () => {
    const transform = compileJsonataTransform('{ "t": $millis() }');
    const first = (await transform({})).t as number;
    const deadline = Date.now() + 5000;
    let later = first;
    while (later === first && Date.now() < deadline) later = (await transform({})).t as number;
    expect(later).toBeGreaterThan(first);
  });
});
