// `npm run build:cli`: bundles the CLI into dist/bundle/ (the package's `bin`) from
// src/cli/waymond.ts: one entry plus one chunk per lazily imported part (each verb, each
// heavy component), so a start reads a few files instead of hundreds. The pure-JS libraries
// every start needs are bundled in; every other dependency stays external and loads from
// node_modules when a component needs it (native parts, worker-thread transports, big SDKs).
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

/**
 * Bundled into the output with their dependencies: what `validate` (and every verb before
 * it) loads, and what `run` loads before it is ready (fastify, prom-client). pino stays
 * out: its transports run a worker thread from its own files.
 */
const BUNDLED_ROOTS = ['zod', 'commander', 'smol-toml', 'croner', 'jsonata', 'fastify', 'prom-client'];
const NEVER_BUNDLED = new Set(['pino', 'pino-pretty', 'thread-stream']);

/** The installed package.json of `name` as Node would find it from `dir` (exports need not list it). */
function manifestOf(name: string, dir: string): string {
  for (let at = dir; ; at = dirname(at)) {
    const file = join(at, 'node_modules', name, 'package.json');
    if (existsSync(file)) return file;
    if (dirname(at) === at) throw new Error(`${name} is not installed (looked up from ${dir})`);
  }
}

/** The roots and every package they depend on (as installed), but the never-bundled ones. */
function dependencyClosure(roots: string[]): string[] {
  const seen = new Set<string>();
  const visit = (name: string, fromDir: string) => {
    if (seen.has(name) || NEVER_BUNDLED.has(name)) return;
    seen.add(name);
    const manifest = manifestOf(name, fromDir);
    const { dependencies } = JSON.parse(readFileSync(manifest, 'utf8')) as { dependencies?: Record<string, string> };
    for (const dep of Object.keys(dependencies ?? {})) visit(dep, dirname(manifest));
  };
  for (const root of roots) visit(root, fileURLToPath(new URL('..', import.meta.url)));
  return [...seen].sort();
}

export const BUNDLED = dependencyClosure(BUNDLED_ROOTS);

const NAMED_BUILTIN_IMPORT = /^import \{([^}]*)\} from "(node:[a-z0-9_/]+)";$/gm;

/**
 * `import { request } from "node:http"` becomes `const { request } = require("node:http")`.
 * Why: Node builds an ES module facade for a builtin by reading every one of its exports,
 * and node:http's and node:crypto's include lazy getters (fetch's undici, WebCrypto) that
 * then load: a quarter of `validate`'s CPU for modules it never uses. require() reads only
 * the names asked for. Builtins have no live bindings to lose; node:module stays an import.
 */
export function builtinsByRequire(): Plugin {
  return {
    name: 'waymond-builtins-by-require',
    renderChunk(code) {
      let changed = false;
      const out = code.replace(NAMED_BUILTIN_IMPORT, (line, names: string, id: string) => {
        if (id === 'node:module') return line;
        changed = true;
        const fields = names
          .split(',')
          .map((name) => name.trim())
          .filter(Boolean)
          .map((name) => name.replace(/^(\S+) as (\S+)$/, '$1: $2'));
        return `const { ${fields.join(', ')} } = __waymondRequire("${id}");`;
      });
      if (!changed) return null;
      const header = `import { createRequire as __waymondCreateRequire } from "node:module";\nconst __waymondRequire = __waymondCreateRequire(import.meta.url);\n`;
      // After a hashbang, if any; the rewritten lines stay where the imports were.
      const hashbang = out.startsWith('#!') ? out.slice(0, out.indexOf('\n') + 1) : '';
      return { code: hashbang + header + out.slice(hashbang.length), map: null };
    },
  };
}

export default defineConfig({
  plugins: [builtinsByRequire()],
  root: fileURLToPath(new URL('..', import.meta.url)),
  logLevel: 'warn',
  build: {
    ssr: 'src/cli/waymond.ts',
    // dist/bundle/ sits where dist/cli/ does, so the paths the sources resolve from their own
    // file (../../package.json, ../web/) mean the same there.
    outDir: 'dist/bundle',
    emptyOutDir: true,
    target: 'node22',
    minify: false,
    sourcemap: false,
    reportCompressedSize: false,
    rollupOptions: {
      output: { format: 'es', entryFileNames: 'waymond.js', chunkFileNames: '[name]-[hash].js' },
    },
  },
  ssr: {
    target: 'node',
    noExternal: BUNDLED,
    external: [...builtinModules, ...builtinModules.map((name) => `node:${name}`)],
  },
});
