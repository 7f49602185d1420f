import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Boots under TCG take tens of seconds; suites that need one set their own timeouts.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // e2e suites share one booted machine per file and must not run beside each other on 2 cores.
    fileParallelism: true,
    pool: 'forks',
  },
});
