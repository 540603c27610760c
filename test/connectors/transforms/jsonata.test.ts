import { describe, expect, it } from 'vitest';
import { compileJsonata, compileJsonataTransform, requireObject } from '../../../src/connectors/transforms/jsonata.js';

describe('jsonata transform', () => {
  const cases: [name: string, expression: string, data: Record<string, unknown>, expected: unknown][] = [
    ['renames fields', '{ "desired": jobs }', { jobs: 4 }, { desired: 4 }],
    ['does arithmetic', '{ "desired": $ceil(scheduled / 2) }', { scheduled: 5 }, { desired: 3 }],
    ['reads nested data', '{ "q": queue.name }', { queue: { name: 'x' } }, { q: 'x' }],
    ['passes the data through', '$', { a: 1 }, { a: 1 }],
    ['merges objects', '$merge([$, { "desired": 2 }])', { a: 1 }, { a: 1, desired: 2 }],
    ['omits fields that match nothing', '{ "a": a, "b": missing }', { a: 1 }, { a: 1 }],
  ];
  for (const [name, expression, data, expected] of cases) {
    it(name, async () => expect(await compileJsonataTransform(expression)(data)).toEqual(expected));
  }

  it('rejects a syntax error at compile time with its position', () => {
    expect(() => compileJsonataTransform('{ "a": x + }')).toThrow(
      'invalid JSONata expression: The symbol "}" cannot be used as a unary operator [S0211] at position 12',
    );
    expect(() => compileJsonataTransform('$sum([1, 2]')).toThrow(
      /invalid JSONata expression: Expected "\)".*position 11/,
    );
  });

  const bad: [name: string, expression: string, data: Record<string, unknown>, message: string][] = [
    ['a result of nothing', 'missing', {}, 'the JSONata expression produced nothing'],
    ['a number', 'a', { a: 3 }, 'the JSONata expression must produce a JSON object, found number 3'],
    ['a string', '"x"', {}, 'must produce a JSON object, found string "x"'],
    ['an array', '[a, a]', { a: 1 }, 'must produce a JSON object, found an array'],
    [
      'a type error',
      '{ "n": $number(a) }',
      { a: 'x' },
      'JSONata evaluation failed: Unable to cast value to a number: "x"',
    ],
  ];
  for (const [name, expression, data, message] of bad) {
    it(`rejects ${name} at run time`, async () => {
      await expect(compileJsonataTransform(expression)(data)).rejects.toThrow(message);
    });
  }

  it('stops a runaway expression instead of hanging', async () => {
    const loop = compileJsonata('($f := function($x) { $f($x + 1) }; $f(0))');
    await expect(loop({})).rejects.toThrow(/JSONata evaluation failed: .*(Stack overflow|timeout)/i);
  });

  it('passes bindings as variables', async () => {
    expect(await compileJsonata('{ "status": $status, "v": body.v }')({ body: { v: 1 } }, { status: 200 })).toEqual({
      status: 200,
      v: 1,
    });
  });

  it('returns plain data without functions', () => {
    expect(requireObject({ a: 1, f: () => 1 }, 'x')).toEqual({ a: 1 });
  });
});
