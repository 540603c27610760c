import { describe, expect, it } from 'vitest';
import { compileTransform, transformConfigIssue } from '../../../src/connectors/transforms/index.js';
import { transformSchema } from '../../../src/core/schema.js';

describe('compileTransform', () => {
  it('runs a go_template transform', async () => {
    const transform = compileTransform({ method: 'go_template', template: '{"desired": {{ add .a .b }}}' });
    expect(await transform({ a: 1, b: 2 })).toEqual({ desired: 3 });
  });

  it('runs a jsonata transform', async () => {
    const transform = compileTransform({ method: 'jsonata', expression: '{ "desired": a + b }' });
    expect(await transform({ a: 1, b: 2 })).toEqual({ desired: 3 });
  });

  it('turns a render error into a rejection, not a throw', async () => {
    const transform = compileTransform({ method: 'go_template', template: '{"d": {{ .x }}}' });
    await expect(transform({})).rejects.toThrow('field .x is missing in the event data');
  });

  it('accepts what the config schema parses', async () => {
    const spec = transformSchema.parse({ method: 'jsonata', expression: '$' });
    expect(await compileTransform(spec)({ a: 1 })).toEqual({ a: 1 });
  });
});

describe('transformConfigIssue', () => {
  it('is undefined for transforms that compile', () => {
    expect(transformConfigIssue({ method: 'go_template', template: '{"a": {{ .a }}}' })).toBeUndefined();
    expect(transformConfigIssue({ method: 'jsonata', expression: '{ "a": a }' })).toBeUndefined();
  });

  it('names the problem of each method', () => {
    expect(transformConfigIssue({ method: 'go_template', template: '{{ range .x }}{{ end }}' })).toBe(
      'unsupported template construct "range" at line 1',
    );
    expect(transformConfigIssue({ method: 'jsonata', expression: '{ "a": ' })).toMatch(
      /^invalid JSONata expression: .* at position \d+$/,
    );
  });
});
