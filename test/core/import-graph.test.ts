/**
 * The dependency rule (docs/architecture.md), checked over the `import` lines of src/**:
 * src/core imports nothing from the other rooms of src (only itself and packages), and no
 * module imports itself back through a chain (no cycles, type-only imports included: a
 * cycle of types today is a cycle of values tomorrow).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findCycle } from '../../src/core/graph.js';

const SRC = resolve(import.meta.dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Relative specifiers of static imports and re-exports, and of dynamic import('…') calls. */
function importSpecifiers(text: string): string[] {
  const found: string[] = [];
  const statement = /^\s*(?:import|export)\b[^'"`;]*?(?:\bfrom\s*)?['"]([^'"]+)['"]/gm;
  const dynamic = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const m of text.matchAll(statement)) found.push(m[1] as string);
  for (const m of text.matchAll(dynamic)) found.push(m[1] as string);
  return found.filter((s) => s.startsWith('.'));
}

/** `src/x/y.ts` → the src-relative paths it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const from = relative(SRC, file);
    const targets = importSpecifiers(readFileSync(file, 'utf8')).map((spec) =>
      relative(SRC, resolve(dirname(file), spec)).replace(/\.js$/, '.ts'),
    );
    graph.set(from, [...new Set(targets)]);
  }
  return graph;
}

/** What core imports from outside core, as `from -> to` lines. */
function upwardImports(graph: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const [from, targets] of graph) {
    if (!from.startsWith('core/')) continue;
    for (const to of targets) if (!to.startsWith('core/')) out.push(`src/${from} -> src/${to}`);
  }
  return out;
}

describe('the import graph of src/', () => {
  const graph = importGraph();

  it('parses what the sources import (the check itself can see an import)', () => {
    expect(
      importSpecifiers(
        "import { a } from './a.js';\nimport type {\n  B,\n} from '../b.js';\nexport { c } from './c.js';\nconst d = await import('./d.js');\nimport pino from 'pino';",
      ),
    ).toEqual(['./a.js', '../b.js', './c.js', './d.js']);
    expect(graph.get('core/engine.ts')).toContain('core/reconciler.ts');
    expect(upwardImports(new Map([['core/x.ts', ['server/http.ts', 'core/y.ts']]]))).toEqual([
      'src/core/x.ts -> src/server/http.ts',
    ]);
  });

  it('core imports nothing from the other rooms of src', () => {
    expect(upwardImports(graph)).toEqual([]);
  });

  it('has no import cycle', () => {
    const edges = [...graph].flatMap(([from, targets]) => targets.map((to): [string, string] => [from, to]));
    expect(findCycle(edges.filter(([a, b]) => a !== b))?.join(' -> ')).toBeUndefined();
    expect(
      findCycle([
        ['a.ts', 'b.ts'],
        ['b.ts', 'a.ts'],
      ]),
    ).toEqual(['a.ts', 'b.ts', 'a.ts']);
  });
});
