import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests share real services (ports, Docker engine); two workers keep a 2-core box responsive.
    maxWorkers: 2,
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
