import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests share real services (ports, Docker engine); two workers keep a 2-core box responsive.
    maxWorkers: 2,
    // Integration tests run against real services on a loaded 2-core machine; in CI one
    // retry absorbs a rare scheduling hiccup (a test that fails twice still fails).
    retry: process.env.CI ? 1 : 0,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
