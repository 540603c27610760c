#!/usr/bin/env node
/**
 * The installed `waymond` (package.json `bin`, bundled by `npm run build` into
 * dist/bundle/waymond.js): the Node version check, then V8's compile cache, then the CLI.
 * The cache (Node's own, in the OS temp dir; NODE_DISABLE_COMPILE_CACHE=1 turns it off)
 * lets every later start skip compiling the bundle. main.ts is imported, not a static
 * dependency, so the cache is on before any of it is read.
 */
import './node-runtime.js';
import nodeModule from 'node:module';

// A default import: Node 20 has no such export, and must still reach node-runtime's message.
nodeModule.enableCompileCache?.();
await import('./main.js');
