import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { compileGoTemplate, compileGoTemplateTransform } from '../../../src/connectors/transforms/go-template.js';
import type { EventData } from '../../../src/core/types.js';
import { queueEvents } from '../../../src/triggers/ci/buildkite.js';
import { SEED_DIR } from '../../helpers/shared.js';

const buildkiteQueue: EventData = {
  queue: 'aws-on-demand-arm64-ubuntu-22-ami-abc',
  scheduled_jobs_count: 3,
  running_jobs_count: 2,
  waiting_jobs_count: 1,
  idle_agents_count: 0,
  busy_agents_count: 2,
  total_agents_count: 2,
};

const render = (template: string, data: EventData = buildkiteQueue) => compileGoTemplate(template).render(data);

describe('go_template rendering', () => {
  const cases: [name: string, template: string, data: EventData, expected: string][] = [
    ['plain text passes through', 'no actions here', {}, 'no actions here'],
    ['a field', 'q={{ .queue }}', { queue: 'default' }, 'q=default'],
    ['a field without spaces', '{{.n}}', { n: 4 }, '4'],
    ['a nested field', '{{ .a.b.c }}', { a: { b: { c: 'deep' } } }, 'deep'],
    ['dot prints the whole data as JSON', '{{ . }}', { a: 1 }, '{"a":1}'],
    ['an object field prints as JSON', '{{ .tags }}', { tags: ['x', 'y'] }, '["x","y"]'],
    ['booleans print as Go does', '{{ .ok }}/{{ true }}', { ok: false }, 'false/true'],
    ['floats print in shortest form', '{{ .f }}', { f: 2.5 }, '2.5'],
    ['add two fields', '{{ add .a .b }}', { a: 3, b: 2 }, '5'],
    ['add is variadic', '{{ add 1 2 3 4 }}', {}, '10'],
    ['sub', '{{ sub .a 10 }}', { a: 3 }, '-7'],
    ['mul', '{{ mul .a 3 }}', { a: 4 }, '12'],
    ['div of integers truncates toward zero', '{{ div 7 2 }} {{ div -7 2 }}', {}, '3 -3'],
    ['div with a non-integer divides exactly', '{{ div 7 2.5 }} {{ div .a 4 }}', { a: 5.5 }, '2.8 1.375'],
    ['divf always divides exactly, as sprig does', '{{ divf 7 2 }} {{ ceil (divf .a 4) }}', { a: 9 }, '3.5 3'],
    ['max and min are variadic', '{{ max 1 9 4 }} {{ min 3 .a 8 }}', { a: -2 }, '9 -2'],
    ['ceil and floor', '{{ ceil 2.1 }} {{ floor 2.9 }} {{ floor -2.5 }}', {}, '3 2 -3'],
    ['numeric strings count as numbers', '{{ add .a 1 }}', { a: '41' }, '42'],
    ['parenthesised sub-calls', '{{ div (add .a .b) 2 }}', { a: 3, b: 5 }, '4'],
    ['nested parentheses', '{{ max 1 (min 10 (mul .a 2)) }}', { a: 3 }, '6'],
    ['pipeline into a function', '{{ .a | add 1 }}', { a: 1 }, '2'],
    ['pipeline of several stages', '{{ .a | add 1 | mul 10 }}', { a: 1 }, '20'],
    ['pipeline inside parentheses', '{{ add 1 (.a | default 5) }}', {}, '6'],
    ['default fills a missing field', '{{ .x | default 3 }}', {}, '3'],
    ['default fills a null field', '{{ .x | default 3 }}', { x: null }, '3'],
    ['default fills a missing nested field', '{{ .a.b | default "none" }}', {}, 'none'],
    ['default keeps a present value', '{{ .x | default 3 }}', { x: 7 }, '7'],
    ['default treats zero as empty, as sprig does', '{{ .x | default 3 }}', { x: 0 }, '3'],
    ['default treats "" as empty', '{{ default "d" .x }}', { x: '' }, 'd'],
    ['quote a string', '{{ quote .q }}', { q: 'a "b"' }, '"a \\"b\\""'],
    ['quote a number', '{{ quote .n }}', { n: 5 }, '"5"'],
    ['quote several', '{{ quote "a" "b" }}', {}, '"a" "b"'],
    ['quote escapes newlines as JSON does', '{{ .s | quote }}', { s: 'a\nb' }, '"a\\nb"'],
    ['string literal escapes', '{{ "tab\\there" }}', {}, 'tab\there'],
    ['raw string literal', '{{ `a\\n"b"` }}', {}, 'a\\n"b"'],
    ['literal numbers', '{{ 3 }} {{ -2 }} {{ 1.5e2 }}', {}, '3 -2 150'],
    ['left trim marker removes preceding white space', 'a  \n\t {{- .x }}', { x: 1 }, 'a1'],
    ['right trim marker removes following white space', '{{ .x -}}  \n b', { x: 1 }, '1b'],
    ['both trim markers', '[\n  {{- .x -}}\n]', { x: 1 }, '[1]'],
    ['a minus sign is not a trim marker', '{{-3}}', {}, '-3'],
    ['comments render nothing', 'a{{/* note */}}b', {}, 'ab'],
    ['trimmed comments', 'a {{- /* note */ -}} b', {}, 'ab'],
    ['actions may span lines', '{{ add\n  1\n  2 }}', {}, '3'],
    ['a field named like a function', '{{ .max }}', { max: 1 }, '1'],
    ['unicode field names', '{{ .größe }}', { größe: 2 }, '2'],
  ];
  for (const [name, template, data, expected] of cases) {
    it(name, () => expect(compileGoTemplate(template).render(data)).toBe(expected));
  }
});

describe('go_template compile errors', () => {
  const cases: [name: string, template: string, message: string][] = [
    ['if', '{\n{{ if .x }}1{{ end }}', 'unsupported template construct "if" at line 2'],
    ['range', 'a\nb\n{{ range .items }}{{ end }}', 'unsupported template construct "range" at line 3'],
    ['with', '{{ with .x }}{{ end }}', 'unsupported template construct "with"'],
    ['end alone', '{{ end }}', 'unsupported template construct "end"'],
    ['template', '{{ template "x" }}', 'unsupported template construct "template"'],
    ['a variable', '{{ $x := 1 }}', 'unsupported template construct "$x" at line 1'],
    ['root variable', '{{ $.queue }}', 'unsupported template construct "$"'],
    ['nil', '{{ default 1 nil }}', 'unsupported template construct "nil"'],
    [
      'an unknown function',
      'x\n{{ toJson .a }}',
      'unsupported template function "toJson" at line 2 (supported: add, ceil',
    ],
    ['a Go builtin', '{{ printf "%d" .a }}', 'unsupported template function "printf"'],
    ['a keyword inside parentheses', '{{ add 1 (len .a) }}', 'unsupported template function "len"'],
    ['an unclosed action', '{\n  "a": {{ .a ', 'unclosed action (no "}}") at line 2'],
    ['an empty action', '{{ }}', 'empty action'],
    ['an unclosed parenthesis', '{{ add 1 (add 2 3 }}', 'unclosed "("'],
    ['a stray parenthesis', '{{ add 1 2) }}', 'unexpected ")"'],
    ['arguments to a field', '{{ .a 1 }}', "can't give an argument to a non-function"],
    ['a field after a pipe', '{{ 1 | .a }}', 'only a function can receive a piped value'],
    ['nothing after a pipe', '{{ .a | }}', 'missing command after "|"'],
    ['sub with three arguments', '{{ sub 1 2 3 }}', 'sub takes 2 arguments, found 3'],
    [
      'div with a piped value too many',
      '{{ 1 | div 2 3 }}',
      'div takes 2 arguments, found 3 (counting the piped value)',
    ],
    ['ceil without argument', '{{ ceil }}', 'ceil takes 1 argument, found 0'],
    ['default without a value', '{{ default 3 }}', 'default takes 2 arguments, found 1'],
    ['add without arguments', '{{ add }}', 'add takes at least 1 arguments, found 0'],
    ['a function as a bare argument', '{{ add 1 max }}', 'function "max" used as an argument needs parentheses'],
    ['an unterminated string', '{{ "abc }}', 'unterminated string'],
    ['an invalid escape', '{{ "a\\q" }}', 'invalid escape "\\q"'],
    ['an unclosed comment', '{{/* x }}', 'unclosed comment'],
    ['a comment with text after it', '{{/* x */ .a }}', 'comment must end at the closing "}}"'],
    ['an unexpected character', '{{ .a + 1 }}', 'unexpected "+" in action'],
    ['a number glued to a word', '{{ 3x }}', 'unsupported template construct "3x"'],
  ];
  for (const [name, template, message] of cases) {
    it(`rejects ${name}`, () => expect(() => compileGoTemplate(template)).toThrow(message));
  }
});

describe('go_template render errors', () => {
  const cases: [name: string, template: string, data: EventData, message: string][] = [
    [
      'a missing field names it and what is there',
      '{\n "q": "{{ .queue }}"}',
      { other: 1 },
      'field .queue is missing in the event data (fields present: other) at line 2',
    ],
    ['a null field', '{{ .q }}', { q: null }, 'field .q is null in the event data'],
    ['a missing nested field', '{{ .a.b }}', { a: {} }, 'field .a.b is missing in the event data (.a has no "b"'],
    ['a null parent', '{{ .a.b }}', { a: null }, 'field .a.b is missing in the event data (.a is null)'],
    ['a field of a number', '{{ .a.b }}', { a: 3 }, 'cannot read field .a.b: .a is number, not an object'],
    ['a missing argument of add', '{{ add .a 1 }}', {}, 'field .a is missing'],
    ['a missing value piped past default', '{{ .a | add 1 }}', {}, 'field .a is missing'],
    ['a missing default value', '{{ .a | default .b }}', {}, 'field .b is missing'],
    ['a non-numeric string', '{{ add .a 1 }}', { a: 'five' }, 'add: expected a number, found "five"'],
    ['divf by zero', '{{ divf 1 0 }}', {}, 'divf: division by zero'],
    ['a boolean in maths', '{{ mul .a 2 }}', { a: true }, 'mul: expected a number, found true'],
    ['an object in maths', '{{ max .a 2 }}', { a: { x: 1 } }, 'max: expected a number, found an object'],
    ['division by zero', '{{ div 1 .z }}', { z: 0 }, 'div: division by zero'],
    ['a missing field under quote', '{{ quote .a }}', {}, 'field .a is missing'],
  ];
  for (const [name, template, data, message] of cases) {
    it(name, () => expect(() => render(template, data)).toThrow(message));
  }
});

describe('go_template as a JSON transform', () => {
  it('parses the rendered output as a JSON object', () => {
    const transform = compileGoTemplateTransform('{ "desired": {{ .n }}, "name": {{ quote .q }} }');
    expect(transform({ n: 4, q: 'x' })).toEqual({ desired: 4, name: 'x' });
  });

  it('reports output that is not JSON with an excerpt', () => {
    const transform = compileGoTemplateTransform('{ "name": {{ .q }} }');
    expect(() => transform({ q: 'unquoted' })).toThrow(
      /template output is not valid JSON .*: "\{ \\"name\\": unquoted \}"/,
    );
  });

  it('rejects output that is JSON but not an object', () => {
    expect(() => compileGoTemplateTransform('[{{ .n }}]')({ n: 1 })).toThrow(
      'template output must be a JSON object, found an array',
    );
    expect(() => compileGoTemplateTransform('{{ .n }}')({ n: 1 })).toThrow('must be a JSON object, found 1');
  });

  it('cuts long output in the error', () => {
    const transform = compileGoTemplateTransform('{{ .s }}');
    let message = '';
    try {
      transform({ s: `x${'y'.repeat(5000)}` });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('…');
    expect(message.length).toBeLessThan(600);
  });

  it('does not share state between renders', () => {
    const transform = compileGoTemplateTransform('{"d": {{ .n | default 1 }}}');
    expect(transform({ n: 5 })).toEqual({ d: 5 });
    expect(transform({})).toEqual({ d: 1 });
  });
});

describe('go_template properties', () => {
  it('quote makes any string a JSON string that reads back unchanged', () => {
    const transform = compileGoTemplateTransform('{"s": {{ quote .s }}}');
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        expect(transform({ s })).toEqual({ s });
      }),
    );
  });

  it('integer maths matches Go int64 maths for safe integers', () => {
    const small = fc.integer({ min: -1_000_000, max: 1_000_000 });
    const template = compileGoTemplate(
      '{{ add .a .b }} {{ sub .a .b }} {{ mul .a .b }} {{ div .a .b }} {{ max .a .b }}',
    );
    fc.assert(
      fc.property(
        small,
        small.filter((b) => b !== 0),
        (a, b) => {
          const expected = [a + b, a - b, a * b, Math.trunc(a / b), Math.max(a, b)].map((n) => String(n + 0)).join(' ');
          expect(template.render({ a, b })).toBe(expected);
        },
      ),
    );
  });
});

describe('the seed configs', () => {
  const seedDir = SEED_DIR;
  const templates: { file: string; id: string; template: string }[] = [];
  for (const file of readdirSync(seedDir).filter((f) => f.endsWith('.toml'))) {
    const config = parse(readFileSync(join(seedDir, file), 'utf8')) as {
      connect?: { id: string; transform?: { method: string; template?: string } }[];
    };
    for (const connector of config.connect ?? []) {
      if (connector.transform?.method === 'go_template' && connector.transform.template) {
        templates.push({ file, id: connector.id, template: connector.transform.template });
      }
    }
  }

  it('holds go templates to test', () => {
    expect(templates.length).toBeGreaterThanOrEqual(2);
  });

  for (const { file, id, template } of templates) {
    it(`${file} ${id} renders a buildkite queue into scaler input`, () => {
      const output = compileGoTemplateTransform(template)(buildkiteQueue);
      expect(output.asg_name).toBe(buildkiteQueue.queue);
      expect(output.desired_count).toBeTypeOf('number');
      expect([3, 5]).toContain(output.desired_count);
      if ('tags' in output) {
        expect(output.tags).toEqual([
          { key: 'buildkite-agent-tag:queue', value: buildkiteQueue.queue, propagate_at_launch: true },
        ]);
        expect(output.desired_count).toBe(5);
      }
    });

    it(`${file} ${id} renders what the buildkite trigger emits`, () => {
      // The agent metrics API's shape, as the buildkite trigger reads it.
      const metrics = {
        agents: {
          idle: 0,
          busy: 1,
          total: 1,
          queues: { 'aws-on-demand-arm64-ubuntu-24-ami-1': { idle: 0, busy: 1, total: 1 } },
        },
        jobs: {
          scheduled: 4,
          running: 1,
          waiting: 0,
          total: 5,
          queues: { 'aws-on-demand-arm64-ubuntu-24-ami-1': { scheduled: 4, running: 1, waiting: 0, total: 5 } },
        },
        organization: { slug: 'acme' },
      };
      const [event] = queueEvents(metrics, undefined);
      const output = compileGoTemplateTransform(template)(event as EventData);
      expect(output.asg_name).toBe('aws-on-demand-arm64-ubuntu-24-ami-1');
      expect(output.desired_count).toBe('tags' in output ? 5 : 4);
    });

    it(`${file} ${id} names a missing queue`, () => {
      expect(() => compileGoTemplateTransform(template)({ scheduled_jobs_count: 1, running_jobs_count: 0 })).toThrow(
        'field .queue is missing in the event data',
      );
    });
  }
});
