import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfigFile, loadConfigText } from '../../src/config/load.js';
import { defaultRegistry } from '../../src/registry.js';

const registry = defaultRegistry();

function messages(text: string, env: NodeJS.ProcessEnv = {}, file = '/etc/waymond/w.toml'): string[] {
  const result = loadConfigText(text, file, registry, env, 'w.toml');
  return (result.ok ? result.config.warnings : result.issues).map(formatIssue);
}

const tick = '[[trigger]]\ntype = "interval"\nid = "tick"\nevery = "1s"\n';
const noop = '[[scaler]]\ntype = "noop"\nid = "s"\n';
const wire = '[[connect]]\ntype = "direct"\nid = "c"\nfrom = "trigger.tick"\nto = "scaler.s"\n';

describe('config errors name the file, the address and the field, and say expected vs found', () => {
  it.each([
    [
      'an unknown key, with did-you-mean',
      '[[trigger]]\ntype = "interval"\nid = "t"\nevery = "1s"\nimediately = true\n',
      [
        'error: w.toml: trigger.t: field "imediately": unknown field (did you mean "immediately"?); allowed: type, id, every, data, immediately',
      ],
    ],
    [
      'a wrong type',
      `${noop}max = "ten"\n`,
      ['error: w.toml: scaler.s: field "max": expected number, found string "ten"'],
    ],
    [
      'a missing required field',
      '[[trigger]]\ntype = "interval"\nid = "t"\n',
      ['error: w.toml: trigger.t: field "every": is required'],
    ],
    [
      'a bad duration',
      '[[trigger]]\ntype = "interval"\nid = "t"\nevery = "5 minutes"\n',
      [
        'error: w.toml: trigger.t: field "every": expected a duration like "15s", "1m30s" or "250ms", found "5 minutes"',
      ],
    ],
    [
      'a bad enum value',
      `${noop}on_shutdown = "kill"\n`,
      ['error: w.toml: scaler.s: field "on_shutdown": expected one of "keep", found string "kill"'],
    ],
    [
      'a negative count',
      `${noop}min = -1\n`,
      ['error: w.toml: scaler.s: field "min": expected a value >= 0, found number -1'],
    ],
    [
      'min above max',
      `${noop}min = 5\nmax = 2\n`,
      ['error: w.toml: scaler.s: field "min": min (5) is greater than max (2)'],
    ],
    [
      'an unknown type, with did-you-mean',
      '[[trigger]]\ntype = "crn"\nid = "t"\n',
      [
        expect.stringMatching(
          /^error: w\.toml: trigger\.t: field "type": unknown trigger type "crn" \(did you mean "cron"\?\); known: .*cron.*interval/,
        ),
      ],
    ],
    [
      'a missing type',
      '[[scaler]]\nid = "s"\n',
      [
        expect.stringMatching(
          /^error: w\.toml: scaler\.s: field "type": is required \(expected one of: .*noop.*\), found nothing$/,
        ),
      ],
    ],
    [
      'a bad id',
      '[[scaler]]\ntype = "noop"\nid = "has space"\n',
      ['error: w.toml: scaler.has space: field "id": expected letters, digits, "_" or "-", found string "has space"'],
    ],
    [
      'an unknown top-level key',
      `[[triger]]\n${tick}`,
      [
        'error: w.toml: unknown top-level key "triger" (did you mean "trigger"?); allowed: trigger, connect, scaler, http, hooks, store, cluster',
      ],
    ],
    [
      'a single table where an array of tables belongs',
      '[trigger]\ntype = "interval"\n',
      ['error: w.toml: "trigger" must be an array of tables ([[trigger]]), found a table'],
    ],
    [
      'a secret field never printed',
      '[[trigger]]\ntype = "http_endpoint"\nid = "h"\ntoken = 12345\n',
      [
        'error: w.toml: trigger.h: field "token": expected string, found (a value, not shown because the field is secret)',
      ],
    ],
    [
      'a password inside a URL never printed, even in a field of the wrong type',
      `${tick}${noop}${wire}[http]\nport = "redis://:hunter2@cache.internal:6379"\n`,
      ['error: w.toml: http: field "port": expected number, found string "redis://:***@cache.internal:6379"'],
    ],
    [
      'a long URL is redacted before it is cut, so a cut never reveals part of a password',
      `${tick}${noop}${wire}[http]\nport = "redis://worker:averyveryverylongpasswordthatgoesonandon@cache.internal:6379/0"\n`,
      ['error: w.toml: http: field "port": expected number, found string "redis://worker:***@cache.internal:6379/0"'],
    ],
    [
      'a URL that does not parse is a sentence, not a crash, and its password stays hidden',
      '[[trigger]]\ntype = "prometheus"\nid = "p"\nurl = "http://u:hunter2@[::1"\nquery = "up"\n',
      ['error: w.toml: trigger.p: field "url": Invalid URL, found string "http://u:***@[::1"'],
    ],
    [
      'an unsupported Go template construct',
      `${tick}${noop}${wire}[connect.transform]\nmethod = "go_template"\ntemplate = "{{ range .x }}"\n`,
      ['error: w.toml: connector.c: field "transform.template": unsupported template construct "range" at line 1'],
    ],
  ])('%s', (_name, text, expected) => {
    expect(messages(text)).toEqual(expected);
  });

  it('reports a TOML syntax error with line and column', () => {
    expect(messages('[[trigger]]\ntype = "cron\nid = "t"\n')).toEqual([
      'error: w.toml:2:13: TOML syntax error: control characters are not allowed in strings',
    ]);
  });

  it('reports a YAML syntax error with line and column', () => {
    const [message] = messages('trigger:\n  - type: interval\n   id: t\n', {}, '/etc/w.yaml');
    expect(message).toMatch(/^error: w\.toml:3:\d+: YAML syntax error: /);
  });

  it('reports every error of a file at once', () => {
    const text = `[[trigger]]\ntype = "interval"\nid = "t"\nevery = "x"\n${noop}max = "ten"\n[[connect]]\ntype = "direct"\nid = "c"\nfrom = 3\n`;
    expect(messages(text)).toHaveLength(3);
  });
});

describe('graph checks', () => {
  it.each([
    [
      'duplicate ids',
      `${noop}${noop}`,
      'error: w.toml: scaler.s: field "id": duplicate id: scaler.s is defined more than once (scaler[0] and scaler[1])',
    ],
    [
      'an unknown address, with did-you-mean',
      `${tick}[[connect]]\ntype = "direct"\nid = "c"\nfrom = "trigger.tik"\nto = "scaler.nope"\n`,
      'error: w.toml: connector.c: field "from": unknown address "trigger.tik" (did you mean "trigger.tick"?)',
    ],
    [
      'a connection into a trigger that takes no input',
      `${tick}[[trigger]]\ntype = "cron"\nid = "b"\nexpression = "* * * * *"\n[[connect]]\ntype = "direct"\nid = "c"\nfrom = "trigger.tick"\nto = "trigger.b"\n`,
      'error: w.toml: connector.c: field "to": trigger.b (cron) takes no input',
    ],
    [
      'a cycle, shown as a -> b -> a',
      '[[trigger]]\ntype = "http_client"\nid = "a"\nurl = "http://127.0.0.1:1"\n[[trigger]]\ntype = "http_client"\nid = "b"\nurl = "http://127.0.0.1:1"\n' +
        '[[connect]]\ntype = "direct"\nid = "ab"\nfrom = "trigger.a"\nto = "trigger.b"\n[[connect]]\ntype = "direct"\nid = "ba"\nfrom = "trigger.b"\nto = "trigger.a"\n',
      'error: w.toml: trigger.a: cycle: trigger.a -> connector.ab -> trigger.b -> connector.ba -> trigger.a',
    ],
    [
      'a connector that goes nowhere',
      `${tick}[[connect]]\ntype = "direct"\nid = "c"\nfrom = "trigger.tick"\n`,
      'error: w.toml: connector.c: field "to": goes nowhere: set to = "scaler.<id>", or read it with from = "connector.c" in another connector',
    ],
  ])('%s', (_name, text, expected) => {
    expect(messages(text)).toContain(expected);
  });

  it('warns about a scaler that nothing feeds, but loads', () => {
    const result = loadConfigText(noop, '/tmp/w.toml', registry, {});
    expect(result.ok).toBe(true);
    if (result.ok)
      expect(result.config.warnings.map((w) => w.message)).toEqual([
        'nothing feeds this scaler (no connector has it as "to"); it only resyncs its saved count',
      ]);
  });
});

describe('environment interpolation', () => {
  it('substitutes ${VAR} and ${VAR:-default}, numbers included', () => {
    const result = loadConfigText(`${noop}max = \${MAX}\ncount = \${COUNT:-3}\n`, '/tmp/w.toml', registry, {
      MAX: '7',
    });
    expect(result.ok && result.config.components[0]?.config).toMatchObject({ max: 7, count: 3 });
  });

  it('names a missing variable and its line', () => {
    expect(messages(`${noop}max = \${MISSING_MAX}\n`)[0]).toBe(
      'error: w.toml:4: environment variable MISSING_MAX is not set (write ${MISSING_MAX:-default} to give a default)',
    );
  });
});

describe('formats', () => {
  const dir = mkdtempSync(join(tmpdir(), 'waymond-formats-'));
  const doc = {
    trigger: [{ type: 'interval', id: 'tick', every: '1s' }],
    scaler: [{ type: 'noop', id: 's', max: 3 }],
    connect: [{ type: 'direct', id: 'c', from: 'trigger.tick', to: 'scaler.s' }],
  };
  const load = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    const result = loadConfigFile(file, registry);
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    return result.config.components.map((c) => [c.address, c.config]);
  };
  const fromToml = load('w.toml', `${tick}${noop}max = 3\n${wire}`);

  it('parses TOML with defaults applied', () => {
    expect(fromToml.map(([a]) => a)).toEqual(['trigger.tick', 'connector.c', 'scaler.s']);
    expect(fromToml[0]?.[1]).toEqual({ type: 'interval', id: 'tick', every: 1000, immediately: true });
    expect(fromToml[2]?.[1]).toMatchObject({
      type: 'noop',
      id: 's',
      min: 0,
      max: 3,
      resync_interval: 30000,
      on_shutdown: 'keep',
    });
  });

  it.each([
    [
      'w.yaml',
      'trigger:\n  - { type: interval, id: tick, every: 1s }\nscaler:\n  - { type: noop, id: s, max: 3 }\nconnect:\n  - { type: direct, id: c, from: trigger.tick, to: scaler.s }\n',
    ],
    ['w.json', JSON.stringify(doc)],
  ])('loads %s to the same components as TOML', (name, text) => {
    expect(load(name, text)).toEqual(fromToml);
  });
});
