// Builds the `simulate` report's charts (web/src/report.ts, uPlot and its CSS) into
// dist/web-report/report.js and report.css, which src/sim/html.ts inlines into each report.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../dist/web-report', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
    lib: {
      entry: fileURLToPath(new URL('src/report.ts', import.meta.url)),
      formats: ['iife'],
      name: 'waymondReport',
      fileName: () => 'report.js',
      cssFileName: 'report',
    },
  },
});
