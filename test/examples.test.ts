import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatIssue } from '../src/config/issues.js';
import { loadConfigFile } from '../src/config/load.js';
import { defaultRegistry } from '../src/registry.js';
import { SEED_DIR } from './helpers/shared.js';

function configsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...configsUnder(path));
    else if (/\.(toml|ya?ml|json)$/.test(name) && !name.startsWith('.')) out.push(path);
  }
  return out.sort();
}

const registry = defaultRegistry();
const examples = configsUnder(new URL('../examples', import.meta.url).pathname);
const seedDir = SEED_DIR;
const seeds = readdirSync(seedDir)
  .filter((f) => f.endsWith('.toml'))
  .map((f) => join(seedDir, f));

describe('every example under examples/ validates', () => {
  it('finds the examples', () => {
    expect(examples.length).toBeGreaterThan(3);
  });
  it.each(examples.map((f) => [f.slice(f.indexOf('examples/')), f]))('%s', (_name, file) => {
    const result = loadConfigFile(file, registry, { ...process.env, BUILDKITE_TOKEN: 'x', GITHUB_TOKEN: 'x' });
    expect(result.ok ? [] : result.issues.map(formatIssue)).toEqual([]);
  });
});

describe("the original project's configs still validate unchanged", () => {
  it.each(seeds.map((f) => [f.slice(f.lastIndexOf('/') + 1), f]))('%s', (_name, file) => {
    const result = loadConfigFile(file, registry);
    expect(result.ok ? [] : result.issues.map(formatIssue)).toEqual([]);
  });
});
