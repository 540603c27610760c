import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfigText } from '../../src/config/load.js';
import type { ComponentKind } from '../../src/core/types.js';
import { componentJsonSchema, renderReference } from '../../src/docs/reference.js';
import { mergeBranches } from '../../src/docs/switch-table.js';
import { defaultRegistry } from '../../src/registry.js';

const registry = defaultRegistry();
const kinds: ComponentKind[] = ['trigger', 'connector', 'scaler'];
const all = kinds.flatMap((kind) => registry.all(kind).map((def) => [`${kind} ${def.type}`, def] as const));

describe('generated reference docs', () => {
  it('docs/reference.md is up to date with the schemas (run `npm run docs`)', () => {
    const onDisk = readFileSync(new URL('../../docs/reference.md', import.meta.url), 'utf8');
    expect(onDisk).toBe(renderReference(registry));
  });

  it.each(all)('%s describes every field (of every branch of a switch)', (_name, def) => {
    const schema = mergeBranches(componentJsonSchema(def));
    expect(Object.keys(schema.properties ?? {}).length).toBeGreaterThan(0);
    const undocumented = Object.entries(schema.properties ?? {})
      .filter(([name, field]) => name !== 'type' && !field.description)
      .map(([name]) => name);
    expect(undocumented).toEqual([]);
  });

  it.each(all)('%s ships an example that validates', (_name, def) => {
    expect(def.example.trim()).not.toBe('');
    // Examples may read secrets from the environment (`${TOKEN}`): any variable is set here.
    const anyEnv = new Proxy({}, { get: () => 'from-the-environment' }) as NodeJS.ProcessEnv;
    const result = loadConfigText(def.example, '/tmp/example.toml', registry, anyEnv);
    // Examples show one component alone: graph errors about its peers are expected, schema errors are not.
    const issues = result.ok
      ? []
      : result.issues.filter((i) => !/unknown address|goes nowhere|takes no input/.test(i.message));
    expect(issues.map(formatIssue)).toEqual([]);
  });

  it('registering the same type twice throws', () => {
    const def = registry.get('scaler', 'noop');
    expect(() => registry.register(def as never)).toThrow('scaler type "noop" is registered twice');
  });
});
