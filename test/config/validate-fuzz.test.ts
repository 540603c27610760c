/**
 * Hostile and careless configs through validate: 10,000 mutations of every example (a
 * field deleted, retyped, set to an absurd value, nested 200 deep, an unknown key, another
 * type name), each loaded as a user's file would be. Validation must never throw, every
 * error must be a sentence naming where it is, and a password planted in any value must
 * never appear in any message.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { interpolateEnv } from '../../src/config/interpolate.js';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfigText } from '../../src/config/load.js';
import { defaultRegistry } from '../../src/registry.js';

const EXAMPLES = new URL('../../examples', import.meta.url).pathname;
const SECRET = 'hunter2-Zq9';
const MUTATIONS = 10_000;

function tomlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tomlFiles(path);
    return name.endsWith('.toml') ? [path] : [];
  });
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every place in the document a mutation can land: [container, key]. */
function places(doc: Json, out: [Record<string, Json> | Json[], string | number][] = []) {
  if (Array.isArray(doc))
    for (const [i, v] of doc.entries()) {
      out.push([doc, i]);
      places(v, out);
    }
  else if (doc && typeof doc === 'object')
    for (const [k, v] of Object.entries(doc)) {
      out.push([doc, k]);
      places(v, out);
    }
  return out;
}

function deep(depth: number): Json {
  let value: Json = { desired: 1 };
  for (let i = 0; i < depth; i++) value = { nested: value };
  return value;
}

const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constant(`redis://admin:${SECRET}@cache.internal:6379`),
  fc.constant(`https://api.example.com/v1?token=${SECRET}&page=1`),
  fc.constant(`postgres://ci:${SECRET}@db:5432/ci`),
  fc.constant(''),
  fc.constant('   '),
  fc.constant('${UNSET_VARIABLE}'),
  fc.constant('not a url'),
  fc.constant('http://[::1'),
  fc.constant('1e309'),
  fc.constant(-1),
  fc.constant(0),
  fc.constant(1.5),
  fc.constant(Number.MAX_SAFE_INTEGER * 4),
  fc.constant(true),
  fc.constant(null),
  fc.constant([] as Json[]),
  fc.constant({} as Json),
  fc.constant(deep(200)),
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
);

const mutation = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('delete', 'replace', 'add_key', 'retype', 'duplicate_id'),
  value: hostileValue,
  key: fc.oneof(
    fc.constantFrom('type', 'id', 'from', 'to', 'min', 'max', 'url', 'desired'),
    fc.string({ maxLength: 12 }),
  ),
});

const registry = defaultRegistry();
const types = ['trigger', 'connector', 'scaler'].flatMap((k) => registry.types(k as 'trigger'));

function apply(doc: Json, ops: { at: number; op: string; value: Json; key: string }[]): Json {
  for (const { at, op, value, key } of ops) {
    const all = places(doc);
    if (all.length === 0) return doc;
    const [container, k] = all[at % all.length] as [Record<string, Json> | Json[], string | number];
    const target = (container as Record<string | number, Json>)[k];
    switch (op) {
      case 'delete':
        if (Array.isArray(container)) container.splice(k as number, 1);
        else delete container[k as string];
        break;
      case 'replace':
        (container as Record<string | number, Json>)[k] = structuredClone(value);
        break;
      case 'add_key':
        if (target && typeof target === 'object' && !Array.isArray(target)) target[key] = structuredClone(value);
        break;
      case 'retype':
        if (target && typeof target === 'object' && !Array.isArray(target))
          target.type = types[at % types.length] ?? 'nope';
        break;
      case 'duplicate_id':
        if (Array.isArray(container) && target) container.push(JSON.parse(JSON.stringify(target)));
        break;
    }
  }
  return doc;
}

describe('validate on hostile configs', () => {
  const anyEnv = new Proxy({}, { get: (_t, name) => (typeof name === 'string' ? 'x1' : undefined) });
  const seeds = tomlFiles(EXAMPLES).map((file) => ({
    file,
    doc: parse(interpolateEnv(readFileSync(file, 'utf8'), anyEnv as NodeJS.ProcessEnv).text) as unknown as Json,
  }));

  it(`${MUTATIONS} mutations of the examples: never a throw, every error a sentence, no planted secret shown`, () => {
    let invalid = 0;
    fc.assert(
      fc.property(
        fc.nat({ max: seeds.length - 1 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (which, ops) => {
          const seed = seeds[which] as (typeof seeds)[number];
          const doc = apply(JSON.parse(JSON.stringify(seed.doc)) as Json, ops as never);
          const result = loadConfigText(JSON.stringify(doc), '/fuzz/waymond.json', registry, {}, 'waymond.json');
          const issues = result.ok ? result.config.warnings : result.issues;
          if (!result.ok) invalid++;
          for (const issue of issues) {
            const line = formatIssue(issue);
            expect(line).toMatch(/^(error|warning): waymond\.json(:\d+(:\d+)?)?: \S/);
            expect(line, line).not.toContain(SECRET);
            expect(line).not.toMatch(/\[object Object\]|undefined|NaN/);
          }
        },
      ),
      { numRuns: MUTATIONS, seed: 20261201 },
    );
    // Most mutations must be caught: a fuzz that only produced valid files would prove nothing.
    expect(invalid).toBeGreaterThan(MUTATIONS / 2);
  });
});
